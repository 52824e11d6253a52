from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from candor.api.schemas.common import PublicModel


class AssetPublic(PublicModel):
    id: str
    kind: Literal["audio"]
    sha256: str
    media_type: str
    size_bytes: int
    duration_s: float = Field(description="seconds")
    sample_rate: int | None = Field(description="Hz of the uploaded file")
    created_at: datetime
