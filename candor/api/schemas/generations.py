"""Generation requests (multipart form) and job state."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, Field, StringConstraints

from candor.api.schemas.common import Absent, AssetId, ConsentId, PageInfo, PortraitId, PublicModel
from candor.generator import controls as C

if TYPE_CHECKING:
    from candor.services import GenerationRequest
    from candor.store.models import Generation

Emotion = Literal[C.EMOTIONS]  # type: ignore[valid-type]
_DEFAULTS = C.Controls()


def _control(name: str) -> Any:
    """A numeric control's form field: default, bounds and description from generator.controls."""
    bound = C.BOUNDS[name]
    return Field(getattr(_DEFAULTS, name), ge=bound.low, le=bound.high, description=bound.description)


# A use name as consents take them (case and surrounding spaces ignored).
UseName = Annotated[str, StringConstraints(max_length=64, pattern=r"^ *[A-Za-z0-9_-]{1,64} *$")]
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_WEBHOOK_URL = (
    rf"^https?://({_LABEL}\.)*[A-Za-z]([A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?(:[1-9][0-9]{{0,3}})?(/[A-Za-z0-9._~/-]*)?$"
)


class GenerationCreate(BaseModel):
    """Form fields of ``POST /v1/generations``. The audio is either ``audio_asset_id`` (uploaded
    before with ``POST /v1/assets/audio``) or an ``audio`` file part in the same request."""

    consent_id: ConsentId = Field(description="the subject's consent record")
    portrait_id: PortraitId = Field(description="a portrait enrolled under it")
    audio_asset_id: AssetId | Absent = Field(None, description="an uploaded clip (or send `audio`)")
    use: UseName | Absent = Field(
        None,
        description="what the video is for; must be among the consent's allowed uses (default: the partner's use case)",
    )
    gaze_yaw: float = _control("gaze_yaw")
    gaze_pitch: float = _control("gaze_pitch")
    distance: float = _control("distance")
    emotion: Emotion = _DEFAULTS.emotion
    intensity: float = _control("intensity")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    fps: int = Field(C.DEFAULT_FPS, ge=C.FPS.low, le=C.FPS.high, description=C.FPS.description)
    webhook_url: AnyHttpUrl | Absent = Field(
        None,
        max_length=2000,
        # What the URL parser and the server take, said in the schema: http(s), a host name whose last
        # label starts with a letter (all digits would be read as an IPv4 number), a port, a path.
        json_schema_extra={"pattern": _WEBHOOK_URL},
        description="POSTed a signed JSON event (HMAC-SHA256) when the job finishes",
    )

    def to_request(self, *, audio_asset_id: str, idempotency_key: str | None) -> GenerationRequest:
        """The store's request; width and height are the product's fixed 512x512."""
        from candor.services import GenerationRequest

        return GenerationRequest(
            consent_id=self.consent_id,
            portrait_id=self.portrait_id,
            audio_asset_id=audio_asset_id,
            controls={name: getattr(self, name) for name in C.CONTROL_NAMES},
            seed=self.seed,
            fps=self.fps,
            use=self.use,
            idempotency_key=idempotency_key,
            webhook_url=str(self.webhook_url) if self.webhook_url else None,
        )


class ControlsPublic(BaseModel):
    gaze_yaw: float
    gaze_pitch: float
    distance: float
    emotion: str
    intensity: float


class GenerationPublic(PublicModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"] = Field(
        description="expired: it succeeded, then the retention period removed its video (download: 410)"
    )
    progress: float = Field(ge=0, le=1)
    consent_id: str
    portrait_id: str
    audio_asset_id: str
    use: str
    controls: ControlsPublic
    seed: int
    fps: int
    width: int = Field(description="pixels")
    height: int = Field(description="pixels")
    duration_s: float = Field(description="seconds of video (the audio's length)")
    error: str | None
    output_sha256: str | None
    output_size_bytes: int | None
    manifest_id: str | None = Field(description="C2PA manifest id; resolve with GET /v1/manifests/{id}")
    video_url: str | None = Field(description="where to download the signed MP4 once succeeded")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expired_at: datetime | None = Field(description="when the retention period removed the video")

    @classmethod
    def of(cls, generation: Generation) -> GenerationPublic:
        """Build from the store's Generation row; the video URL appears once it succeeded."""
        fields = {k: getattr(generation, k) for k in cls.model_fields if k != "video_url"}
        succeeded = generation.status == "succeeded"
        return cls(**fields, video_url=f"/v1/generations/{generation.id}/video" if succeeded else None)


class GenerationPage(BaseModel):
    items: list[GenerationPublic]
    page: PageInfo


class DownloadUrlPublic(BaseModel):
    """Where to download a finished video: a presigned object-store URL (no key needed, valid until
    ``expires_at``) or, with a local store, this API's own ``/video`` path (send the key)."""

    url: str
    presigned: bool
    expires_at: datetime | None
