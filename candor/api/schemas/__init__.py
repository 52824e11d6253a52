"""Request and response schemas: ``XCreate`` in, ``XPublic`` out. A DB model never leaves the API."""
