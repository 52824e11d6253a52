"""Web console sessions, and the read-models the console shows that the API has no route for.

A session is created from an API key (a partner's, an auditor's or an operator's): the browser
gets a random cookie token, the store keeps only its SHA-256, the key it came from and a CSRF
token. Every request re-checks the key as the API does (revoked, expired, partner approved), so
revoking a key or suspending a partner ends its console sessions too; sign-out revokes the row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from candor.errors import Conflict, Forbidden, InvalidInput, Unauthorized
from candor.provenance.verify import Verifier
from candor.services.common import EventLog, get_owned
from candor.services.generations import get_generation
from candor.services.partners import authenticate_api_key, check_key_usable
from candor.store.filestore import FileStore
from candor.store.models import ApiKey, Consent, ConsoleSession, Generation, Partner, Portrait, StoredManifest, utcnow

SESSION_LIFETIME = timedelta(hours=12)  # a signed-in browser is asked for its key again after this


@dataclass(frozen=True)
class OpenedSession:
    """``token`` goes into the cookie once; only its hash is stored."""

    row: ConsoleSession
    token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(*, session: Session, log: EventLog, api_key: str, now: datetime | None = None) -> OpenedSession:
    """Sign in with an API key (Unauthorized / Forbidden as the API answers it). The session ends
    at SESSION_LIFETIME or at the key's own expiry, whichever comes first."""
    now = now or utcnow()
    key = authenticate_api_key(session=session, token=api_key.strip(), now=now)
    token = secrets.token_urlsafe(32)
    expires_at = now + SESSION_LIFETIME
    if key.expires_at is not None:
        expires_at = min(expires_at, key.expires_at)
    row = ConsoleSession(
        token_sha256=_digest(token), api_key_id=key.id, csrf_token=secrets.token_urlsafe(32), expires_at=expires_at
    )
    session.add(row)
    session.flush()
    actor = key.partner_id or key.principal_id or "unknown"
    log.append_in(session, "console.signed_in", actor=actor, subject=key.id, details={"session": row.id})
    session.commit()
    return OpenedSession(row=row, token=token)


def resolve_session(*, session: Session, token: str | None, now: datetime | None = None) -> ConsoleSession:
    """The live session for a cookie token, its key re-checked; Unauthorized when there is none,
    it ended, or its key no longer works (Forbidden for a partner that is not approved)."""
    if not token:
        raise Unauthorized("not signed in")
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.token_sha256 == _digest(token)))
    now = now or utcnow()
    if row is None or row.revoked_at is not None or now >= row.expires_at:
        raise Unauthorized("the console session ended; sign in again")
    check_key_usable(row.api_key, now)
    return row


class CsrfRejected(Forbidden):
    """A state-changing console request without its session's CSRF token."""


def check_csrf(row: ConsoleSession, presented: str | None) -> None:
    """CsrfRejected unless ``presented`` is this session's CSRF token (compared in constant time)."""
    if not presented or not hmac.compare_digest(presented.encode(), row.csrf_token.encode()):
        raise CsrfRejected("the form's CSRF token is missing or stale; reload the page and try again")


def close_session(*, session: Session, log: EventLog, token: str | None, now: datetime | None = None) -> None:
    """Sign out: the row is revoked (idempotent; an unknown token does nothing)."""
    if not token:
        return
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.token_sha256 == _digest(token)))
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = now or utcnow()
    key = row.api_key
    actor = key.partner_id or key.principal_id or "unknown"
    log.append_in(session, "console.signed_out", actor=actor, subject=key.id, details={"session": row.id})
    session.commit()


def generation_credentials(
    *, session: Session, partner: Partner, generation_id: str, files: FileStore, verifier: Verifier
) -> dict[str, Any]:
    """The credentials panel of one of the partner's succeeded generations: the stored manifest's
    index (serial, signer, time) and the summary of the credentials embedded in the output
    (who, when, ingredients, controls), checked against the trust anchors. Conflict before success."""
    generation = get_generation(session=session, partner=partner, generation_id=generation_id)
    if generation.status != "succeeded" or generation.manifest_id is None:
        raise Conflict(f"generation {generation.id} is {generation.status}; credentials come with the video")
    stored = session.get(StoredManifest, generation.manifest_id)
    local = files.local_path(generation.output_sha256)  # type: ignore[arg-type]
    if local is not None:
        report = verifier.verify_file(local, detect_watermark=False)
    else:  # an object store: verify a fetched copy
        work = files.work_dir(f"credentials-{generation.id}-")
        try:
            copy = files.fetch(generation.output_sha256, work / "output.mp4")  # type: ignore[arg-type]
            report = verifier.verify_file(copy, detect_watermark=False)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    summary = report.summary
    return {
        "manifest_id": generation.manifest_id,
        "state": report.state.value,
        "verdict": report.verdict,
        "watermark_serial": stored.serial if stored is not None else generation.watermark_serial,
        "signer_subject": stored.signer_subject if stored is not None else None,
        "signer_fingerprint": stored.signer_fingerprint if stored is not None else None,
        "signed_at": stored.signed_at.isoformat() if stored is not None else None,
        "signer": summary.signer if summary else None,
        "issuer": summary.issuer if summary else None,
        "software_agent": summary.software_agent if summary else None,
        "ai_generated": summary.ai_generated if summary else None,
        "ingredients": summary.ingredients if summary else [],
        "generation": summary.generation if summary else None,
    }


@dataclass(frozen=True)
class ErasurePreview:
    """What erasing a consent would delete, for the confirmation step (counts as of now; the
    erasure itself recounts inside its transaction)."""

    consent: Consent
    portraits: int
    generations_by_status: dict[str, int]
    evidence_files: int  # the signed document and recording on file
    has_reference: bool

    @property
    def generations(self) -> int:
        return sum(self.generations_by_status.values())

    @property
    def stopping(self) -> int:
        """Queued or running generations that erasure stops first."""
        return self.generations_by_status.get("queued", 0) + self.generations_by_status.get("running", 0)


def erasure_preview(*, session: Session, partner: Partner, consent_id: str) -> ErasurePreview:
    """What :func:`candor.services.erasure.erase_consent` would remove of ``partner``'s consent
    (another partner's is NotFound)."""
    consent = get_owned(session, Consent, partner, consent_id, "consent")
    portraits = session.scalar(select(func.count()).where(Portrait.consent_id == consent.id)) or 0
    rows = session.execute(
        select(Generation.status, func.count()).where(Generation.consent_id == consent.id).group_by(Generation.status)
    )
    evidence = [consent.evidence_document_sha256, consent.evidence_recording_sha256]
    return ErasurePreview(
        consent=consent,
        portraits=int(portraits),
        generations_by_status={status: int(count) for status, count in rows},
        evidence_files=sum(e is not None for e in evidence),
        has_reference=consent.reference_sha256 is not None,
    )


def own_keys(*, session: Session, partner: Partner) -> list[ApiKey]:
    """``partner``'s API keys, newest first, revoked ones included (prefix, scopes, expiry and last
    use are what the console shows; never a secret)."""
    query = select(ApiKey).where(ApiKey.partner_id == partner.id).order_by(ApiKey.created_at.desc(), ApiKey.id)
    return list(session.scalars(query))


_GENERATION_ID = re.compile(r"\bgen_[a-z2-7]{8,}\b")


def stored_generation_video(
    *, session: Session, files: FileStore, partner: Partner, reference: str
) -> tuple[str, bytes]:
    """(generation id, MP4 bytes) of one of ``partner``'s succeeded generations, named by its id or
    any URL that holds it (the console's page, ``/v1/generations/{id}/video``): a video already in
    the store, scanned without uploading it again. InvalidInput when ``reference`` names no
    generation, NotFound for another partner's, Conflict before success or after retention."""
    found = _GENERATION_ID.search(reference or "")
    if found is None:
        raise InvalidInput("name one of your generations: its id (gen_…) or a URL of it")
    generation = get_generation(session=session, partner=partner, generation_id=found.group(0))
    if generation.status != "succeeded" or generation.output_sha256 is None:
        raise Conflict(f"generation {generation.id} is {generation.status}; it has no video to scan")
    return generation.id, files.read_bytes(generation.output_sha256)
