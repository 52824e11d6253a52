"""What running one generation job means: re-check the consent, hand the inputs to a handler, and
publish its output, fenced on the lease.

The queue (:mod:`candor.services.jobs`) decides *which* job runs and keeps its lease; this module
decides what a job is: its context (inputs linked into a private work folder under their real
extensions), the production handler (the release path, :class:`GenerationWorker`), and publishing
(rename into the content-addressed store, then commit ``succeeded`` and the log entry in one
transaction, only while the lease is still ours and the consent still stands).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from candor.errors import CandorError
from candor.services.consents import ensure_consent_active
from candor.services.release import record_release
from candor.store.filestore import FileStore, StoredFile, suffix_for
from candor.store.models import ApiKey, Asset, Consent, Generation, Partner, Portrait, utcnow

if TYPE_CHECKING:
    from candor.services.common import EventLog
    from candor.services.release import Releaser

logger = logging.getLogger("candor.jobs")


class JobStopped(Exception):
    """Raised into a running handler (through its progress callback) when its job was stopped:
    cancelled, its partner suspended, its key or consent revoked, or its lease lost."""


def gate_refusal(session: Session, generation: Generation, *, lock: bool = False) -> str | None:
    """Why this job may not be published now (its partner is not approved, the key that requested
    it was revoked, its consent was revoked or expired), or None. ``lock``: hold shared row locks
    on the partner, key and consent (PostgreSQL) until the transaction ends, so a suspension or
    revocation cannot commit between this check and the publish that depends on it."""

    def fresh(model: type[Any], ident: str) -> Any:
        query = select(model).where(model.id == ident).execution_options(populate_existing=True)
        return session.scalar(query.with_for_update(read=True) if lock else query)

    partner = fresh(Partner, generation.partner_id)
    if partner is None or partner.state != "approved":
        return f"partner is {partner.state if partner else 'gone'}"
    if generation.api_key_id is not None:
        # Columns only: the key's joined partner cannot be share-locked through an outer join.
        query = select(ApiKey.id, ApiKey.revoked_at).where(ApiKey.id == generation.api_key_id)
        key = session.execute(query.with_for_update(read=True) if lock else query).first()
        if key is None or key.revoked_at is not None:
            return "the API key that requested it was revoked"
    consent = fresh(Consent, generation.consent_id)
    if consent is None:
        return "its consent was erased"
    try:
        ensure_consent_active(consent, utcnow())
    except CandorError as exc:
        return exc.detail
    return None


@dataclass(frozen=True)
class JobContext:
    """Everything a handler needs; it writes the video to ``out_path`` (a temp file it owns)."""

    generation_id: str
    partner_id: str
    consent_id: str
    portrait_path: Path
    audio_path: Path
    out_path: Path
    controls: dict[str, Any]
    seed: int
    fps: int
    width: int
    height: int
    duration_s: float
    serial: int | None
    progress: Callable[[float], None]


@dataclass(frozen=True)
class JobOutput:
    path: Path  # the finished file (normally ctx.out_path)
    manifest_id: str | None = None
    serial: int | None = None
    duration_s: float | None = None


JobHandler = Callable[[JobContext], JobOutput]


class GenerationWorker:
    """The production handler: portrait + audio + controls -> watermarked, C2PA-signed MP4 through
    the container's release path."""

    def __init__(self, releaser: Releaser, *, max_audio_seconds: float, max_image_megapixels: float) -> None:
        self.releaser = releaser
        self.max_audio_seconds = max_audio_seconds
        self.max_image_megapixels = max_image_megapixels

    def __call__(self, ctx: JobContext) -> JobOutput:
        from candor.generator.controls import Controls
        from candor.generator.motion_generator import DEFAULT_CHECKPOINT

        releaser = self.releaser
        controls = Controls(**ctx.controls)
        claim = releaser.claim(
            generation_id=ctx.generation_id,
            partner_id=ctx.partner_id,
            consent_id=ctx.consent_id,
            controls=controls.as_record(seed=ctx.seed, fps=ctx.fps),
            checkpoint=DEFAULT_CHECKPOINT,
        )
        result = releaser.release_generation(
            portrait_path=ctx.portrait_path,
            audio_path=ctx.audio_path,
            out_path=ctx.out_path,
            controls=controls,
            seed=ctx.seed,
            fps=ctx.fps,
            claim=claim,
            max_audio_seconds=self.max_audio_seconds,
            max_image_megapixels=self.max_image_megapixels,
            serial=ctx.serial,
            progress=ctx.progress,
        )
        return JobOutput(
            path=Path(result.output_path),
            manifest_id=result.manifest_id,
            serial=result.serial,
            duration_s=result.duration_s,
        )


def prepare_job(session: Session, generation: Generation, files: FileStore) -> JobContext:
    """The job's context, after re-checking its consent (CandorError when it no longer stands or an
    input file is missing). The inputs are fetched into a private work folder (linked from a local
    store, downloaded from an object store) under their real extensions (decoders and MIME guessing
    look at suffixes; store names have none) with the output beside them; the caller removes the
    folder (``ctx.out_path.parent``)."""
    consent = session.get(Consent, generation.consent_id)
    if consent is not None:  # an erased one is refused by the gate below
        ensure_consent_active(consent)
    refusal = gate_refusal(session, generation)
    if refusal is not None:
        raise JobStopped(refusal)
    portrait = session.get(Portrait, generation.portrait_id)
    audio = session.get(Asset, generation.audio_asset_id)
    assert portrait is not None and audio is not None
    work = files.work_dir(f"job-{generation.id}-")
    try:
        # A local store links them (no copy); an object store downloads them to this host.
        portrait_path = files.fetch(portrait.image_sha256, work / f"portrait{suffix_for(portrait.media_type)}")
        audio_path = files.fetch(audio.sha256, work / f"audio{suffix_for(audio.media_type)}")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return JobContext(
        generation_id=generation.id,
        partner_id=generation.partner_id,
        consent_id=generation.consent_id,
        portrait_path=portrait_path,
        audio_path=audio_path,
        out_path=work / "output.mp4",
        controls=dict(generation.controls),
        seed=generation.seed,
        fps=generation.fps,
        width=generation.width,
        height=generation.height,
        duration_s=generation.duration_s,
        serial=generation.watermark_serial,
        progress=lambda _fraction: None,
    )


def _discard(session_factory: sessionmaker[Session], files: FileStore, stored: StoredFile) -> None:
    """Remove a refused output from the store unless a published generation holds the same bytes."""
    with session_factory() as session:
        if session.scalar(select(Generation.id).where(Generation.output_sha256 == stored.sha256).limit(1)) is None:
            files.delete(stored.sha256)


def publish_job(
    session_factory: sessionmaker[Session],
    files: FileStore,
    log: EventLog | None,
    generation_id: str,
    output: JobOutput,
    *,
    owner: str,
) -> str | None:
    """Rename the finished file into the store, then commit ``succeeded`` (and the release's log
    entry) if ``owner`` still holds the lease and the gate still stands: partner approved, the
    requesting key not revoked, the consent active, checked in the same transaction. Returns why
    the job must fail instead (the video is never released and its file is removed), or None."""
    stored = files.put_file(output.path, move=True)
    with session_factory() as session:
        generation = session.get(Generation, generation_id)
        if generation is None:  # erased with its consent while it rendered
            session.rollback()
            _discard(session_factory, files, stored)
            return "its consent was erased"
        # PostgreSQL: the shared locks taken here make a concurrent suspension/revocation wait for
        # this commit (or win before it). SQLite: the UPDATE takes the write lock, so the second
        # check below sees every revocation committed before it.
        refusal = gate_refusal(session, generation, lock=True)
        if refusal is None:
            result = session.execute(
                update(Generation)
                .where(Generation.id == generation_id, Generation.lease_owner == owner, Generation.status == "running")
                .values(
                    status="succeeded",
                    progress=1.0,
                    output_sha256=stored.sha256,
                    output_size_bytes=stored.size,
                    manifest_id=output.manifest_id,
                    watermark_serial=output.serial,
                    finished_at=utcnow(),
                    lease_owner=None,
                    lease_expires_at=None,
                    error=None,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                # Cancelled, stopped, or re-claimed after our lease ran out: not ours to publish.
                session.rollback()
                logger.warning("lost the lease on %s before publishing; not published", generation_id)
                status = session.scalar(select(Generation.status).where(Generation.id == generation_id))
                if status not in ("queued", "running"):  # else another attempt may publish these bytes
                    _discard(session_factory, files, stored)
                return None
            refusal = gate_refusal(session, generation)
        if refusal is not None:
            session.rollback()
            _discard(session_factory, files, stored)
            return refusal
        if log is not None:
            record_release(
                log,
                session=session,
                actor="worker",
                generation_id=generation_id,
                sha256=stored.sha256,
                manifest_id=output.manifest_id,
                serial=output.serial,
            )
        session.commit()
    return None
