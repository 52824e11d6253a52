"""Partners as an operator sees them (scope ``admin``); secrets never appear."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from candor.api.schemas.common import PublicModel


class PartnerPublic(PublicModel):
    id: str
    name: str
    use_case: str
    state: Literal["pending", "approved", "suspended"]
    monthly_quota_s: float | None = Field(description="seconds of video a month; null: the policy default")
    quota_used_s: float = Field(description="seconds of video reserved this UTC month")
    created_at: datetime
    updated_at: datetime


class PartnerList(BaseModel):
    items: list[PartnerPublic]
