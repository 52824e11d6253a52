"""Readiness: can this process serve and run jobs now? The database answers, its schema is at the
packaged migration head (an old server beside a newer schema, or the reverse, is not ready), and
the file store answers (the bucket exists and the credentials work)."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from candor.errors import CandorError
from candor.store.filestore import FileStore

Check = Literal["ok", "unavailable", "behind", "ahead"]


def readiness(*, engine: Engine, files: FileStore) -> dict[str, str]:
    """``{"database": ..., "migrations": ..., "files": ...}``; each "ok" when ready, else why not:
    "unavailable", or for the migrations "behind" (run `candor db upgrade`) or "ahead" (this build is
    older than the schema)."""
    from candor.store.migrations import current_revision, head_revision

    checks: dict[str, str] = {"database": "ok", "migrations": "ok", "files": "ok"}
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revision(engine)
    except SQLAlchemyError:
        checks["database"] = checks["migrations"] = "unavailable"
    else:
        head = head_revision()
        if current != head:
            checks["migrations"] = "behind" if current is None or (head or "") > current else "ahead"
    try:
        files.ping()
    except (CandorError, OSError):
        checks["files"] = "unavailable"
    return checks
