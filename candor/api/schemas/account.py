"""A partner's own account: usage and quota, webhook secret rotation."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class QuotaPublic(BaseModel):
    month: str = Field(description="the UTC calendar month quotas count in (YYYY-MM)")
    period_start: datetime
    limit_s: float = Field(description="seconds of video a month")
    used_s: float = Field(description="seconds reserved this month (a failed or cancelled job gives its seconds back)")
    remaining_s: float


class UsagePublic(BaseModel):
    partner_id: str
    quota: QuotaPublic
    generations_by_status: dict[str, int] = Field(description="all your generations, counted by status")
    generations_this_month: int
    detections_this_month: int
    detections_total: int


class WebhookSecretRotate(BaseModel):
    overlap_hours: float = Field(
        24.0, ge=0, le=168, description="hours the old secret keeps signing beside the new one (0: none)"
    )


class WebhookSecretPublic(BaseModel):
    secret: str = Field(description="the new signing secret: shown only in this response")
    rotated_at: datetime
    previous_valid_until: datetime | None = Field(
        description="until then every delivery carries a second v1= signature under the old secret"
    )
