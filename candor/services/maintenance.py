"""Housekeeping: drop stored files that no row refers to.

Uploads and outputs reach the file store before the row that names them commits (that order is
what makes publishing atomic), so a rolled-back request or a fenced-off worker can leave an
unreferenced file behind. They are harmless (nothing links to them) and collected here.
"""

from __future__ import annotations

import time

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from candor.store.filestore import FileStore
from candor.store.models import Asset, Consent, Generation, Portrait


def referenced_files(*, session: Session) -> set[str]:
    """Every sha256 some row refers to (consent evidence, portraits, assets, outputs)."""
    query = union(
        select(Consent.evidence_document_sha256.label("sha")),
        select(Consent.evidence_recording_sha256),
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
