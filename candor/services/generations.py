"""Generation requests: policy decision, idempotency, quota reservation and the log entry, all in
the caller's one transaction; reads scoped to the partner that owns them."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from candor.errors import Conflict, ConsentRevoked, Gone, InvalidInput, NotFound, QuotaExceeded
from candor.generator.controls import CONTROL_NAMES, DEFAULT_FPS, Controls
from candor.policy import (
    ConsentFacts,
    GenerationFacts,
    PartnerFacts,
    Policy,
    PortraitFacts,
    QuotaFacts,
    RequestFacts,
    evaluate,
)
from candor.services.common import EventLog, get_owned
from candor.services.consents import MAX_AUDIO_BYTES, add_audio_asset, measure_audio
from candor.services.quota import month_of, quota_limit, quota_used, reserve_quota
from candor.store.filestore import suffix_for
from candor.store.models import (
    Asset,
    Consent,
    Generation,
    IdempotencyRecord,
    Partner,
    Portrait,
    new_id,
    utcnow,
)

if TYPE_CHECKING:
    from candor.store.filestore import FileStore

MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class NewAudio:
    """Speech uploaded with a generation request: stored with it, or not at all."""

    files: FileStore
    data: bytes
    media_type: str
    max_seconds: float


@dataclass(frozen=True)
class GenerationRequest:
    """What a partner asks for. ``controls``: gaze_yaw, gaze_pitch (degrees), distance (x default
    framing), emotion, intensity (0-1). ``use`` defaults to the partner's use case. ``watermark`` and
    ``credentials`` exist only so a request that asks to drop them is denied by name."""

    consent_id: str
    portrait_id: str
    audio_asset_id: str
    controls: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    fps: int = DEFAULT_FPS
    width: int = 512
    height: int = 512
    use: str | None = None
    idempotency_key: str | None = None
    webhook_url: str | None = None
    watermark: bool = True
    credentials: bool = True

    def fingerprint(self, audio_sha256: str | None = None) -> str:
        """SHA-256 of the canonical request body (the idempotency key itself excluded). With
        ``audio_sha256`` the audio counts by content, so a retry that re-uploads the same clip
        (a new asset id) is still the same request."""
        body = asdict(self)
        body.pop("idempotency_key")
        if audio_sha256 is not None:
            body["audio_asset_id"] = f"sha256:{audio_sha256}"
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class GenerationOutcome:
    """``replayed``: the Idempotency-Key matched an earlier identical request; nothing new was made."""

    generation: Generation
    replayed: bool
    decision: dict[str, Any] | None = None


def _validate(request: GenerationRequest) -> dict[str, Any]:
    if not isinstance(request.controls, dict):
        raise InvalidInput("controls must be an object")
    allowed = set(CONTROL_NAMES)
    unknown = set(request.controls) - allowed
    if unknown:
        raise InvalidInput(f"unknown control(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    try:
        controls = Controls(**request.controls)
    except TypeError as exc:
        raise InvalidInput(f"invalid controls: {exc}") from None
    if not isinstance(request.seed, int) or not 0 <= request.seed <= MAX_SEED:
        raise InvalidInput(f"seed must be an integer within 0-{MAX_SEED}")
    if request.idempotency_key is not None and not 1 <= len(request.idempotency_key) <= 200:
        raise InvalidInput("Idempotency-Key must be 1-200 characters")
    if request.webhook_url is not None:
        parts = urlsplit(request.webhook_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname or len(request.webhook_url) > 2000:
            raise InvalidInput("webhook_url must be an absolute http(s) URL")
    return asdict(controls)


def _replay(
    session: Session, partner: Partner, request: GenerationRequest, fingerprint: str
) -> GenerationOutcome | None:
    if request.idempotency_key is None:
        return None
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.partner_id == partner.id, IdempotencyRecord.key == request.idempotency_key
        )
    )
    if record is None:
        return None
    if record.request_sha256 != fingerprint:
        raise Conflict("this Idempotency-Key was already used with a different request body")
    return GenerationOutcome(session.get(Generation, record.generation_id), replayed=True)  # type: ignore[arg-type]


def policy_facts(
    partner: Partner,
    consent: Consent,
    portrait: Portrait,
    request: GenerationRequest,
    duration_s: float,
    used_s: float,
    limit_s: float,
    now: datetime,
) -> GenerationFacts:
    return GenerationFacts(
        partner=PartnerFacts(partner.id, partner.state, partner.use_case),
        consent=ConsentFacts(
            id=consent.id,
            partner_id=consent.partner_id,
            subject_is_adult=consent.subject_is_adult,
            guardian_consent=consent.guardian_consent,
            guardian_name=consent.guardian_name,
            allowed_uses=tuple(consent.allowed_uses),
            expires_at=consent.expires_at,
            revoked_at=consent.revoked_at,
            has_evidence=consent.has_evidence,
        ),
        portrait=PortraitFacts(portrait.id, portrait.consent_id, portrait.partner_id, portrait.identity_distance),
        request=RequestFacts(
            use=(request.use or partner.use_case).strip().lower(),
            duration_s=duration_s,
            fps=request.fps,
            width=request.width,
            height=request.height,
            watermark=request.watermark,
            credentials=request.credentials,
        ),
        quota=QuotaFacts(used_s=used_s, limit_s=limit_s),
        now=now,
    )


def create_generation(
    *,
    session: Session,
    log: EventLog,
    partner: Partner,
    request: GenerationRequest,
    policy: Policy,
    audio: NewAudio | None = None,
    api_key_id: str | None = None,
    now: datetime | None = None,
) -> GenerationOutcome:
    """Decide and, if allowed, enqueue a generation (status ``queued``) and commit; the caller then
    calls ``queue.submit(outcome.generation.id)``. ``audio``: the speech uploaded with the request
    (instead of ``request.audio_asset_id``), stored in the same unit of work. ``api_key_id``: the
    key that asked (revoking it stops the job).

    Raises NotFound (consent/portrait/asset absent or another partner's), InvalidInput (bad
    controls/seed/URL), Conflict (key reused with another body), PolicyDenied and its subclasses
    (the first failed rule). A denial is logged with every check and COMMITTED before it raises,
    so refused requests stay on the record.
    """
    now = now or utcnow()
    controls = _validate(request)
    staged: Path | None = None
    try:
        if audio is not None:
            # Decoded from a staged copy, stored only once the request is allowed: a refused
            # request (unknown consent, policy denial, replay) leaves no file and no asset row.
            staged = audio.files.stage(
                io.BytesIO(audio.data), MAX_AUDIO_BYTES, suffix=suffix_for(audio.media_type, ".bin")
            )
            audio_sha256, duration_s = hashlib.sha256(audio.data).hexdigest(), measure_audio(staged, audio.max_seconds)
        else:
            asset = get_owned(session, Asset, partner, request.audio_asset_id, "audio asset")
            audio_sha256, duration_s = asset.sha256, asset.duration_s
        return _decide_and_enqueue(
            session, log, partner, request, policy, controls, audio, audio_sha256, duration_s, now, api_key_id
        )
    finally:
        if staged is not None:
            staged.unlink(missing_ok=True)


def _decide_and_enqueue(
    session: Session,
    log: EventLog,
    partner: Partner,
    request: GenerationRequest,
    policy: Policy,
    controls: dict[str, Any],
    audio: NewAudio | None,
    audio_sha256: str,
    duration_s: float,
    now: datetime,
    api_key_id: str | None,
) -> GenerationOutcome:
    fingerprint = request.fingerprint(audio_sha256)
    replay = _replay(session, partner, request, fingerprint)
    if replay is not None:
        return replay
    consent = get_owned(session, Consent, partner, request.consent_id, "consent")
    portrait = get_owned(session, Portrait, partner, request.portrait_id, "portrait")
    month = month_of(now)
    limit_s = quota_limit(partner, policy)
    used_s = quota_used(session=session, partner_id=partner.id, month=month)
    facts = policy_facts(partner, consent, portrait, request, duration_s, used_s, limit_s, now)
    decision = evaluate(facts, policy)
    summary = {
        "consent": consent.id,
        "portrait": portrait.id,
        "audio_sha256": audio_sha256,
        "duration_s": round(duration_s, 3),
        "fps": request.fps,
        "use": facts.request.use,
    }
    if decision.allowed and not reserve_quota(session, partner.id, month, duration_s, limit_s):
        # Lost a race with a concurrent request between reading usage and reserving it.
        session.rollback()
        record_denial(session, log, partner, summary, decision.as_dict(), "quota.remaining")
        raise QuotaExceeded(f"denied by policy rule quota.remaining: monthly quota of {limit_s:.0f} s used up")
    if not decision.allowed:
        record_denial(session, log, partner, summary, decision.as_dict(), decision.rule_id)
        decision.raise_if_denied()
    if audio is not None:
        asset = add_audio_asset(session=session, files=audio.files, partner=partner, data=audio.data,
                                media_type=audio.media_type, duration_s=duration_s)  # fmt: skip
        request = replace(request, audio_asset_id=asset.id)

    generation = Generation(
        id=new_id("gen"),
        partner_id=partner.id,
        api_key_id=api_key_id,
        consent_id=consent.id,
        portrait_id=portrait.id,
        audio_asset_id=request.audio_asset_id,
        controls=controls,
        seed=request.seed,
        fps=request.fps,
        width=request.width,
        height=request.height,
        use=facts.request.use,
        status="queued",
        duration_s=duration_s,
        idempotency_key=request.idempotency_key,
        webhook_url=request.webhook_url,
        policy_checks=[c.as_dict() for c in decision.checks],
        created_at=now,
    )
    session.add(generation)
    if request.idempotency_key is not None:
        session.add(
            IdempotencyRecord(
                partner_id=partner.id,
                key=request.idempotency_key,
                request_sha256=fingerprint,
                generation_id=generation.id,
                created_at=now,
            )
        )
    try:
        session.flush()
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as it did.
        session.rollback()
        replay = _replay(session, partner, request, fingerprint)
        if replay is None:
            raise
        return replay
    log.append_in(
        session,
        "generation.requested",
        actor=partner.id,
        subject=generation.id,
        details={**summary, "seed": request.seed, "checks": [c.rule_id for c in decision.checks]},
    )
    session.commit()
    return GenerationOutcome(generation, replayed=False, decision=decision.as_dict())


def record_denial(
    session: Session,
    log: EventLog,
    partner: Partner,
    summary: dict[str, Any],
    decision: dict[str, Any],
    rule_id: str,
) -> None:
    log.append_in(
        session,
        "generation.denied",
        actor=partner.id,
        subject=summary["consent"],
        details={**summary, "rule_id": rule_id, "checks": decision["checks"]},
    )
    session.commit()


def get_generation(*, session: Session, partner: Partner, generation_id: str) -> Generation:
    """One indexed lookup; another partner's generation is NotFound."""
    return get_owned(session, Generation, partner, generation_id, "generation")


def list_generations(
    *, session: Session, partner: Partner, limit: int = 50, before: datetime | None = None
) -> list[Generation]:
    """Newest first; page with ``before`` = the last item's created_at."""
    query = select(Generation).where(Generation.partner_id == partner.id)
    if before is not None:
        query = query.where(Generation.created_at < before)
    query = query.order_by(Generation.created_at.desc()).limit(max(1, min(limit, 200)))
    return list(session.scalars(query))


def record_download(
    *, session: Session, log: EventLog, files: FileStore, partner: Partner, generation_id: str
) -> Generation:
    """Count and log a download of a finished video; commits. Conflict while it is not ``succeeded``;
    Gone once the retention period removed it (status ``expired``);
    ConsentRevoked once the depicted person has withdrawn consent (no new copies leave); NotFound
    if its file is gone (nothing is logged then)."""
    generation = get_generation(session=session, partner=partner, generation_id=generation_id)
    if generation.status == "expired":
        expired = generation.expired_at.isoformat() if generation.expired_at else "earlier"
        raise Gone(f"generation {generation.id}'s video was removed at {expired} after the retention period")
    if generation.status != "succeeded" or generation.output_sha256 is None:
        raise Conflict(f"generation {generation.id} is {generation.status}; its video is not available")
    consent = session.get(Consent, generation.consent_id)
    if consent is not None and consent.revoked_at is not None:
        raise ConsentRevoked(f"consent {consent.id} was revoked; its videos can no longer be downloaded")
    if not files.exists(generation.output_sha256):  # NotFound before anything is recorded
        raise NotFound(f"no stored file {generation.output_sha256}")
    session.execute(
        update(Generation)
        .where(Generation.id == generation.id)
        .values(downloaded_count=Generation.downloaded_count + 1)
    )
    log.append_in(
        session,
        "generation.downloaded",
        actor=partner.id,
        subject=generation.id,
        details={"output_sha256": generation.output_sha256, "manifest_id": generation.manifest_id},
    )
    session.commit()
    return generation
