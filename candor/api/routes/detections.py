"""Detections: upload a video, get a verdict on its face with the evidence (scope ``detect``).

Synchronous by design, for now: the store's job queue runs generation jobs only (its queue is the
``generations`` table), so a scan runs inside the request, in a worker thread. Bounds keep that
honest: an upload over ``CANDOR_MAX_UPLOAD_BYTES`` is refused with 413 before it is scanned, and a
video longer than :data:`MAX_SYNC_SECONDS` with 422 (``video-too-long``); a 60 s 512x512 clip scans
in about the time ``benchmarks/detector_speed.py`` prints. Unreadable or frame-less uploads are 422
``invalid-video``; a readable video without a face is a 201 whose verdict is ``cannot_analyse``.

Results are kept as one JSON document per detection under ``<data_dir>/detections/`` (written
atomically) so ``GET /v1/detections/{id}`` works across restarts; each scan is appended to the
tamper-evident log as ``detection.performed`` (actor: the partner; no video bytes, only the digest).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import StringConstraints

from candor.api.deps import DetectPartner, StateDep
from candor.api.media import media_type_of, read_upload
from candor.api.openapi import problem_responses
from candor.api.schemas.detections import DetectionPublic
from candor.errors import InvalidVideo, NotFound

router = APIRouter(prefix="/detections", tags=["detections"])
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm", "video/x-matroska", "video/x-msvideo")
MAX_SYNC_SECONDS = 120.0  # longer videos would hold a request thread for too long
DetectionId = Annotated[str, StringConstraints(pattern=r"^det_[a-z2-7]{1,40}$")]


class VideoTooLong(InvalidVideo):
    type_slug = "video-too-long"
    title = "Video too long"


@functools.cache
def _classifier() -> Any:
    """The shipped checkpoint, loaded once per process (CPU; torch releases the GIL while it runs)."""
    from candor.detector.model import load_classifier

    return load_classifier()


def _records_dir(settings: Any) -> FsPath:
    return FsPath(settings.data_dir) / "detections"


def _save(settings: Any, record: dict[str, Any]) -> None:
    folder = _records_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{record['id']}.", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(record, fh)
        os.replace(tmp, folder / f"{record['id']}.json")
    finally:
        FsPath(tmp).unlink(missing_ok=True)


def _scan(state: Any, partner: Any, data: bytes, filename: str | None) -> dict[str, Any]:
    from candor.detector.verdict import detect_video
    from candor.generator.video import probe
    from candor.provenance.ledger import EventType
    from candor.store.models import new_id

    settings = state.settings
    suffix = FsPath(filename or "upload.mp4").suffix[:8] or ".mp4"
    work = state.files.temp_path(suffix)
    try:
        work.write_bytes(data)
        info = probe(work)  # InvalidVideo (422) for anything FFmpeg cannot read as a video
        if info.frames == 0:
            raise InvalidVideo("the video has no decodable frames")
        if info.duration > MAX_SYNC_SECONDS:
            raise VideoTooLong(
                f"the video is {info.duration:.1f} s; scans are synchronous up to {MAX_SYNC_SECONDS:.0f} s"
            )
        report = detect_video(work, settings=settings, classifier=_classifier(), max_bytes=settings.max_upload_bytes)
    finally:
        work.unlink(missing_ok=True)
    if report.unreadable:
        raise InvalidVideo(report.reason or "unreadable video")
    body = report.to_dict()
    record = {
        "id": new_id("det"),
        "partner_id": partner.id,
        "created_at": datetime.now(UTC).isoformat(),
        "filename": filename,
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        **{k: body[k] for k in ("verdict", "verdict_label", "reason", "generation", "evidence", "classifier", "video")},
        "seconds": body["seconds"],
    }
    _save(settings, record)
    generation = record["generation"] or {}
    classifier = record["classifier"] or {}
    state.ledger.append(
        EventType.DETECTION_PERFORMED,
        actor=partner.id,
        subject=record["id"],
        details={
            "sha256": record["sha256"],
            "verdict": record["verdict"],
            "generation_id": generation.get("generation_id"),
            "probability": classifier.get("probability"),
        },
    )
    return record


def _public(record: dict[str, Any]) -> DetectionPublic:
    return DetectionPublic.model_validate({k: v for k, v in record.items() if k != "partner_id"})


@router.post(
    "",
    status_code=201,
    response_model=DetectionPublic,
    summary="Scan a video: is its face synthetic, and did Candor make it? (synchronous, up to 120 s of video)",
    responses=problem_responses(401, 403, 413, 415, 422, 429),
)
async def create_detection(
    response: Response,
    state: StateDep,
    partner: DetectPartner,
    video: Annotated[UploadFile, File(description="the video to scan (MP4, MOV, WebM, MKV, AVI)")],
) -> DetectionPublic:
    media_type_of(video, VIDEO_TYPES, "video")
    data = await read_upload(video, state.settings.max_upload_bytes, "video")
    if not data:
        raise InvalidVideo("the uploaded video is empty")
    record = await run_in_threadpool(_scan, state, partner, data, video.filename)
    response.headers["Location"] = f"/v1/detections/{record['id']}"
    return _public(record)


@router.get(
    "/{detection_id}",
    response_model=DetectionPublic,
    summary="Read one of your detections",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def get_detection(
    state: StateDep, partner: DetectPartner, detection_id: Annotated[DetectionId, Path()]
) -> DetectionPublic:
    path = _records_dir(state.settings) / f"{detection_id}.json"
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    if record is None or record.get("partner_id") != partner.id:
        raise NotFound(f"detection {detection_id} not found")  # another partner's looks absent
    return _public(record)
