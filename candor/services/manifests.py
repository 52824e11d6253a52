"""The manifest repository: every signed manifest, indexed by its soft-binding (watermark) value.

The lookups are shaped like the C2PA Soft Binding Resolution API (``GET /matches/byBinding`` ->
``{"matches": [{"manifestId", "similarityScore"}]}``, ``GET /manifests/{manifestId}`` -> the
manifest store) so the API can expose them as they are. Watermark serials are allocated here
before rendering, because the watermark is embedded before the manifest is signed.

Module functions take a SQLAlchemy ``Session`` (for the API's session dependency);
:class:`ManifestRepository` wraps them over a session factory (the container builds one per
process). It is the :class:`candor.provenance.verify.ManifestLookup` that verification and the
detector resolve watermarks through.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from candor.store.models import StoredManifest, WatermarkSerial

if TYPE_CHECKING:
    from candor.provenance.manifest import SignedManifest

EXACT_MATCH_SCORE = 100  # a decoded watermark carries the exact serial: a full-strength match


def allocate_serial(*, session: Session, generation_id: str | None = None) -> int:
    """A fresh watermark serial (1, 2, ...; monotonic, never reused); the caller commits."""
    row = WatermarkSerial(generation_id=generation_id)
    session.add(row)
    session.flush()  # the INSERT assigns the serial
    return row.serial


def store_manifest(*, session: Session, signed: SignedManifest) -> str:
    """Record a signed manifest under its soft-binding value; returns its manifest id. The caller commits."""
    session.add(
        StoredManifest(
            manifest_id=signed.manifest_id,
            generation_id=signed.claim.generation_id,
            binding_alg=signed.binding.alg,
            binding_value=signed.binding.value,
            serial=signed.binding.serial,
            manifest_store=signed.manifest_store,
            signer_fingerprint=signed.signer_fingerprint,
            signer_subject=signed.signer_subject,
            signed_at=signed.signed_at,
        )
    )
    session.flush()
    return signed.manifest_id


def matches_by_binding(*, session: Session, alg: str, value: str, max_results: int = 10) -> dict[str, Any]:
    """``GET /matches/byBinding?alg=&value=``: ``{"matches": [{"manifestId", "similarityScore"}]}``.

    Newest first; an unknown binding gives an empty list (not an error), as in the C2PA API.
    """
    rows = session.scalars(
        select(StoredManifest.manifest_id)
        .where(StoredManifest.binding_alg == alg, StoredManifest.binding_value == value)
        .order_by(StoredManifest.signed_at.desc())
        .limit(max(1, max_results))
    ).all()
    return {"matches": [{"manifestId": m, "similarityScore": EXACT_MATCH_SCORE} for m in rows]}


def manifest_by_id(
    *, session: Session, manifest_id: str, return_active_manifest: bool = False
) -> dict[str, Any] | None:
    """``GET /manifests/{manifestId}``: the manifest store (``application/c2pa`` bytes) and its index
    fields, or None when unknown. An erased one (``erasedAt`` set) has no store (None). Candor's
    stores hold one manifest (the ingredients carry none of their own), so
    ``return_active_manifest`` returns the same store."""
    row = session.get(StoredManifest, manifest_id)
    if row is None:
        return None
    erased = row.erased_at is not None  # its subject's consent was erased: no store, only the index
    return {
        "manifestId": row.manifest_id,
        "contentType": "application/c2pa",
        "manifestStore": None if erased else row.manifest_store,
        "erasedAt": _aware(row.erased_at).isoformat() if erased else None,
        "activeManifestOnly": return_active_manifest,
        "generationId": row.generation_id,
        "binding": {"alg": row.binding_alg, "value": row.binding_value, "serial": row.serial},
        "signerFingerprint": row.signer_fingerprint,
        "signerSubject": row.signer_subject,
        "signedAt": _aware(row.signed_at).isoformat(),
    }


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes: they were stored as UTC
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def supported_algorithms() -> dict[str, Any]:
    """``GET /services/supportedAlgorithms``."""
    from candor.provenance.watermark import WATERMARK_ALG

    return {"watermarks": [{"alg": WATERMARK_ALG}], "fingerprints": []}


class ManifestRepository:
    """The repository over a session factory whose database is already migrated."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def allocate_serial(self, *, generation_id: str | None = None) -> int:
        with self.sessions.begin() as session:
            return allocate_serial(session=session, generation_id=generation_id)

    def store(self, signed: SignedManifest) -> str:
        with self.sessions.begin() as session:
            return store_manifest(session=session, signed=signed)

    def matches_by_binding(self, *, alg: str, value: str, max_results: int = 10) -> dict[str, Any]:
        with self.sessions() as session:
            return matches_by_binding(session=session, alg=alg, value=value, max_results=max_results)

    def manifest_by_id(self, manifest_id: str, *, return_active_manifest: bool = False) -> dict[str, Any] | None:
        with self.sessions() as session:
            return manifest_by_id(
                session=session, manifest_id=manifest_id, return_active_manifest=return_active_manifest
            )
