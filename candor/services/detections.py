"""Detections: scan an uploaded video for a partner, keep the verdict, read it back.

A scan runs inside the request (synchronous by design, for now: the job queue runs generation jobs
only). Bounds keep that honest: an upload over the size limit is refused before it is scanned and a
video longer than :data:`MAX_SYNC_SECONDS` is ``video-too-long``; unreadable or frame-less uploads
are ``invalid-video``; a readable video without a face is a verdict of ``cannot_analyse``.

Each result is a row of the ``detections`` table (digest and size of the upload, never its bytes)
and a ``detection.performed`` entry in the generation log, committed together.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from candor.errors import InvalidVideo
from candor.services.common import EventLog, get_owned
from candor.store.models import Detection, Partner

if TYPE_CHECKING:
    from candor.provenance.verify import Verifier
    from candor.store.filestore import FileStore

MAX_SYNC_SECONDS = 120.0  # longer videos would hold a request thread for too long
_REPORT_FIELDS = ("verdict_label", "reason", "generation", "evidence", "classifier", "video", "seconds")


class VideoTooLong(InvalidVideo):
    type_slug = "video-too-long"
    title = "Video too long"


def scan_video(
    *,
    session: Session,
    log: EventLog,
    files: FileStore,
    verifier: Verifier,
    classifier: Any,
    partner: Partner,
    data: bytes,
    filename: str | None,
    max_bytes: int,
) -> Detection:
    """Scan ``data`` (an uploaded video) and record the verdict for ``partner``; commits."""
    from candor.detector.verdict import detect_video
    from candor.generator.video import probe

    if not data:
        raise InvalidVideo("the uploaded video is empty")
    suffix = Path(filename or "upload.mp4").suffix[:8] or ".mp4"
    work = files.temp_path(suffix)
    try:
        work.write_bytes(data)
        info = probe(work)  # InvalidVideo for anything FFmpeg cannot read as a video
        if info.frames == 0:
            raise InvalidVideo("the video has no decodable frames")
        if info.duration > MAX_SYNC_SECONDS:
            raise VideoTooLong(
                f"the video is {info.duration:.1f} s; scans are synchronous up to {MAX_SYNC_SECONDS:.0f} s"
            )
        report = detect_video(work, verifier=verifier, classifier=classifier, max_bytes=max_bytes)
    finally:
        work.unlink(missing_ok=True)
    if report.unreadable:
        raise InvalidVideo(report.reason or "unreadable video")
    body = report.to_dict()
    detection = Detection(
        partner_id=partner.id,
        filename=filename,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        verdict=body["verdict"],
        report={k: body[k] for k in _REPORT_FIELDS},
    )
    session.add(detection)
    session.flush()  # assigns the id the log entry names
    generation = body["generation"] or {}
    classifier_report = body["classifier"] or {}
    log.append_in(
        session,
        "detection.performed",
        actor=partner.id,
        subject=detection.id,
        details={
            "sha256": detection.sha256,
            "verdict": detection.verdict,
            "generation_id": generation.get("generation_id"),
            "probability": classifier_report.get("probability"),
        },
    )
    session.commit()
    return detection


def get_detection(*, session: Session, partner: Partner, detection_id: str) -> Detection:
    """One of ``partner``'s detections (another partner's looks absent: NotFound)."""
    return get_owned(session, Detection, partner, detection_id, "detection")


def list_detections(*, session: Session, partner: Partner, limit: int = 50) -> list[Detection]:
    """``partner``'s most recent detections, newest first (its scan history)."""
    query = (
        select(Detection)
        .where(Detection.partner_id == partner.id)
        .order_by(Detection.created_at.desc(), Detection.id.desc())
        .limit(max(1, limit))
    )
    return list(session.scalars(query))


def detection_record(detection: Detection) -> dict[str, Any]:
    """The detection as the API shows it (no partner id)."""
    return {
        "id": detection.id,
        "created_at": detection.created_at,
        "filename": detection.filename,
        "size_bytes": detection.size_bytes,
        "sha256": detection.sha256,
        "verdict": detection.verdict,
        **detection.report,
    }
