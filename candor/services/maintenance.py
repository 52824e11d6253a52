"""Housekeeping: drop stored files that no row refers to, and the maintenance step that runs the
retention period and that collection.

Uploads and outputs reach the file store before the row that names them commits (that order is
what makes publishing atomic), so a rolled-back request or a fenced-off worker can leave an
unreferenced file behind; so can an erasure or a retention run whose process died between its
commit and deleting its files. They are harmless (nothing links to them) and collected here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select, union
from sqlalchemy.orm import Session, sessionmaker

from candor.services.common import EventLog
from candor.store.filestore import FileStore
from candor.store.models import Asset, Consent, Generation, Portrait

logger = logging.getLogger("candor.maintenance")


def referenced_files(*, session: Session) -> set[str]:
    """Every sha256 some row refers to (consent evidence and references, portraits, assets, outputs)."""
    query = union(
        select(Consent.evidence_document_sha256.label("sha")),
        select(Consent.evidence_recording_sha256),
        select(Consent.reference_sha256),
        select(Portrait.image_sha256),
        select(Asset.sha256),
        select(Generation.output_sha256),
    )
    return {sha for sha in session.scalars(select(query.subquery().c.sha)) if sha}


def collect_garbage(*, session: Session, files: FileStore, older_than_s: float = 24 * 3600.0) -> int:
    """Delete stored files no row refers to and older than ``older_than_s`` seconds (younger ones
    may belong to a request still in flight); also sweeps stale temp files. Returns files removed."""
    keep = referenced_files(session=session)
    cutoff = time.time() - older_than_s
    removed = sum(files.delete(sha) for sha, modified in list(files.stored()) if sha not in keep and modified <= cutoff)
    return removed + files.sweep_temp(older_than_s=older_than_s)


def delete_unreferenced(
    *, session: Session, files: FileStore, candidates: Iterable[str], written_before: float | None = None
) -> int:
    """Delete those of ``candidates`` (sha256 names) that no row refers to any more, now (a commit
    just removed the rows naming them); returns how many files were removed. ``written_before``
    (unix seconds): spare a file stored again since then, which a request in flight may be about to
    name (same bytes uploaded anew); the garbage collection takes it later if nothing does."""
    wanted = {sha for sha in candidates if sha}
    if not wanted:
        return 0
    keep = referenced_files(session=session)
    session.commit()  # end the read transaction
    removed = 0
    for sha in sorted(wanted - keep):
        if written_before is not None and (files.modified_at(sha) or 0.0) > written_before:
            continue
        removed += files.delete(sha)
    return removed


@dataclass(frozen=True)
class MaintenanceReport:
    expired: list[str]  # generations whose output the retention period removed
    files_removed: int  # unreferenced files collected


def run_maintenance(
    *,
    session: Session,
    log: EventLog,
    files: FileStore,
    retention_days: float | None,
    garbage_older_than_s: float = 24 * 3600.0,
) -> MaintenanceReport:
    """One maintenance pass: expire outputs past ``retention_days`` (None: keep them), then collect
    unreferenced files older than ``garbage_older_than_s``."""
    from candor.services.erasure import expire_outputs

    expired = (
        []
        if retention_days is None
        else expire_outputs(session=session, log=log, files=files, retention_days=retention_days)
    )
    removed = collect_garbage(session=session, files=files, older_than_s=garbage_older_than_s)
    return MaintenanceReport(expired=expired, files_removed=removed)


class MaintenanceThread:
    """Runs :func:`run_maintenance` every ``interval_s`` seconds on a daemon thread beside the job
    workers (``candor serve``); a failed pass is logged and retried at the next interval."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        log: EventLog,
        files: FileStore,
        *,
        retention_days: float | None,
        interval_s: float = 3600.0,
        on_pass: Callable[[MaintenanceReport], None] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.log = log
        self.files = files
        self.retention_days = retention_days
        self.interval_s = interval_s
        self.on_pass = on_pass
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="candor-maintenance", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self.session_factory() as session:
                    report = run_maintenance(
                        session=session, log=self.log, files=self.files, retention_days=self.retention_days
                    )
                if self.on_pass is not None:
                    self.on_pass(report)
            except Exception:  # a database outage must not end maintenance for the process's life
                logger.exception("maintenance pass failed")
            self._stop.wait(self.interval_s)
