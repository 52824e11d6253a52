"""Face analysis, the encoder side: portrait -> framed 512x512 image, landmarks, pose, identity.

Uses mediapipe 0.10.21's legacy solutions, whose models ship inside the wheel (fully offline):
full-range face detection to find and count faces, the face mesh with iris refinement (478
points) and selfie segmentation for the person/hair mask.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from candor.errors import ImageTooLarge, InvalidImage, NoFaceFound
from candor.generator import landmarks as L
from candor.generator import motion
from candor.generator.canonical import load_template
from candor.generator.geometry import angles_from_rotation, similarity_fit

FRAME = 512
# Default framing: forehead(10)->chin(152) spans this many pixels at scale 1.0, and the face's
# rigid centroid (around the nose bridge) sits at this height: a VASA-like head-and-shoulders crop.
DEFAULT_FACE_HEIGHT = 0.45 * FRAME
FACE_CENTRE_Y = 0.44 * FRAME
MAX_MEGAPIXELS = 50.0
# Eye aperture (mean lid gap / eye width) of an open, relaxed eye in mediapipe's mesh.
OPEN_EYE_RATIO = 0.30
# Eyeball radius as a fraction of the eye's corner-to-corner width (about 12 mm / 30 mm).
EYEBALL_RADIUS = 0.40

_local = threading.local()
# What Pillow raises on damaged files, depending on the codec and where the damage is (a
# malformed EXIF block surfaces as AttributeError/TypeError in exif_transpose).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, AttributeError, TypeError, IndexError, struct.error)


def _solutions():
    """Per-thread mediapipe solution objects (they are not thread-safe); created on first use."""
    if not hasattr(_local, "mesh"):
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import mediapipe as mp

        _local.detector = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
        _local.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3
        )
        _local.segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
    return _local


def load_image(source: str | Path | bytes | np.ndarray, max_megapixels: float = MAX_MEGAPIXELS) -> np.ndarray:
    """Read PNG/JPEG/WebP/... (path, bytes or an array) into an RGB uint8 array (H, W, 3).

    Raises InvalidImage for a missing, unreadable or truncated file, ImageTooLarge above
    ``max_megapixels`` (checked from the header, before decoding: no decompression bombs).
    """
    if isinstance(source, np.ndarray):
        arr = source
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4) or min(arr.shape[:2]) < 16:
            raise InvalidImage(f"expected an RGB image array, got shape {arr.shape}")
        if arr.dtype != np.uint8:
            arr = np.clip(arr * (255 if arr.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(arr[..., :3])

    from PIL import Image, ImageOps, UnidentifiedImageError

    name = "image" if isinstance(source, bytes) else str(source)
    if not isinstance(source, bytes):
        path = Path(source)
        if not path.is_file():
            raise InvalidImage(f"image file not found: {path}")
        source = path.read_bytes()
    if not source:
        raise InvalidImage(f"{name} is empty")
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # we check the size ourselves, before decoding
    try:
        try:
            img = Image.open(io.BytesIO(source))
        except UnidentifiedImageError:
            raise InvalidImage(f"{name} is not an image (unrecognized format)") from None
        except _DECODE_ERRORS as exc:
            raise InvalidImage(f"{name} is truncated or corrupt ({exc})") from None
        width, height = img.size
        if width * height > max_megapixels * 1e6:
            raise ImageTooLarge(
                f"{name} is {width}x{height} ({width * height / 1e6:.0f} MP); the limit is {max_megapixels:.0f} MP"
            )
        try:
            img.load()
            img = ImageOps.exif_transpose(img).convert("RGB")
        except _DECODE_ERRORS as exc:
            raise InvalidImage(f"{name} is truncated or corrupt ({exc})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    if min(img.size) < 32:
        raise InvalidImage(f"{name} is too small ({img.size[0]}x{img.size[1]}); need at least 32x32 pixels")
    return np.asarray(img)


@dataclass(frozen=True)
class FaceBox:
    """A detected face: box in pixels (x0, y0, x1, y1) and detector score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)


def detect_faces(image: np.ndarray) -> list[FaceBox]:
    """All faces mediapipe's full-range detector finds, largest first."""
    h, w = image.shape[:2]
    result = _solutions().detector.process(image)
    boxes = []
    for det in result.detections or []:
        b = det.location_data.relative_bounding_box
        boxes.append(
            FaceBox(b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h, float(det.score[0]))
        )
    return sorted(boxes, key=lambda b: -b.area)


def mesh_landmarks(image: np.ndarray) -> np.ndarray | None:
    """478x3 landmarks in pixels of the face mediapipe's mesh finds searching the whole image, or
    None (no face detector first: it fits a face to anything face-like, so callers confirm it)."""
    result = _solutions().mesh.process(image)
    if not result.multi_face_landmarks:
        return None
    h, w = image.shape[:2]
    pts = np.array([[p.x, p.y, p.z] for p in result.multi_face_landmarks[0].landmark], np.float32)
    return pts * np.array([w, h, w], np.float32)


def detect_landmarks(image: np.ndarray, box: FaceBox | None = None) -> list[np.ndarray]:
    """478x3 landmarks in pixels of ``image`` for the face in ``box`` (default: every detected
    face, largest first). The mesh runs on a square crop around each box so small faces in large
    photos are found too."""
    boxes = [box] if box is not None else detect_faces(image)
    if not boxes:
        whole = mesh_landmarks(image)
        return [whole] if whole is not None else []
    import cv2

    out = []
    for b in boxes:
        cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
        side = 2.2 * max(b.x1 - b.x0, b.y1 - b.y0)
        k = 512.0 / side
        M = np.array([[k, 0, 256 - k * cx], [0, k, 256 - k * cy]], np.float32)
        crop = cv2.warpAffine(image, M, (512, 512), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
        pts = mesh_landmarks(crop)
        if pts is None:
            continue
        pts[:, 0] = (pts[:, 0] - M[0, 2]) / k
        pts[:, 1] = (pts[:, 1] - M[1, 2]) / k
        pts[:, 2] = pts[:, 2] / k
        out.append(pts)
    return out


@dataclass
class PoseFit:
    """Rigid fit of observed landmarks to the canonical shape: ``px ~ s * R @ canon + t``.

    ``canonical``: the observed face brought back to the frontal canonical frame (face-height
    units), i.e. the subject's identity shape with its current expression."""

    s: float
    R: np.ndarray
    t: np.ndarray
    canonical: np.ndarray

    @property
    def angles(self) -> tuple[float, float, float]:
        return angles_from_rotation(self.R)

    def pose_vector(self, frame: int = FRAME) -> np.ndarray:
        """(6,) yaw, pitch, roll (deg), tx, ty (frame widths), scale, as in ``motion.POSE``."""
        yaw, pitch, roll = self.angles
        tx = (self.t[0] - frame / 2) / frame
        ty = (self.t[1] - FACE_CENTRE_Y * frame / FRAME) / frame
        return np.array([yaw, pitch, roll, tx, ty, self.s / (DEFAULT_FACE_HEIGHT * frame / FRAME)], np.float32)


def fit_pose(points: np.ndarray) -> PoseFit:
    """Similarity fit of (478, 3) pixel landmarks to the canonical frontal shape (rigid points)."""
    template, _ = load_template()
    rigid = list(L.RIGID)
    s, R, t = similarity_fit(template[rigid], points[rigid])
    canonical = ((points - t) @ R) / s
    return PoseFit(s, R, t, canonical.astype(np.float32))


def _eye_measures(shape: np.ndarray, upper, lower, corners, iris) -> tuple[float, float, float]:
    """Aperture ratio and iris offset (x, y as a fraction of eye width) in a canonical shape."""
    width = np.linalg.norm(shape[corners[0], :2] - shape[corners[1], :2])
    gap = np.mean(np.linalg.norm(shape[list(upper[2:-2]), :2] - shape[list(lower[2:-2]), :2], axis=1))
    centre = (shape[corners[0]] + shape[corners[1]]) / 2
    off = (shape[iris[0]] - centre) / width
    return float(gap / width), float(off[0]), float(off[1])


def estimate_baseline(fit: PoseFit) -> np.ndarray:
    """The portrait's own motion vector: its pose, and the dynamics it already shows
    (mouth opening, eyelid closure, gaze) measured from the landmarks."""
    from candor.generator.blendshapes import JAW_OPEN_GAP

    c = fit.canonical
    v = motion.neutral_vector()
    v[motion.POSE_SLICE] = fit.pose_vector()
    lip_gap = float(np.linalg.norm(c[L.UPPER_LIP_INNER] - c[L.LOWER_LIP_INNER]))
    v[motion.index("jawOpen")] = np.clip((lip_gap - 0.01) / JAW_OPEN_GAP, 0.0, 1.0)
    gazes = []
    for side, upper, lower, corners, iris in (
        ("Right", L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER, L.RIGHT_EYE_CORNERS, L.RIGHT_IRIS),
        ("Left", L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER, L.LEFT_EYE_CORNERS, L.LEFT_IRIS),
    ):
        ratio, ox, oy = _eye_measures(c, upper, lower, corners, iris)
        v[motion.index(f"eyeBlink{side}")] = np.clip(1.0 - ratio / OPEN_EYE_RATIO, 0.0, 0.9)
        gazes.append((ox, oy))
    # Zero gaze is the iris position of the canonical face (looking straight ahead).
    template, _ = load_template()
    rest = [
        _eye_measures(template, L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER, L.RIGHT_EYE_CORNERS, L.RIGHT_IRIS)[1:],
        _eye_measures(template, L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER, L.LEFT_EYE_CORNERS, L.LEFT_IRIS)[1:],
    ]
    ox, oy = np.mean(gazes, axis=0) - np.mean(rest, axis=0)
    v[motion.index("gazeYaw")] = np.degrees(np.arcsin(np.clip(ox / EYEBALL_RADIUS, -0.9, 0.9)))
    v[motion.index("gazePitch")] = -np.degrees(np.arcsin(np.clip(oy / EYEBALL_RADIUS, -0.9, 0.9)))
    return v


@dataclass
class SourceFace:
    """A portrait ready to animate.

    image: (512, 512, 3) uint8 RGB framed portrait.
    landmarks: (478, 3) float32 pixels in ``image`` (x right, y down, z = mediapipe z * 512,
        negative toward the camera).
    pose: (6,) yaw, pitch, roll (deg), tx, ty (frame widths), scale (see ``motion``).
    fit: the rigid fit (canonical identity shape, rotation, scale, translation).
    person_mask: (512, 512) float32 0..1 person (incl. hair) from selfie segmentation.
    baseline: (motion.DIM,) the portrait's own motion vector.
    box: the face box in the original image; faces_found: how many faces the photo has.
    notes: human-readable remarks (e.g. which of several faces was used).
    """

    image: np.ndarray
    landmarks: np.ndarray
    pose: np.ndarray
    fit: PoseFit
    person_mask: np.ndarray
    baseline: np.ndarray
    box: FaceBox | None = None
    faces_found: int = 1
    notes: list[str] = field(default_factory=list)


def frame_portrait(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop/scale ``image`` to 512x512 with the face at Candor's default framing; pads by edge
    extension where the photo is too tight. Returns (framed image, 2x3 affine used)."""
    import cv2

    rigid = list(L.RIGID)
    height = float(np.linalg.norm(points[L.FOREHEAD, :2] - points[L.CHIN, :2]))
    if height < 8:
        raise NoFaceFound("the face is too small to animate (under 8 pixels tall)")
    centre = points[rigid, :2].mean(0)
    k = DEFAULT_FACE_HEIGHT / height
    src = image
    if k < 0.5:  # pre-shrink with area averaging so the final warp does not alias
        pre = 1.0 / max(1, int(0.5 / k))
        src = cv2.resize(image, None, fx=pre, fy=pre, interpolation=cv2.INTER_AREA)
        k, centre = k / pre, centre * pre
    M = np.array([[k, 0, FRAME / 2 - k * centre[0]], [0, k, FACE_CENTRE_Y - k * centre[1]]], np.float32)
    framed = cv2.warpAffine(src, M, (FRAME, FRAME), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return framed, M


def letterbox(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the user's framing: scale the longer side to 512 and pad by edge extension.
    Returns (image, 2x3 affine used)."""
    import cv2

    h, w = image.shape[:2]
    k = FRAME / max(h, w)
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    M = np.array([[k, 0, (FRAME - k * w) / 2], [0, k, (FRAME - k * h) / 2]], np.float32)
    return cv2.warpAffine(image, M, (FRAME, FRAME), flags=interp, borderMode=cv2.BORDER_REPLICATE), M


def analyze_image(
    source: str | Path | bytes | np.ndarray,
    *,
    keep_framing: bool = False,
    face_index: int | None = None,
    max_megapixels: float = MAX_MEGAPIXELS,
) -> SourceFace:
    """Analyse a portrait (path, bytes or RGB array) into a :class:`SourceFace`.

    Several faces: the largest is used (``notes`` says so) unless ``face_index`` picks one
    (0 = largest). Raises InvalidImage / ImageTooLarge / NoFaceFound with a message.
    """
    image = load_image(source, max_megapixels)
    boxes = detect_faces(image)
    if face_index is not None and not 0 <= face_index < max(len(boxes), 1):
        raise NoFaceFound(f"face {face_index} requested but the image has {len(boxes)} face(s)")
    notes = []
    if len(boxes) > 1:
        chosen = face_index or 0
        notes.append(
            f"found {len(boxes)} faces; using face {chosen} ({'the largest' if chosen == 0 else 'as requested'}). "
            "Choose another with --face N (0 = largest)."
        )
    box = boxes[face_index or 0] if boxes else None
    found = detect_landmarks(image, box)
    if not found:
        raise NoFaceFound("no face found in the image")
    framed, M = letterbox(image) if keep_framing else frame_portrait(image, found[0])
    # Re-run the mesh on the framed image (so landmarks match its pixels exactly), seeded with
    # the box of the first pass's landmarks carried through the framing transform.
    moved = found[0][: L.N_SURFACE, :2] @ M[:, :2].T + M[:, 2]
    seed = FaceBox(*moved.min(0), *moved.max(0), 1.0)
    points = detect_landmarks(framed, seed)
    if points:
        pts = points[0]
    else:  # stylised images can defeat the mesh's own detector at the new scale: carry the points over
        k = float(np.sqrt(abs(np.linalg.det(M[:, :2]))))
        pts = np.concatenate([found[0][:, :2] @ M[:, :2].T + M[:, 2], found[0][:, 2:] * k], axis=1).astype(np.float32)
    fit = fit_pose(pts)
    mask = _solutions().segmenter.process(framed).segmentation_mask.astype(np.float32)
    return SourceFace(
        image=framed,
        landmarks=pts,
        pose=fit.pose_vector(),
        fit=fit,
        person_mask=np.clip(mask, 0.0, 1.0),
        baseline=estimate_baseline(fit),
        box=box,
        faces_found=len(boxes),
        notes=notes,
    )
