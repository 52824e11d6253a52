"""Detection results: a verdict with its evidence, strongest first (see candor.detector.verdict)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from candor.api.schemas.common import PublicModel

VerdictValue = Literal["candor_proven", "synthetic_classifier", "no_evidence", "cannot_analyse"]


class EvidencePublic(BaseModel):
    kind: Literal["credentials", "watermark", "classifier"]
    strength: Literal["proof", "strong", "statistical", "none"]
    finding: str = Field(description="one line for people")
    details: dict[str, Any] = Field(default_factory=dict)


class TimelinePoint(BaseModel):
    second: float = Field(description="start of the one-second bin, seconds")
    probability: float = Field(ge=0, le=1, description="calibrated P(synthetic) of the faces in that second")
    samples: int = Field(description="face samples in that second")


class FlaggedSegment(BaseModel):
    start_s: float
    end_s: float
    seconds: int
    probability: float = Field(ge=0, le=1, description="calibrated P(synthetic) of the segment's faces")
    peak_probability: float = Field(ge=0, le=1)
    cue: str | None = Field(description="the cue that carries the segment's score most")
    cues: dict[str, float] = Field(description="each cue's share of the segment's score in logits")


class ClassifierPublic(BaseModel):
    probability: float = Field(ge=0, le=1, description="calibrated video-level P(synthetic face)")
    threshold: float = Field(description="probability at or above which the verdict is synthetic")
    flagged: bool
    timeline: list[TimelinePoint]
    samples: int = Field(description="sampled frames with a face")
    sampled_frames: int
    sample_fps: float = Field(description="frames looked at per second of video")
    face_track: dict[str, Any]
    calibration: dict[str, Any]
    suspicious: list[dict[str, float]] = Field(description="the most suspicious samples: second, probability")
    segments: list[FlaggedSegment] = Field(
        default_factory=list,
        description="runs of consecutive seconds at or over the threshold: leads for review (the verdict is "
        "calibrated on whole clips)",
    )
    flagged_seconds: int = Field(0, description="seconds of the timeline at or over the threshold")
    cues: dict[str, float] = Field(
        default_factory=dict, description="each cue's share of the video's score in logits, largest first"
    )
    trained_on: str = Field("", description="what the classifier was trained on, in words")


class GenerationRecord(BaseModel):
    generation_id: str | None
    partner_pseudonym: str | None
    consent_id: str | None
    manifest_id: str | None
    signed_at: str | None
    signer: str | None = None
    in_repository: bool | None = None


class DetectionPublic(PublicModel):
    id: str
    created_at: datetime
    filename: str | None = Field(description="the uploaded file's name as sent")
    size_bytes: int
    sha256: str = Field(description="of the uploaded bytes")
    verdict: VerdictValue
    verdict_label: str = Field(description="e.g. 'Candor-generated (proven)'")
    reason: str | None
    generation: GenerationRecord | None = Field(description="set when the verdict is candor_proven")
    evidence: list[EvidencePublic] = Field(description="strongest first")
    classifier: ClassifierPublic | None
    video: dict[str, Any] = Field(description="frames, fps, width, height, duration_s")
    seconds: float = Field(description="time the scan took")
