"""Erasure of a data subject, and the retention period of outputs.

Erasing a consent removes everything Candor holds of its subject: the consent record (name,
guardian, evidence, reference face and its embedding), every portrait enrolled under it, the audio
clips only its generations used, every generation made with it (a queued or running one is stopped
first, so nothing is published afterwards) and their outputs. The stored C2PA manifests of those
generations lose their manifest store (its ingredients name the portrait and the audio); their index
stays, marked erased, so a watermark found later resolves to "erased" instead of to personal data.
One ``consent.erased`` tombstone goes on the generation log: ids and counts, no name, no hash of
any file.

Atomic: every row change and the tombstone commit in one transaction; the files go after the commit
(only those no remaining row names: the store is content-addressed, so two rows may share a file).
If the process dies in between, the rows are gone and :func:`candor.services.maintenance.collect_garbage`
removes the orphaned files.

Retention (:func:`expire_outputs`): outputs older than N days leave the database and the file store;
the generation row stays, with status ``expired``, and each removal is logged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from candor.errors import InvalidInput, NotFound
from candor.services.cancellation import stop_generations
from candor.services.common import EventLog
from candor.services.maintenance import delete_unreferenced
from candor.store.filestore import FileStore
from candor.store.models import (
    Asset,
    Consent,
    ErasedSubject,
    Generation,
    IdempotencyRecord,
    Partner,
    Portrait,
    StoredManifest,
    utcnow,
)

ERASED_EVENT = "consent.erased"
EXPIRED_EVENT = "generation.expired"


@dataclass(frozen=True)
class Erasure:
    """What one erasure removed. ``files_deleted`` counts stored files removed after the commit (a
    file another row still names stays); ``log_index`` is the tombstone's entry."""

    consent_id: str
    partner_id: str
    erased_at: datetime
    generations: list[str]
    stopped: list[str]
    portraits: int
    assets: int
    manifests: int
    files_deleted: int
    log_index: int


def _consent_for_erasure(session: Session, consent_id: str, partner: Partner | None) -> Consent:
    """The consent, row-locked (PostgreSQL) so a publish that share-locks it waits for the erasure
    and then finds it gone; another partner's is NotFound."""
    if not isinstance(consent_id, str) or not consent_id:
        raise NotFound(f"consent {consent_id} not found")
    query = select(Consent).where(Consent.id == consent_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    consent = session.scalar(query)
    if consent is None or (partner is not None and consent.partner_id != partner.id):
        raise NotFound(f"consent {consent_id} not found")
    return consent


def erase_consent(
    *,
    session: Session,
    log: EventLog,
    files: FileStore,
    consent_id: str,
    partner: Partner | None = None,
    actor: str,
    now: datetime | None = None,
) -> Erasure:
    """Erase a consent's subject (see the module docstring) and commit. ``partner``: only its own
    consents (NotFound otherwise); None for an operator, who names any consent by id. ``actor``: who
    asked (the partner id, or the operator), as the log records it."""
    now = now or utcnow()
    started = time.time()
    consent = _consent_for_erasure(session, consent_id, partner)
    partner_id = consent.partner_id
    # Queued and running jobs end first (quota back, a generation.stopped entry each); a worker
    # still rendering one is fenced off publishing and stops at its next heartbeat.
    stopped = stop_generations(
        session=session, log=log, reason="consent erased", actor=actor, consent_id=consent.id, now=now
    )
    generations = list(session.scalars(select(Generation).where(Generation.consent_id == consent.id)))
    generation_ids = [g.id for g in generations]
    portraits = list(session.scalars(select(Portrait).where(Portrait.consent_id == consent.id)))
    used_audio = {g.audio_asset_id for g in generations}
    shared_audio = set(
        session.scalars(
            select(Generation.audio_asset_id).where(
                Generation.audio_asset_id.in_(used_audio), Generation.consent_id != consent.id
            )
        )
    )
    assets = list(session.scalars(select(Asset).where(Asset.id.in_(used_audio - shared_audio))))
    candidates = {
        consent.evidence_document_sha256,
        consent.evidence_recording_sha256,
        consent.reference_sha256,
        *(p.image_sha256 for p in portraits),
        *(a.sha256 for a in assets),
        *(g.output_sha256 for g in generations),
    } - {None}

    manifests = session.execute(
        update(StoredManifest)
        .where(StoredManifest.generation_id.in_(generation_ids), StoredManifest.erased_at.is_(None))
        .values(manifest_store=b"", erased_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    for statement in (
        delete(IdempotencyRecord).where(IdempotencyRecord.generation_id.in_(generation_ids)),
        delete(Generation).where(Generation.id.in_(generation_ids)),
        delete(Portrait).where(Portrait.consent_id == consent.id),
        delete(Asset).where(Asset.id.in_([a.id for a in assets])),
        delete(Consent).where(Consent.id == consent.id),
    ):
        session.execute(statement.execution_options(synchronize_session=False))
    # The removed ids stay attributable to their partner (its audit view joins through them).
    removed = {consent.id, *generation_ids, *(p.id for p in portraits), *(a.id for a in assets)}
    session.add_all(ErasedSubject(subject_id=i, partner_id=partner_id, erased_at=now) for i in sorted(removed))
    session.expunge(consent)
    # The tombstone: ids (random, already in the log) and counts; no name, no file hash.
    entry = log.append_in(
        session,
        ERASED_EVENT,
        actor=actor,
        subject=consent.id,
        details={
            "partner": partner_id,
            "generations": generation_ids,
            "stopped": stopped,
            "portraits": len(portraits),
            "audio_assets": len(assets),
            "manifests_erased": manifests,
            "files": len(candidates),
        },
    )
    session.commit()
    deleted = delete_unreferenced(session=session, files=files, candidates=candidates, written_before=started)
    return Erasure(
        consent_id=consent.id,
        partner_id=partner_id,
        erased_at=now,
        generations=generation_ids,
        stopped=stopped,
        portraits=len(portraits),
        assets=len(assets),
        manifests=manifests,
        files_deleted=deleted,
        log_index=entry.index,
    )


def expire_outputs(
    *, session: Session, log: EventLog, files: FileStore, retention_days: float, now: datetime | None = None
) -> list[str]:
    """Remove the outputs of generations that finished more than ``retention_days`` ago: their rows
    become ``expired`` (output digest cleared, ``expired_at`` set, a ``generation.expired`` entry
    each) in one transaction, then their files leave the store. Returns the expired ids."""
    if retention_days <= 0:
        raise InvalidInput(f"a retention period must be positive, got {retention_days} days")
    now = now or utcnow()
    started = time.time()
    cutoff = now - timedelta(days=retention_days)
    rows = session.execute(
        select(Generation.id, Generation.output_sha256)
        .where(Generation.status == "succeeded", Generation.finished_at < cutoff)
        .order_by(Generation.finished_at)
    ).all()
    if not rows:
        return []
    expired = list(
        session.scalars(
            update(Generation)
            .where(Generation.id.in_([r.id for r in rows]), Generation.status == "succeeded")
            .values(status="expired", expired_at=now, output_sha256=None)
            .returning(Generation.id)
        )
    )
    for generation_id in expired:
        log.append_in(
            session, EXPIRED_EVENT, actor="retention", subject=generation_id, details={"retention_days": retention_days}
        )
    session.commit()
    outputs = {r.output_sha256 for r in rows if r.output_sha256}
    delete_unreferenced(session=session, files=files, candidates=outputs, written_before=started)
    return expired
