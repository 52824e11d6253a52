"""Likeness consent records, the portraits enrolled under them, and uploaded audio assets.

Each write is one unit of work: it adds its rows and its log entry and commits them together.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from candor.errors import (
    Conflict,
    ConsentExpired,
    ConsentReferenceRequired,
    ConsentRevoked,
    ImageTooLarge,
    InvalidImage,
    InvalidInput,
    PayloadTooLarge,
)
from candor.generator.controls import SAMPLE_RATE
from candor.policy import Policy, load_policy
from candor.services.common import EventLog, get_owned, require_aware
from candor.services.evidence import (
    DOCUMENT_TYPES,
    RECORDING_TYPES,
    check_evidence,
    read_bounded,
)
from candor.services.likeness import analyze_portrait, match_reference, read_reference, store_reference
from candor.store.filestore import FileStore, suffix_for
from candor.store.models import Asset, Consent, Generation, Partner, Portrait, utcnow

MAX_EVIDENCE_DOCUMENT_BYTES = 20 << 20
MAX_EVIDENCE_RECORDING_BYTES = 200 << 20
MAX_PORTRAIT_BYTES = 20 << 20
MAX_AUDIO_BYTES = 50 << 20

Upload = bytes | BinaryIO


def _as_stream(data: Upload) -> BinaryIO:
    return io.BytesIO(data) if isinstance(data, bytes | bytearray) else data


def create_consent(
    *,
    session: Session,
    log: EventLog,
    files: FileStore,
    partner: Partner,
    subject_name: str,
    subject_is_adult: bool,
    allowed_uses: Iterable[str],
    expires_at: datetime | None = None,
    guardian_name: str | None = None,
    guardian_consent: bool = False,
    evidence_document: Upload | None = None,
    evidence_document_type: str | None = None,
    evidence_recording: Upload | None = None,
    evidence_recording_type: str | None = None,
    reference: Upload | None = None,
    reference_type: str | None = None,
    max_megapixels: float = 50.0,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> Consent:
    """Record a person's consent to be animated, with its evidence stored in the file store.

    ``expires_at`` defaults to (and may not exceed) now + policy.consent_max_validity_days.
    A minor needs ``guardian_consent`` and a ``guardian_name``. Evidence files are capped at
    20 MiB (document) and 200 MiB (recording); each must be non-empty, readable and of its
    declared type (InvalidEvidence 422 / EvidenceTypeMismatch 415). ``reference`` is a photo of
    the subject (exactly one face) or a short consent video of them: portraits enrolled later must
    match its face (see :func:`set_consent_reference`, which adds one to a consent without).
    """
    policy = policy or load_policy()
    now = now or utcnow()
    subject_name = (subject_name or "").strip()
    if not subject_name or len(subject_name) > 200:
        raise InvalidInput("subject name must be 1-200 characters")
    uses = sorted({u.strip().lower() for u in allowed_uses if u and u.strip()})
    if not uses:
        raise InvalidInput("allowed uses must name at least one use")
    unknown = [u for u in uses if u not in policy.allowed_use_cases]
    if unknown:
        raise InvalidInput(f"unknown use(s) {unknown}; policy allows {', '.join(policy.allowed_use_cases)}")
    latest = now + timedelta(days=policy.consent_max_validity_days)
    expires_at = latest if expires_at is None else require_aware(expires_at, "expires_at")
    if expires_at <= now:
        raise InvalidInput("expires_at must be in the future")
    if expires_at > latest:
        raise InvalidInput(f"consent may last at most {policy.consent_max_validity_days} days")
    guardian_name = (guardian_name or "").strip() or None
    if not subject_is_adult and not (guardian_consent and guardian_name):
        raise InvalidInput("a subject who is not an adult needs guardian consent and the guardian's name")
    if policy.require_evidence and evidence_document is None and evidence_recording is None:
        raise InvalidInput("consent needs evidence: a consent document and/or a consent recording")
    # Everything is checked before anything is stored: a refused consent leaves no file behind.
    document = recording = None
    if evidence_document is not None:
        document = read_bounded(evidence_document, MAX_EVIDENCE_DOCUMENT_BYTES, "evidence_document")
        evidence_document_type = check_evidence(document, evidence_document_type, DOCUMENT_TYPES, "evidence_document")
    if evidence_recording is not None:
        recording = read_bounded(evidence_recording, MAX_EVIDENCE_RECORDING_BYTES, "evidence_recording")
        evidence_recording_type = check_evidence(
            recording, evidence_recording_type, RECORDING_TYPES, "evidence_recording"
        )
    checked_reference = None
    if reference is not None:
        checked_reference = read_reference(reference, reference_type, files=files, max_megapixels=max_megapixels)

    consent = Consent(
        partner_id=partner.id,
        subject_name=subject_name,
        subject_is_adult=bool(subject_is_adult),
        guardian_name=guardian_name,
        guardian_consent=bool(guardian_consent),
        allowed_uses=uses,
        expires_at=expires_at,
        created_at=now,
    )
    if document is not None:
        stored = files.put_stream(io.BytesIO(document), MAX_EVIDENCE_DOCUMENT_BYTES)
        consent.evidence_document_sha256 = stored.sha256
        consent.evidence_document_type = evidence_document_type
    if recording is not None:
        stored = files.put_stream(io.BytesIO(recording), MAX_EVIDENCE_RECORDING_BYTES)
        consent.evidence_recording_sha256 = stored.sha256
        consent.evidence_recording_type = evidence_recording_type
    if checked_reference is not None:
        store_reference(consent, files, *checked_reference)
    session.add(consent)
    session.flush()
    # No names in the log: auditors see the decision trail, not who the people are.
    log.append_in(
        session,
        "consent.created",
        actor=partner.id,
        subject=consent.id,
        details={
            "allowed_uses": uses,
            "expires_at": expires_at.isoformat(),
            "subject_is_adult": consent.subject_is_adult,
            "guardian_consent": consent.guardian_consent,
            "evidence_document_sha256": consent.evidence_document_sha256,
            "evidence_recording_sha256": consent.evidence_recording_sha256,
            "reference_sha256": consent.reference_sha256,
        },
    )
    session.commit()
    return consent


def set_consent_reference(
    *,
    session: Session,
    log: EventLog,
    files: FileStore,
    partner: Partner,
    consent_id: str,
    image: Upload,
    media_type: str | None = None,
    max_megapixels: float = 50.0,
    now: datetime | None = None,
) -> Consent:
    """Give a consent recorded without one its subject's reference (photo or short video); commits.

    A reference is set once: replacing it would let any face be enrolled after the fact, so a
    consent that has one answers Conflict (409); record a new consent instead.
    """
    consent = get_consent(session=session, partner=partner, consent_id=consent_id)
    ensure_consent_active(consent, now)
    if consent.reference_sha256 is not None:
        raise Conflict(f"consent {consent.id} already has a reference; record a new consent to change it")
    store_reference(consent, files, *read_reference(image, media_type, files=files, max_megapixels=max_megapixels))
    session.flush()
    log.append_in(
        session,
        "consent.reference_added",
        actor=partner.id,
        subject=consent.id,
        details={"reference_sha256": consent.reference_sha256},
    )
    session.commit()
    return consent


def get_consent(*, session: Session, partner: Partner, consent_id: str) -> Consent:
    return get_owned(session, Consent, partner, consent_id, "consent")


def list_consents(
    *, session: Session, partner: Partner, limit: int = 100, before: datetime | None = None
) -> list[Consent]:
    """Newest first; page with ``before`` = the last item's created_at."""
    query = select(Consent).where(Consent.partner_id == partner.id)
    if before is not None:
        query = query.where(Consent.created_at < before)
    query = query.order_by(Consent.created_at.desc(), Consent.id.desc()).limit(max(1, min(limit, 1000)))
    return list(session.scalars(query))


def revoke_consent(
    *,
    session: Session,
    log: EventLog,
    partner: Partner,
    consent_id: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> Consent:
    """Revoke at once: later requests are denied, and generations still queued under this consent
    fail without running (a running one is refused before it is published). Idempotent."""
    from candor.services.quota import release_quota

    consent = get_consent(session=session, partner=partner, consent_id=consent_id)
    if consent.revoked_at is not None:
        return consent
    now = now or utcnow()
    consent.revoked_at = now
    consent.revocation_reason = (reason or "").strip()[:2000] or None
    queued = list(
        session.scalars(select(Generation).where(Generation.consent_id == consent.id, Generation.status == "queued"))
    )
    for generation in queued:
        release_quota(session=session, generation=generation)
    if queued:
        session.execute(
            update(Generation)
            .where(Generation.id.in_([g.id for g in queued]), Generation.status == "queued")
            .values(status="failed", error="consent revoked before the job started", finished_at=now)
        )
    session.flush()
    log.append_in(
        session,
        "consent.revoked",
        actor=partner.id,
        subject=consent.id,
        details={"reason": consent.revocation_reason, "cancelled_generations": [g.id for g in queued]},
    )
    session.commit()
    return consent


def ensure_consent_active(consent: Consent, now: datetime | None = None) -> None:
    """ConsentRevoked / ConsentExpired unless the consent can be used right now."""
    now = now or utcnow()
    if consent.revoked_at is not None and consent.revoked_at <= now:
        raise ConsentRevoked(f"consent {consent.id} was revoked at {consent.revoked_at.isoformat()}")
    if consent.expires_at <= now:
        raise ConsentExpired(f"consent {consent.id} expired at {consent.expires_at.isoformat()}")


def enroll_portrait(
    *,
    session: Session,
    log: EventLog,
    files: FileStore,
    partner: Partner,
    consent_id: str,
    image: Upload,
    media_type: str,
    face_summary: dict[str, Any] | None = None,
    max_megapixels: float = 50.0,
    now: datetime | None = None,
) -> Portrait:
    """Store an image of the consented person under an active consent record; commits.

    The face is analysed here (:func:`analyze_portrait`: exactly one face) after the consent is
    found, so another partner's consent answers NotFound before any analysis runs; a caller that
    analysed the image already passes its JSON-able ``face_summary``. A corrupt upload is
    InvalidImage. The face must match the consent's reference (identity distance below
    generator.identity.MATCH_THRESHOLD): ConsentReferenceRequired (409) without a reference,
    PortraitIdentityMismatch (403, logged as ``portrait.identity_mismatch``) for another face.
    """
    from PIL import Image, UnidentifiedImageError

    consent = get_consent(session=session, partner=partner, consent_id=consent_id)
    ensure_consent_active(consent, now)
    if consent.reference_embedding is None:
        raise ConsentReferenceRequired(
            f"consent {consent.id} has no reference of its subject; add one "
            f"(POST /v1/consents/{consent.id}/reference) before enrolling portraits"
        )
    data = bytes(image if isinstance(image, bytes | bytearray) else image.read())
    if face_summary is None:
        face_summary = analyze_portrait(data, max_megapixels=max_megapixels)
    if not isinstance(face_summary, dict):
        raise InvalidInput("face_summary must be a mapping")
    faces = face_summary.get("face_count", 1)
    if faces != 1:
        raise InvalidImage(f"a portrait must show exactly one face; found {faces}")
    if len(data) > MAX_PORTRAIT_BYTES:
        raise PayloadTooLarge(f"the portrait is larger than the {MAX_PORTRAIT_BYTES}-byte limit")
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > max_megapixels * 1e6:
                raise ImageTooLarge(f"image is {width}x{height}; limit {max_megapixels:g} megapixels")
            img.load()  # decode every pixel: truncated files fail here, not in a worker
            detected = Image.MIME.get(img.format or "", media_type)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage(f"cannot decode the portrait image: {exc}") from None
    distance = match_reference(
        session=session, log=log, partner=partner, consent=consent, image=data, face_summary=face_summary
    )
    stored = files.put_stream(io.BytesIO(data), MAX_PORTRAIT_BYTES)
    portrait = Portrait(
        consent_id=consent.id,
        partner_id=partner.id,
        image_sha256=stored.sha256,
        media_type=detected,
        width=width,
        height=height,
        face_summary=face_summary,
        identity_distance=round(distance, 4),
    )
    session.add(portrait)
    session.flush()
    log.append_in(
        session,
        "portrait.enrolled",
        actor=partner.id,
        subject=portrait.id,
        details={
            "consent": consent.id,
            "image_sha256": stored.sha256,
            "size": [width, height],
            "identity_distance": round(distance, 4),
        },
    )
    session.commit()
    return portrait


def get_portrait(*, session: Session, partner: Partner, portrait_id: str) -> Portrait:
    return get_owned(session, Portrait, partner, portrait_id, "portrait")


def list_portraits(*, session: Session, partner: Partner, consent_id: str) -> list[Portrait]:
    return list(get_consent(session=session, partner=partner, consent_id=consent_id).portraits)


def create_audio_asset(*, session: Session, **upload: Any) -> Asset:
    """Store an uploaded audio clip as a unit of work of its own: :func:`add_audio_asset` (same
    keywords), then commit."""
    asset = add_audio_asset(session=session, **upload)
    session.commit()
    return asset


def add_audio_asset(
    *,
    session: Session,
    files: FileStore,
    partner: Partner,
    data: Upload,
    media_type: str = "application/octet-stream",
    max_seconds: float = 120.0,
    max_bytes: int = MAX_AUDIO_BYTES,
    duration_s: float | None = None,
) -> Asset:
    """Store an uploaded audio clip after decoding it (InvalidAudio if corrupt, AudioTooLong past
    ``max_seconds``, PayloadTooLarge past ``max_bytes``) inside the caller's unit of work (a
    generation request that carries its audio stores both or neither); flushed, not committed.
    ``duration_s`` in seconds is measured here unless the caller already decoded the file."""
    path = files.stage(_as_stream(data), max_bytes, suffix=suffix_for(media_type, ".bin"))
    try:
        if duration_s is None:
            duration_s = measure_audio(path, max_seconds)
        stored = files.put_file(path, move=True)
    finally:
        path.unlink(missing_ok=True)
    asset = Asset(
        partner_id=partner.id,
        kind="audio",
        sha256=stored.sha256,
        media_type=media_type,
        size_bytes=stored.size,
        duration_s=float(duration_s),
        sample_rate=SAMPLE_RATE,  # what the generator decodes every clip to
    )
    session.add(asset)
    session.flush()
    return asset


def measure_audio(path: Path, max_seconds: float) -> float:
    """Seconds of audio in the uploaded file at ``path`` (InvalidAudio / AudioTooLong as the
    generator's loader raises them, naming "the uploaded audio" rather than our temp file)."""
    from candor.errors import InvalidAudio
    from candor.generator.audio import load_audio

    try:
        samples = load_audio(path, max_seconds=max_seconds)
    except InvalidAudio as exc:
        # The message names our temporary file; the partner knows it as their upload.
        detail = exc.detail.replace(str(path), "the uploaded audio").replace(path.name, "the uploaded audio")
        raise type(exc)(detail) from None
    return len(samples) / SAMPLE_RATE


def get_asset(*, session: Session, partner: Partner, asset_id: str) -> Asset:
    return get_owned(session, Asset, partner, asset_id, "asset")
