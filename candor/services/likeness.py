"""The subject's face: portrait analysis (exactly one face, its pose) and its identity against the
consent's reference photo (generator.identity: dlib's 128-d ResNet embedding)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from sqlalchemy.orm import Session

from candor.errors import InvalidEvidence, MultipleFaces, NoFaceFound, PortraitIdentityMismatch
from candor.generator.identity import MATCH_THRESHOLD, FaceIdentity, embed_face, identity_distance
from candor.services.common import EventLog
from candor.services.evidence import (
    GENERIC_TYPE,
    REFERENCE_TYPES,
    check_declared_type,
    check_image_container,
    read_bounded,
)
from candor.store.filestore import FileStore
from candor.store.models import Consent, Partner

MAX_REFERENCE_BYTES = 50 << 20
# A consent video: up to 30 s at 25 fps is read, and a face is taken every half second (at most 8).
MAX_VIDEO_FRAMES = 750
VIDEO_STRIDE = 12
VIDEO_SAMPLES = 8


def analyze_portrait(image: bytes, *, max_megapixels: float) -> dict[str, object]:
    """Analyse a portrait for enrolment: exactly one face, framed and posed.

    Returns a small JSON-able summary (pose in degrees, face box in original pixels). Raises
    InvalidImage (corrupt/not an image), ImageTooLarge, NoFaceFound or MultipleFaces.
    """
    from candor.generator.face import analyze_image  # mediapipe loads on first use only

    check_image_container(image)
    face = analyze_image(image, max_megapixels=max_megapixels)
    if face.faces_found > 1:
        raise MultipleFaces(
            f"the portrait shows {face.faces_found} faces; enrol a photo of the consenting person alone"
        )
    yaw, pitch, roll = (float(a) for a in face.fit.angles)
    summary: dict[str, object] = {
        "faces_found": int(face.faces_found),
        "yaw_deg": round(yaw, 2),
        "pitch_deg": round(pitch, 2),
        "roll_deg": round(roll, 2),
    }
    if face.box is not None:
        box = face.box
        summary["box_xyxy"] = [round(float(v), 1) for v in (box.x0, box.y0, box.x1, box.y1)]
    return summary


def read_reference(
    image: bytes | BinaryIO, media_type: str | None, *, files: FileStore, max_megapixels: float = 50.0
) -> tuple[bytes, str, list[float]]:
    """Check a reference of the subject and compute its identity embedding (128 floats).

    A photo must show exactly one face. A short consent video (MP4/MOV/WebM) is sampled every
    ``VIDEO_STRIDE`` frames within its first ``MAX_VIDEO_FRAMES``: each sampled face must be the
    same one person, and the reference is their mean embedding. Returns (bytes, media type,
    embedding); InvalidEvidence/EvidenceTypeMismatch, NoFaceFound or MultipleFaces otherwise.
    """
    data = read_bounded(image, MAX_REFERENCE_BYTES, "reference")
    media_type = check_declared_type(data, media_type or GENERIC_TYPE, REFERENCE_TYPES, "reference")
    if media_type.startswith("image/"):
        summary = analyze_portrait(data, max_megapixels=max_megapixels)
        return data, media_type, identity_of(data, summary).as_list()
    path = files.stage(io.BytesIO(data), MAX_REFERENCE_BYTES, suffix=".video")
    try:
        embedding = _video_identity(path)
    finally:
        path.unlink(missing_ok=True)
    return data, media_type, [round(float(v), 6) for v in embedding]


def _video_identity(path: Path) -> np.ndarray:
    from candor.errors import InvalidVideo
    from candor.generator.video import read_frames

    faces: list[np.ndarray] = []
    try:
        for index, frame in enumerate(read_frames(path, max_frames=MAX_VIDEO_FRAMES)):
            if index % VIDEO_STRIDE or len(faces) >= VIDEO_SAMPLES:
                continue
            try:
                face = embed_face(np.ascontiguousarray(frame))
            except NoFaceFound:
                continue  # the subject may turn away for a moment; other samples decide
            if face.faces_found > 1:
                raise MultipleFaces(f"the reference video shows {face.faces_found} faces at frame {index}")
            faces.append(face.embedding)
    except InvalidVideo:
        raise InvalidEvidence("the reference video cannot be read (corrupt, or no video frames)") from None
    if not faces:
        raise NoFaceFound("no face found in the reference video's sampled frames")
    for other in faces[1:]:
        if identity_distance(faces[0], other) >= MATCH_THRESHOLD:
            raise InvalidEvidence("the reference video shows more than one person; it must show the subject alone")
    return np.mean(faces, axis=0)


def store_reference(consent: Consent, files: FileStore, data: bytes, media_type: str, embedding: list[float]) -> None:
    stored = files.put_stream(io.BytesIO(data), MAX_REFERENCE_BYTES)
    consent.reference_sha256 = stored.sha256
    consent.reference_type = media_type
    consent.reference_embedding = embedding


def identity_of(image: bytes, face_summary: dict[str, Any]) -> FaceIdentity:
    """The face identity of the one face in ``image``."""
    from candor.generator.face import load_image  # mediapipe's module: imported on first use

    box = face_summary.get("box_xyxy")
    return embed_face(load_image(image), tuple(box) if box else None)


def match_reference(
    *, session: Session, log: EventLog, partner: Partner, consent: Consent, image: bytes, face_summary: dict[str, Any]
) -> float:
    """The identity distance of ``image``'s face to the consent's reference, if below the
    threshold; else the refusal is logged (``portrait.identity_mismatch``, committed) and
    PortraitIdentityMismatch (403) raised."""
    # The face must be the consenting subject's: a consent covers one person, not any face.
    distance = identity_distance(identity_of(image, face_summary).embedding, consent.reference_embedding)
    if distance >= MATCH_THRESHOLD:
        log.append_in(
            session,
            "portrait.identity_mismatch",
            actor=partner.id,
            subject=consent.id,
            details={"distance": round(distance, 4), "threshold": MATCH_THRESHOLD},
        )
        session.commit()
        raise PortraitIdentityMismatch(
            f"the portrait's face does not match consent {consent.id}'s subject "
            f"(identity distance {distance:.3f}; the same person is below {MATCH_THRESHOLD})",
            distance=distance,
        )
    return distance
