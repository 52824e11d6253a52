from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: Literal["ok", "unavailable"]
    worker: Literal["running", "stopped"]
    detector: bool  # whether POST /v1/detections is served by this build


class ReadinessPublic(BaseModel):
    """This process can take traffic now: every check "ok" (otherwise a 503 problem names the others)."""

    status: Literal["ready"]
    database: Literal["ok", "unavailable"]
    migrations: Literal["ok", "unavailable", "behind", "ahead"]
    files: Literal["ok", "unavailable"]
