"""Likeness consent: a record per depicted person, its evidence and its enrolled portraits."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from candor.api.schemas.common import Absent, PageInfo, PublicModel, text_type
from candor.generator.identity import MATCH_THRESHOLD

if TYPE_CHECKING:
    from candor.store.models import Consent

# One use name, or several comma-separated (a form repeats the field or joins them); a part with
# no name in it (an empty field, ",") would be dropped, so the schema asks for at least one.
UseName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=1100, pattern=r"^[ ,]*[A-Za-z0-9_-]{1,64}( *(,[ ,]*[A-Za-z0-9_-]{1,64})*)[ ,]*$"
    ),
]


class ConsentCreate(BaseModel):
    """Multipart form fields of ``POST /v1/consents`` (evidence files travel beside them)."""

    # The minor rule below, said in the schema too, so a client (or fuzzer) that follows the
    # schema is never refused by the validator.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"subject_is_adult": {"const": False}}, "required": ["subject_is_adult"]},
            "then": {
                "required": ["guardian_name", "guardian_consent"],
                "properties": {"guardian_name": {"type": "string"}, "guardian_consent": {"const": True}},
            },
        }
    )

    subject_name: text_type(1, 200) = Field(description="the depicted person's name")  # type: ignore[valid-type]
    subject_is_adult: bool = Field(description="the partner attests the subject is 18 or older")
    guardian_name: text_type(1, 200) | Absent = None  # type: ignore[valid-type]
    guardian_consent: bool = Field(False, description="a guardian consented (required for a minor)")
    allowed_uses: list[UseName] = Field(
        min_length=1,
        # Counted as sent (before comma-separated parts are split out): at most 16 parts, each of
        # at most 16 names; the policy then refuses any use it does not know.
        json_schema_extra={"maxItems": 16},
        description="uses the subject agreed to, e.g. education; repeat the field or comma-separate",
    )
    expires_at: datetime | Absent = Field(
        None, description="ISO 8601 with a timezone; default and maximum come from the policy"
    )

    @field_validator("allowed_uses", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list):
            if len(items) > 16:
                raise ValueError(f"allowed_uses takes at most 16 fields; got {len(items)}")
            out: list[object] = []
            for item in items:
                out.extend(p.strip() for p in item.split(",")) if isinstance(item, str) else out.append(item)
            return list(dict.fromkeys(p for p in out if p != ""))  # each use once, in order
        return value

    @field_validator("allowed_uses")
    @classmethod
    def _use_names(cls, value: list[str]) -> list[str]:
        for use in value:
            if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", use) is None:  # the schema's pattern, per name
                raise ValueError(f"use names are 1-64 letters, digits, '-' or '_'; got {use!r}")
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at needs a timezone (e.g. 2027-01-01T00:00:00Z)")
        return value

    @model_validator(mode="after")
    def _minor_needs_guardian(self) -> ConsentCreate:
        if not self.subject_is_adult and not (self.guardian_consent and self.guardian_name):
            raise ValueError("a subject who is not an adult needs guardian_name and guardian_consent=true")
        return self


class ConsentRevoke(BaseModel):
    reason: text_type(0, 2000) | None = None  # type: ignore[valid-type]


class EvidencePublic(BaseModel):
    kind: Literal["document", "recording"]
    sha256: str
    media_type: str | None


class PortraitPublic(PublicModel):
    id: str
    consent_id: str
    image_sha256: str
    media_type: str
    width: int = Field(description="pixels")
    height: int = Field(description="pixels")
    face_summary: dict[str, object]
    identity_distance: float | None = Field(
        description=f"identity distance to the consent's reference at enrolment (same person below {MATCH_THRESHOLD})"
    )
    created_at: datetime


class ConsentPublic(PublicModel):
    id: str
    subject_name: str
    subject_is_adult: bool
    guardian_name: str | None
    guardian_consent: bool
    allowed_uses: list[str]
    expires_at: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    status: Literal["active", "revoked", "expired"]
    evidence: list[EvidencePublic]
    reference_sha256: str | None = Field(description="the subject's reference photo; null until one is added")
    portraits: list[PortraitPublic]
    created_at: datetime

    @classmethod
    def of(cls, consent: Consent, now: datetime) -> ConsentPublic:
        """Build from the store's Consent row; ``now`` (timezone-aware) decides 'expired'."""
        evidence = [
            EvidencePublic(kind=kind, sha256=sha, media_type=media_type)
            for kind, sha, media_type in (
                ("document", consent.evidence_document_sha256, consent.evidence_document_type),
                ("recording", consent.evidence_recording_sha256, consent.evidence_recording_type),
            )
            if sha
        ]
        if consent.revoked_at is not None:
            status = "revoked"
        elif consent.expires_at <= now:
            status = "expired"
        else:
            status = "active"
        fields = {k: getattr(consent, k) for k in cls.model_fields if k not in ("status", "evidence", "portraits")}
        return cls(
            **fields,
            status=status,
            evidence=evidence,
            portraits=[PortraitPublic.model_validate(p) for p in consent.portraits],
        )


class ErasurePublic(BaseModel):
    """What erasing a consent removed. The generation log keeps one ``consent.erased`` entry
    (``log_index``) with these ids and counts, and nothing of the person."""

    consent_id: str
    erased_at: datetime
    generations: list[str] = Field(
        description="generations removed with their outputs (queued or running ones stopped first)"
    )
    portraits: int = Field(description="portraits removed")
    audio_assets: int = Field(description="audio clips removed (those only this consent's generations used)")
    manifests_erased: int = Field(
        description="stored C2PA manifests emptied (their watermarks now resolve to 'erased')"
    )
    files_deleted: int = Field(description="stored files removed (a file another record still uses stays)")
    log_index: int = Field(description="the tombstone's index in the generation log")


class ConsentPage(BaseModel):
    items: list[ConsentPublic]
    page: PageInfo
