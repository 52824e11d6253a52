"""Face identity: an image with one face -> a 128-d embedding, and the distance between two.

dlib's ResNet face-recognition model (``dlib-bin``, weights from ``face-recognition-models``, both
in their wheels: fully offline). Embeddings of one person lie close (Euclidean distance); a
consent's reference photo and every portrait enrolled under it are compared here.

The models load on first use (about 120 MB, ~2 s) once per process and are shared behind a lock:
dlib's objects are not safe to call from two threads at once, and a copy per request thread (the
API's thread pool has up to 40) would cost gigabytes. One face takes ~0.2 s, so enrolments queue.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from candor.errors import NoFaceFound

EMBEDDING_SIZE = 128
# Chosen from benchmarks/identity.py (README "Consent bound to a face"): the same person under
# photographic edits measured 0.00-0.38, the closest different people 0.57-0.58. dlib's usual
# 0.6 would sit past those impostors; a false accept animates someone who did not consent.
MATCH_THRESHOLD = 0.5
# The landmark model expects dlib-style face boxes; an external box (e.g. mediapipe's) is used
# only when the HOG detector finds no face, which happens on strong stylization and big poses.
_UPSAMPLE = 1
# HOG detections scoring below this are not counted as another face: the astronaut photo's suit
# patch scores 0.12-0.13 where real faces score above 1.
COUNTED_FACE_SCORE = 0.5
_JITTERS = 1

_lock = threading.Lock()
_loaded: dict[str, object] = {}


@dataclass(frozen=True)
class FaceIdentity:
    """One face's identity embedding and where it was found.

    ``embedding`` is (128,) float32; ``box_xyxy`` in the image's pixels; ``detector`` tells
    whether dlib's own detector or the caller's box framed the face; ``faces_found`` counts dlib's
    confident detections (0 when the caller's box was used).
    """

    embedding: np.ndarray
    box_xyxy: tuple[int, int, int, int]
    detector: str
    faces_found: int

    def as_list(self) -> list[float]:
        """JSON-able embedding, rounded to 6 decimals (far below the distance scale of 0.01)."""
        return [round(float(v), 6) for v in self.embedding]


def _models_dir() -> Path:
    # find_spec locates the package without running its __init__, which needs pkg_resources
    # (setuptools), absent from modern environments.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face-recognition-models is not installed (pip install face-recognition-models)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _models() -> dict[str, Any]:
    """The process's dlib detector, 68-point shape predictor and ResNet encoder; call under _lock."""
    if not _loaded:
        import dlib

        models = _models_dir()
        _loaded["detector"] = dlib.get_frontal_face_detector()
        _loaded["shape"] = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
        _loaded["encoder"] = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        _loaded["rectangle"] = dlib.rectangle
    return _loaded


def embed_face(image: np.ndarray, box_xyxy: tuple[float, float, float, float] | None = None) -> FaceIdentity:
    """The identity embedding of the one (best-scoring) face in an RGB uint8 image (H, W, 3).

    dlib's HOG detector frames the face; when it finds none, ``box_xyxy`` (pixels, e.g. from the
    mediapipe analysis) frames it instead. NoFaceFound when neither gives a face.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3); got {image.dtype} {image.shape}")
    image = np.ascontiguousarray(image)
    with _lock:
        m = _models()
        found, scores, _ = m["detector"].run(image, _UPSAMPLE, 0.0)
        if len(found):
            rect = found[int(np.argmax(scores))]
            detector = "dlib"
        elif box_xyxy is not None:
            x0, y0, x1, y1 = (int(round(v)) for v in box_xyxy)
            rect = m["rectangle"](x0, y0, x1, y1)
            detector = "given"
        else:
            raise NoFaceFound("no face found for identity matching")
        shape = m["shape"](image, rect)
        descriptor = m["encoder"].compute_face_descriptor(image, shape, _JITTERS)
    embedding = np.asarray(descriptor, dtype=np.float32)
    counted = sum(1 for score in scores if score >= COUNTED_FACE_SCORE)
    return FaceIdentity(
        embedding=embedding,
        box_xyxy=(rect.left(), rect.top(), rect.right(), rect.bottom()),
        detector=detector,
        faces_found=max(counted, 1) if len(found) else 0,
    )


def identity_distance(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> float:
    """Euclidean distance between two 128-d embeddings: below MATCH_THRESHOLD is the same person."""
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if va.shape != (EMBEDDING_SIZE,) or vb.shape != (EMBEDDING_SIZE,):
        raise ValueError(f"embeddings must be ({EMBEDDING_SIZE},); got {va.shape} and {vb.shape}")
    return float(np.linalg.norm(va - vb))
