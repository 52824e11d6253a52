"""Offline tooling: corpus builders, dataset makers and trainers.

Nothing the service imports at run time lives here (the import-direction test holds that): the
CLI's `corpus`, `train` and `detector dataset|train|eval` commands and the benchmarks call it,
and it composes the runtime libraries (generator, detector, provenance) like any other caller.
"""
