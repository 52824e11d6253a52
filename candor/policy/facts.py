"""The plain facts a policy decision is made over: no ORM objects, no I/O.

The service layer copies what it knows about a partner, a consent record, a portrait, the request
and the month's quota into these dataclasses; tests build them from dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class PartnerFacts:
    id: str
    state: str  # pending | approved | suspended
    use_case: str


@dataclass(frozen=True)
class ConsentFacts:
    id: str
    partner_id: str
    subject_is_adult: bool
    guardian_consent: bool
    guardian_name: str | None
    allowed_uses: tuple[str, ...]
    expires_at: datetime  # timezone-aware UTC
    revoked_at: datetime | None
    has_evidence: bool


@dataclass(frozen=True)
class PortraitFacts:
    id: str
    consent_id: str
    partner_id: str
    # Face-identity distance to the consent's reference, measured when the portrait was enrolled
    # (enrolment refuses a mismatch); None: never checked (enrolled before consents held references).
    identity_distance: float | None = None


@dataclass(frozen=True)
class RequestFacts:
    """What the partner asked for. duration_s is the audio's length (seconds of video)."""

    use: str
    duration_s: float
    fps: int
    width: int
    height: int
    watermark: bool = True
    credentials: bool = True


@dataclass(frozen=True)
class QuotaFacts:
    used_s: float  # seconds of video already reserved this month
    limit_s: float


@dataclass(frozen=True)
class GenerationFacts:
    """Everything one decision needs; ``now`` is passed in so rules stay pure."""

    partner: PartnerFacts
    consent: ConsentFacts
    portrait: PortraitFacts
    request: RequestFacts
    quota: QuotaFacts
    now: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> GenerationFacts:
        """Build from nested dicts with the dataclasses' field names (lists become tuples)."""

        def build(kind: type, value: dict[str, Any]) -> Any:
            names = {f.name for f in fields(kind)}
            args = {k: (tuple(v) if isinstance(v, list) else v) for k, v in value.items() if k in names}
            return kind(**args)

        return cls(
            partner=build(PartnerFacts, doc["partner"]),
            consent=build(ConsentFacts, doc["consent"]),
            portrait=build(PortraitFacts, doc["portrait"]),
            request=build(RequestFacts, doc["request"]),
            quota=build(QuotaFacts, doc["quota"]),
            now=doc["now"],
            extra=dict(doc.get("extra", {})),
        )
