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
    ConsentExpired,
    ConsentRevoked,
    ImageTooLarge,
    InvalidImage,
    InvalidInput,
    MultipleFaces,
)
from candor.generator.controls import SAMPLE_RATE
from candor.policy import Policy, load_policy
from candor.services.common import EventLog, get_owned, require_aware
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
    policy: Policy | None = None,
    now: datetime | None = None,
) -> Consent:
    """Record a person's consent to be animated, with its evidence stored in the file store.

    ``expires_at`` defaults to (and may not exceed) now + policy.consent_max_validity_days.
    A minor needs ``guardian_consent`` and a ``guardian_name``. Evidence files are capped at
    20 MiB (document) and 200 MiB (recording).
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
    if evidence_document is not None:
        stored = files.put_stream(_as_stream(evidence_document), MAX_EVIDENCE_DOCUMENT_BYTES)
        consent.evidence_document_sha256 = stored.sha256
        consent.evidence_document_type = evidence_document_type or "application/octet-stream"
    if evidence_recording is not None:
        stored = files.put_stream(_as_stream(evidence_recording), MAX_EVIDENCE_RECORDING_BYTES)
        consent.evidence_recording_sha256 = stored.sha256
        consent.evidence_recording_type = evidence_recording_type or "application/octet-stream"
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
        },
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
    from candor.services.generations import release_quota

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
    InvalidImage.
    """
    from PIL import Image, UnidentifiedImageError

    consent = get_consent(session=session, partner=partner, consent_id=consent_id)
    ensure_consent_active(consent, now)
    if face_summary is None:
        data = image if isinstance(image, bytes | bytearray) else image.read()
        face_summary, image = analyze_portrait(bytes(data), max_megapixels=max_megapixels), bytes(data)
    if not isinstance(face_summary, dict):
        raise InvalidInput("face_summary must be a mapping")
    faces = face_summary.get("face_count", 1)
    if faces != 1:
        raise InvalidImage(f"a portrait must show exactly one face; found {faces}")
    path = files.stage(_as_stream(image), MAX_PORTRAIT_BYTES, suffix=".img")
    try:
        try:
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_megapixels * 1e6:
                    raise ImageTooLarge(f"image is {width}x{height}; limit {max_megapixels:g} megapixels")
                img.load()  # decode every pixel: truncated files fail here, not in a worker
                detected = Image.MIME.get(img.format or "", media_type)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InvalidImage(f"cannot decode the portrait image: {exc}") from None
        stored = files.put_file(path, move=True)
    finally:
        path.unlink(missing_ok=True)
    portrait = Portrait(
        consent_id=consent.id,
        partner_id=partner.id,
        image_sha256=stored.sha256,
        media_type=detected,
        width=width,
        height=height,
        face_summary=face_summary,
    )
    session.add(portrait)
    session.flush()
    log.append_in(
        session,
        "portrait.enrolled",
        actor=partner.id,
        subject=portrait.id,
        details={"consent": consent.id, "image_sha256": stored.sha256, "size": [width, height]},
    )
    session.commit()
    return portrait


def _check_image_container(image: bytes) -> None:
    """Refuse bytes whose image container is malformed before the decoder sees them.

    Pillow's parsers raise a wide, undocumented set of exceptions on hostile input (OSError,
    SyntaxError, but also AttributeError, struct.error, IndexError...); they all mean "corrupt
    upload" here, so they become InvalidImage (422) with the parser's message.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image)) as img:
            img.verify()  # structure and checksums, without decoding the pixels
    except UnidentifiedImageError:
        raise InvalidImage("image is not an image (unrecognized format)") from None
    except Image.DecompressionBombError:
        return  # a huge but well-formed image: analyze_image reports it as ImageTooLarge (413)
    except Exception as exc:  # any parser failure on untrusted bytes is bad input
        raise InvalidImage(f"image is corrupt ({type(exc).__name__}: {exc})") from None


def analyze_portrait(image: bytes, *, max_megapixels: float) -> dict[str, object]:
    """Analyse a portrait for enrolment: exactly one face, framed and posed.

    Returns a small JSON-able summary (pose in degrees, face box in original pixels). Raises
    InvalidImage (corrupt/not an image), ImageTooLarge, NoFaceFound or MultipleFaces.
    """
    from candor.generator.face import analyze_image  # mediapipe loads on first use only

    _check_image_container(image)
    face = analyze_image(image, max_megapixels=max_megapixels)
    if face.faces_found > 1:
        raise MultipleFaces(
            f"the portrait shows {face.faces_found} faces; enrol a photo of the consenting person alone"
        )
    yaw, pitch, roll = (float(a) for a in face.fit.angles)
    summary: dict[str, object] = {
        "faces_found": int(face.faces_found),
        "yaw_deg": round(yaw, 2),
        "pitch_deg": round(pitch, 2),
        "roll_deg": round(roll, 2),
    }
    if face.box is not None:
        box = face.box
        summary["box_xyxy"] = [round(float(v), 1) for v in (box.x0, box.y0, box.x1, box.y1)]
    return summary


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
            duration_s = _measure_audio(path, max_seconds)
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


def _measure_audio(path: Path, max_seconds: float) -> float:
    # The generator's loader decodes any container to 16 kHz mono and raises the audio errors.
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
