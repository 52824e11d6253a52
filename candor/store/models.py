"""Every table Candor stores, in one module, on :data:`candor.store.database.Base` (one Alembic
history migrates them): partners, API keys, likeness consent, portraits, assets, generation jobs,
idempotency records, monthly quota usage and web console sessions; the manifest repository (watermark serials, signed
manifests); and the tamper-evident generation log (entries, subtree hashes, head, checkpoints).

Primary keys are short random strings with a type prefix (``ptn_…``, ``gen_…``): they are safe to
show to partners and in the log, reveal no counts, and are generated before a row is flushed.
"""

from __future__ import annotations

import secrets
from base64 import b32encode
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from candor.store.database import Base

PARTNER_STATES = ("pending", "approved", "suspended")
SCOPES = ("generate", "detect", "audit:read", "admin")
# Who may hold which scope: a partner's audit:read reads only its own entries; admin and the
# whole log belong to principals apart from every tenant.
ROLES = ("partner", "auditor", "operator")
ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    "partner": ("generate", "detect", "audit:read"),
    "auditor": ("audit:read",),
    "operator": ("admin",),
}
# "expired": succeeded, then its output was removed after the retention period (410 on download).
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled", "expired")


def new_id(prefix: str) -> str:
    """``prefix_`` + 16 lowercase base32 characters (80 random bits)."""
    return f"{prefix}_{b32encode(secrets.token_bytes(10)).decode().lower()}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive text; we re-attach UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Partner(Base):
    """An organisation vetted to generate; ``id`` is the pseudonym shown in logs and credentials."""

    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("ptn"))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    use_case: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    monthly_quota_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    # HMAC key for signing this partner's webhooks; a shared secret, so it is stored as is.
    webhook_secret: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(32))
    # After a rotation the old secret still signs deliveries (a second signature) until this time,
    # so a receiver can switch without downtime.
    webhook_secret_previous: Mapped[str | None] = mapped_column(String(64), nullable=True)
    webhook_secret_previous_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="partner")


class Principal(Base):
    """An operator or an auditor: a person or team apart from every partner (tenant)."""

    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("prn"))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # auditor | operator
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="principal")


class ApiKey(Base):
    """An API key of a partner or of a principal (exactly one of the two): the visible ``prefix``
    finds the row, the secret is kept only as SHA-256."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("key"))
    partner_id: Mapped[str | None] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True, nullable=True
    )
    principal_id: Mapped[str | None] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True, nullable=True
    )
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # None: never

    partner: Mapped[Partner | None] = relationship(back_populates="api_keys", lazy="joined")
    principal: Mapped[Principal | None] = relationship(back_populates="api_keys", lazy="joined")

    @property
    def role(self) -> str:
        return self.principal.role if self.principal is not None else "partner"


class Consent(Base):
    """A depicted person's likeness consent, owned by the partner that collected it."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("cns"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    subject_name: Mapped[str] = mapped_column(String(200))
    subject_is_adult: Mapped[bool] = mapped_column(Boolean)
    guardian_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    guardian_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_uses: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Evidence lives in the content-addressed file store; the sha256 is both hash and reference.
    evidence_document_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    evidence_document_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    evidence_recording_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    evidence_recording_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # A reference of the subject (photo, or a frame of a consent video) and its 128-d face
    # identity embedding: every portrait enrolled under the consent must match it.
    reference_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reference_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reference_embedding: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    portraits: Mapped[list[Portrait]] = relationship(back_populates="consent", order_by="Portrait.created_at")

    @property
    def has_evidence(self) -> bool:
        return bool(self.evidence_document_sha256 or self.evidence_recording_sha256)


class Portrait(Base):
    """An image of the consented person, enrolled under one consent record."""

    __tablename__ = "portraits"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("prt"))
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    image_sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(100))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    face_summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Face identity distance to the consent's reference when enrolled (below the threshold).
    identity_distance: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    consent: Mapped[Consent] = relationship(back_populates="portraits")


class Asset(Base):
    """An uploaded media file (audio for now) owned by a partner."""

    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("ast"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="audio")
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    sample_rate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Generation(Base):
    """A generation job and its result. The row is committed (status queued) before any work starts."""

    __tablename__ = "generations"
    __table_args__ = (
        Index("ix_generations_status_created", "status", "created_at"),
        Index("ix_generations_partner_created", "partner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("gen"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    # The key that asked for it: revoking that key stops the job (None for rows made before 0005).
    api_key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)
    portrait_id: Mapped[str] = mapped_column(ForeignKey("portraits.id"))
    audio_asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"))
    controls: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    fps: Mapped[int] = mapped_column(Integer, default=25)
    width: Mapped[int] = mapped_column(Integer, default=512)
    height: Mapped[int] = mapped_column(Integer, default=512)
    use: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    output_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    output_size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    manifest_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    watermark_serial: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_s: Mapped[float] = mapped_column(Float)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    webhook_delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    webhook_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # When the running worker tries an undelivered webhook next (exponential backoff); None: not due.
    webhook_next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    policy_checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    downloaded_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the retention period removed the output (status "expired"); the row stays as a record.
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IdempotencyRecord(Base):
    """``Idempotency-Key`` bookkeeping: the same key and body replay the first response."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("partner_id", "key", name="uq_idempotency_partner_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    request_sha256: Mapped[str] = mapped_column(String(64))
    # The response is the generation it created: replaying returns its current state.
    generation_id: Mapped[str] = mapped_column(ForeignKey("generations.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QuotaUsage(Base):
    """Seconds of video reserved by a partner in one UTC calendar month ("YYYY-MM")."""

    __tablename__ = "quota_usage"

    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class ErasedSubject(Base):
    """A row an erasure removed (a consent, its portraits, audio and generations), by id with its
    partner, so the partner can still read its own log entries that name it. Ids are random and
    already in the log: nothing of the person is kept."""

    __tablename__ = "erased_subjects"

    subject_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Detection(Base):
    """One scan of an uploaded video by a partner: the verdict and its evidence (``report``, as the
    API shows it), the upload's digest and size (never its bytes)."""

    __tablename__ = "detections"
    __table_args__ = (Index("ix_detections_partner_created", "partner_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("det"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    filename: Mapped[str | None] = mapped_column(String(500), nullable=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(32))
    report: Mapped[dict[str, Any]] = mapped_column(JSON)  # verdict label, reason, evidence, classifier...
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsoleSession(Base):
    """A signed-in web console session: created from an API key, found by the SHA-256 of its cookie
    token (the token itself is never stored), ended by sign-out (``revoked_at``) or by its key."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("cses"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))  # the synchronizer token every form carries
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    api_key: Mapped[ApiKey] = relationship(lazy="joined")


# --- the manifest repository -----------------------------------------------------------------------


class WatermarkSerial(Base):
    """One allocated watermark serial (never reused, even if the generation later fails)."""

    __tablename__ = "provenance_watermark_serials"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy reads it as a class attr

    serial: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    generation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    allocated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StoredManifest(Base):
    """A signed manifest store as embedded in the released MP4, indexed by its soft binding."""

    __tablename__ = "provenance_manifests"
    __table_args__ = (Index("ix_provenance_manifests_binding", "binding_alg", "binding_value"),)

    manifest_id: Mapped[str] = mapped_column(String(96), primary_key=True)  # urn:c2pa:<uuid>
    generation_id: Mapped[str] = mapped_column(String(64), index=True)
    binding_alg: Mapped[str] = mapped_column(String(128))
    binding_value: Mapped[str] = mapped_column(String(256))
    serial: Mapped[int | None] = mapped_column(Integer, unique=True)
    manifest_store: Mapped[bytes] = mapped_column(LargeBinary)
    signer_fingerprint: Mapped[str] = mapped_column(String(64))
    signer_subject: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when the data subject's consent was erased: manifest_store is emptied (its ingredients
    # name the portrait and audio), the index stays so the watermark resolves to "erased".
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# --- the generation log (an RFC 6962 Merkle log; see candor.services.generation_log) -------------

_BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY is the rowid


class LogEntryRow(Base):
    __tablename__ = "audit_log_entries"

    log_index: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200), index=True)
    body: Mapped[str] = mapped_column(Text)  # canonical JSON: its UTF-8 bytes are the Merkle leaf


class LogNodeRow(Base):
    """The hash of every perfect subtree, ``(level, index)``; leaves are level 0."""

    __tablename__ = "audit_log_nodes"
    __table_args__ = ({"sqlite_with_rowid": False},)  # clustered on (level, node_index)

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    node_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogHeadRow(Base):
    """One row: size, root and frontier; also the lock that serializes appenders."""

    __tablename__ = "audit_log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    frontier: Mapped[bytes] = mapped_column(LargeBinary)  # 32-byte hashes, largest subtree first
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CheckpointRow(Base):
    __tablename__ = "audit_log_checkpoints"

    tree_size: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text)
