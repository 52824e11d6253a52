"""Detections: upload a video, get a verdict on its face with the evidence (scope ``detect``).

The scan is :func:`candor.services.detections.scan_video` (synchronous, bounded; see there); an
upload over ``CANDOR_MAX_UPLOAD_BYTES`` is refused with 413 before it is scanned.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import StringConstraints

from candor.api.deps import DetectPartner, SessionDep, StateDep
from candor.api.media import VIDEO_TYPES, check_video_content, media_type_of, read_upload, upload_name
from candor.api.openapi import problem_responses
from candor.api.schemas.detections import DetectionPublic
from candor.services import detections

router = APIRouter(prefix="/detections", tags=["detections"])
DetectionId = Annotated[str, StringConstraints(pattern=r"^det_[a-z2-7]{1,40}$")]


@router.post(
    "",
    status_code=201,
    response_model=DetectionPublic,
    summary="Scan a video: is its face synthetic, and did Candor make it? (synchronous, up to 120 s of video)",
    responses=problem_responses(401, 403, 413, 415, 422, 429),
)
async def create_detection(
    response: Response,
    session: SessionDep,
    state: StateDep,
    partner: DetectPartner,
    video: Annotated[UploadFile, File(description="the video to scan (MP4, MOV, WebM, MKV, AVI)")],
) -> DetectionPublic:
    declared = media_type_of(video, VIDEO_TYPES, "video")
    data = await read_upload(video, state.settings.max_upload_bytes, "video")
    check_video_content(data, declared)

    def scan() -> DetectionPublic:
        detection = detections.scan_video(
            session=session, log=state.ledger, files=state.files, verifier=state.verifier,
            classifier=state.classifier(), partner=partner, data=data, filename=upload_name(video),
            max_bytes=state.settings.max_upload_bytes,
        )  # fmt: skip
        return DetectionPublic.model_validate(detections.detection_record(detection))

    public = await run_in_threadpool(scan)
    response.headers["Location"] = f"/v1/detections/{public.id}"
    return public


@router.get(
    "/{detection_id}",
    response_model=DetectionPublic,
    summary="Read one of your detections",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def get_detection(
    session: SessionDep, partner: DetectPartner, detection_id: Annotated[DetectionId, Path()]
) -> DetectionPublic:
    detection = detections.get_detection(session=session, partner=partner, detection_id=detection_id)
    return DetectionPublic.model_validate(detections.detection_record(detection))
