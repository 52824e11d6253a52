"""The service's storage: SQLAlchemy models, sessions, the content-addressed file store, durable
jobs and the keyword-only service functions the API and CLI compose. Import submodules directly."""
