"""What the classifier sees of a video: aligned face crops plus temporal cues, sampled a few times a second.

One code path for training data and for detection: :func:`extract_video` decodes a file once,
keeps a frame (and the frame right after it) every ``1 / sample_fps`` seconds, runs mediapipe's face
mesh on it and returns a :class:`ClipFeatures`:

- ``crops`` (N, 96, 96, 3) uint8: the face similarity-aligned on eye centres and mouth centre.
- ``temporal`` (N, D) float32, :data:`TEMPORAL_NAMES`: landmark motion between consecutive samples
  split into rigid (head) and non-rigid (expression) parts, mouth and eye apertures and their changes,
  and the frame-difference energy of adjacent frames in the mouth, eyes, rest of the face and the
  background (a warped still renders a background that does not change; a camera sees noise), the
  share of background pixels that did not change at all, the neck-and-shoulder band's change against
  the face's (a portrait animator moves the head, not the body), and how well the fine grain of a frame
  (the frame minus its blur) matches the next frame's in the face and in the background (a still
  photo's grain is carried along by the warp; a camera's sensor noise is drawn afresh every frame).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from candor.detector.sampling import Sampler, adaptive
from candor.errors import InvalidVideo
from candor.generator import landmarks as L

CROP = 96
DEFAULT_SAMPLE_FPS = 4.0
# Where the aligned crop puts the subject's eye centres and mouth centre, in crop pixels (96 px).
_TEMPLATE = np.float32([[33.0, 38.0], [63.0, 38.0], [48.0, 70.0]])
TEMPORAL_NAMES = (
    "nonrigid_all",  # mean landmark residual after a similarity fit to the previous sample, / eye distance
    "nonrigid_mouth",
    "nonrigid_eyes",
    "rigid_translation",  # / eye distance
    "rigid_scale",  # |log scale change|
    "rigid_rotation",  # |radians|
    "mouth_aperture",  # inner-lip gap / mouth width
    "mouth_aperture_change",
    "eye_aperture",  # mean lid gap / eye width
    "eye_aperture_change",
    "diff_mouth",  # mean |luma difference| of adjacent frames, 0..255
    "diff_eyes",
    "diff_face",
    "diff_background",
    "log_ratio_mouth_face",
    "log_ratio_eyes_face",
    "log_ratio_face_background",
    # What a portrait animator cannot hide (added with the product dataset, issue 16):
    "static_background",  # share of background pixels unchanged (|difference| < 1 grey level)
    "log_ratio_below_face",  # neck/shoulder band below the chin vs face difference energy (log)
    "grain_corr_face",  # correlation of the fine grain (frame minus its blur) of adjacent frames, face
    "grain_corr_background",  # the same in the background: a camera's noise is new every frame
)
TEMPORAL_DIM = len(TEMPORAL_NAMES)
_EPS = 0.05  # grey levels: keeps log-ratios finite on perfectly still (rendered) regions


@dataclass
class ClipFeatures:
    """Samples of one video. ``times`` in seconds; ``boxes`` (N, 4) x0, y0, x1, y1 in frame pixels;
    ``thumbs`` (N, 64, 64, 3) uint8 small views of the sampled frames (for reports); ``sampled``: how many
    frames were looked at for a face (more than ``sample_fps`` a second where adaptive sampling ran,
    ``dense``; 0 where not recorded)."""

    crops: np.ndarray
    temporal: np.ndarray
    times: np.ndarray
    boxes: np.ndarray
    thumbs: np.ndarray
    frames_decoded: int
    fps: float
    width: int
    height: int
    sampled: int = 0
    dense: bool = False

    @property
    def n(self) -> int:
        return len(self.times)


def _eye_centres(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    right = pts[list(L.RIGHT_EYE_UPPER + L.RIGHT_EYE_LOWER), :2].mean(0)
    left = pts[list(L.LEFT_EYE_UPPER + L.LEFT_EYE_LOWER), :2].mean(0)
    return right, left


def align_crop(frame: np.ndarray, pts: np.ndarray, size: int = CROP) -> np.ndarray:
    """(size, size, 3) uint8: ``frame`` warped so the eyes and mouth of ``pts`` (478, 3 px) land on a template."""
    import cv2

    right, left = _eye_centres(pts)
    mouth = pts[list(L.LIPS_OUTER), :2].mean(0)
    src = np.float32([right, left, mouth])  # image-left eye first (the subject's right)
    M, _ = cv2.estimateAffinePartial2D(src, _TEMPLATE * (size / CROP))
    if M is None:  # degenerate landmarks: fall back to the face box
        x0, y0 = pts[:, :2].min(0)
        x1, y1 = pts[:, :2].max(0)
        k = size / max(x1 - x0, y1 - y0, 1.0)
        M = np.float32([[k, 0, -k * x0], [0, k, -k * y0]])
    return cv2.warpAffine(frame, M, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def _similarity_residual(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """Fit b ~ s R a + t (2-D points). Returns (per-point residual, |t|, |log s|, |angle|)."""
    ma, mb = a.mean(0), b.mean(0)
    a0, b0 = a - ma, b - mb
    # complex-number least squares: b0 = z * a0 with z = s e^{i theta}
    za = a0[:, 0] + 1j * a0[:, 1]
    zb = b0[:, 0] + 1j * b0[:, 1]
    z = np.vdot(za, zb) / max(np.vdot(za, za).real, 1e-9)
    fitted = z * za
    residual = np.abs(zb - fitted)
    return residual, float(np.linalg.norm(mb - ma)), float(abs(np.log(max(abs(z), 1e-6)))), float(abs(np.angle(z)))


def _aperture(pts: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...], corners: tuple[int, int]) -> float:
    width = np.linalg.norm(pts[corners[0], :2] - pts[corners[1], :2])
    gap = np.linalg.norm(pts[list(upper), :2] - pts[list(lower), :2], axis=1).mean()
    return float(gap / max(width, 1e-6))


def _region_masks(shape: tuple[int, int], pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks (mouth, eyes, rest of face, background) at ``shape`` from the landmarks."""
    import cv2

    h, w = shape
    face = np.zeros((h, w), np.uint8)
    cv2.fillPoly(face, [np.round(pts[list(L.FACE_OVAL), :2]).astype(np.int32)], 1)
    mouth = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mouth, [cv2.convexHull(np.round(pts[list(L.LIPS_OUTER), :2]).astype(np.int32))], 1)
    mouth = cv2.dilate(mouth, np.ones((5, 5), np.uint8))
    eyes = np.zeros((h, w), np.uint8)
    for ring in (L.RIGHT_EYE_UPPER + L.RIGHT_EYE_LOWER, L.LEFT_EYE_UPPER + L.LEFT_EYE_LOWER):
        cv2.fillPoly(eyes, [cv2.convexHull(np.round(pts[list(ring), :2]).astype(np.int32))], 1)
    eyes = cv2.dilate(eyes, np.ones((5, 5), np.uint8))
    rest = (face > 0) & (mouth == 0) & (eyes == 0)
    background = face == 0
    return mouth > 0, eyes > 0, rest, background


def _masked_mean(diff: np.ndarray, mask: np.ndarray) -> float:
    return float(diff[mask].mean()) if mask.any() else 0.0


def _below_face(shape: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    """The band under the chin (neck and shoulders): one face height tall, 1.6 face widths wide."""
    h, w = shape
    x0, y0 = pts[:, :2].min(0)
    x1, y1 = pts[:, :2].max(0)
    fw, fh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    mask = np.zeros((h, w), bool)
    top, bottom = int(min(max(y1 + 0.1 * fh, 0), h)), int(min(max(y1 + fh, 0), h))
    left, right = int(min(max(cx - 0.8 * fw, 0), w)), int(min(max(cx + 0.8 * fw, 0), w))
    mask[top:bottom, left:right] = True
    return mask


def _grain(gray: np.ndarray) -> np.ndarray:
    import cv2

    return gray - cv2.GaussianBlur(gray, (0, 0), 1.2)


def _correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Pearson correlation of ``a`` and ``b`` over ``mask`` (1.0 when both are flat there)."""
    x, y = a[mask], b[mask]
    if len(x) < 16:
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    den = float(np.sqrt(np.dot(x, x) * np.dot(y, y)))
    return float(np.dot(x, y) / den) if den > 1e-6 else 1.0


class _Sequence:
    """Accumulates samples; each needs the previous sample's landmarks for its motion cues."""

    def __init__(self) -> None:
        self.crops: list[np.ndarray] = []
        self.temporal: list[np.ndarray] = []
        self.times: list[float] = []
        self.boxes: list[np.ndarray] = []
        self.thumbs: list[np.ndarray] = []
        self._prev: np.ndarray | None = None

    def add(self, t: float, frame: np.ndarray, following: np.ndarray, pts: np.ndarray) -> None:
        import cv2

        right, left = _eye_centres(pts)
        iod = max(float(np.linalg.norm(left - right)), 1.0)
        f = np.zeros(TEMPORAL_DIM, np.float32)
        if self._prev is not None:
            res, trans, scale, rot = _similarity_residual(self._prev[: L.N_SURFACE, :2], pts[: L.N_SURFACE, :2])
            f[0] = res.mean() / iod
            f[1] = res[list(L.LIPS_OUTER + L.LIPS_INNER)].mean() / iod
            f[2] = res[list(L.RIGHT_EYE_UPPER + L.RIGHT_EYE_LOWER + L.LEFT_EYE_UPPER + L.LEFT_EYE_LOWER)].mean() / iod
            f[3], f[4], f[5] = trans / iod, scale, rot
        mouth_ap = _aperture(pts, L.UPPER_LIP[9:], L.LOWER_LIP[9:], (L.MOUTH_CORNER_RIGHT, L.MOUTH_CORNER_LEFT))
        eye_ap = 0.5 * (
            _aperture(pts, L.RIGHT_EYE_UPPER[1:-1], L.RIGHT_EYE_LOWER[1:-1], L.RIGHT_EYE_CORNERS)
            + _aperture(pts, L.LEFT_EYE_UPPER[1:-1], L.LEFT_EYE_LOWER[1:-1], L.LEFT_EYE_CORNERS)
        )
        f[6], f[8] = mouth_ap, eye_ap
        if self._prev is not None:
            f[7], f[9] = abs(mouth_ap - self.temporal[-1][6]), abs(eye_ap - self.temporal[-1][8])
        g0 = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        g1 = cv2.cvtColor(following, cv2.COLOR_RGB2GRAY).astype(np.float32)
        diff = np.abs(g1 - g0)
        mouth, eyes, rest, background = _region_masks(diff.shape, pts)
        f[10], f[11], f[12], f[13] = (_masked_mean(diff, m) for m in (mouth, eyes, rest, background))
        f[14] = np.log((f[10] + _EPS) / (f[12] + _EPS))
        f[15] = np.log((f[11] + _EPS) / (f[12] + _EPS))
        f[16] = np.log((f[12] + _EPS) / (f[13] + _EPS))
        # The four cues below read every second pixel of every second row: a quarter of the cost, and
        # still tens of thousands of pixels per estimate (the 60 s scan must stay within 10 s).
        diff_s, rest_s, background_s = diff[::2, ::2], rest[::2, ::2], background[::2, ::2]
        f[17] = float((diff_s[background_s] < 1.0).mean()) if background_s.any() else 0.0
        below = _below_face(diff.shape, pts)[::2, ::2] & background_s
        f[18] = np.log((_masked_mean(diff_s, below) + _EPS) / (f[12] + _EPS))
        if following is frame and self.temporal:  # the last frame has no successor: borrow the previous sample's
            f[17:21] = self.temporal[-1][17:21]
        else:
            grain0, grain1 = _grain(g0)[::2, ::2], _grain(g1)[::2, ::2]
            f[19] = _correlation(grain0, grain1, rest_s)
            f[20] = _correlation(grain0, grain1, background_s)
        self.temporal.append(f)
        self.crops.append(align_crop(frame, pts))
        self.times.append(t)
        x0, y0 = pts[:, :2].min(0)
        x1, y1 = pts[:, :2].max(0)
        self.boxes.append(np.float32([x0, y0, x1, y1]))
        self.thumbs.append(cv2.resize(frame, (64, 64), interpolation=cv2.INTER_AREA))
        self._prev = pts

    def lose_track(self) -> None:
        """No face in this sample: the next one starts a new track (no motion across the gap)."""
        self._prev = None

    def finish(self, frames_decoded: int, fps: float, width: int, height: int, sampled: int) -> ClipFeatures:
        temporal = np.array(self.temporal, np.float32).reshape(-1, TEMPORAL_DIM)
        # The first sample of a track has no motion cues yet: borrow the next sample's.
        for i in range(len(temporal) - 1):
            if not temporal[i, :6].any() and temporal[i + 1, :6].any():
                temporal[i, [0, 1, 2, 3, 4, 5, 7, 9]] = temporal[i + 1, [0, 1, 2, 3, 4, 5, 7, 9]]
        n = len(self.times)
        return ClipFeatures(
            crops=np.array(self.crops, np.uint8).reshape(n, CROP, CROP, 3),
            temporal=temporal,
            times=np.array(self.times, np.float32),
            boxes=np.array(self.boxes, np.float32).reshape(n, 4),
            thumbs=np.array(self.thumbs, np.uint8).reshape(n, 64, 64, 3),
            frames_decoded=frames_decoded,
            fps=fps,
            width=width,
            height=height,
            sampled=sampled,
        )


def extract_frames(frames: Sequence[np.ndarray], *, fps: float, sample_fps: float = DEFAULT_SAMPLE_FPS) -> ClipFeatures:
    """Features from (H, W, 3) uint8 RGB frames at ``fps`` (arrays in memory), sampled as
    :func:`extract_video` samples a file (adaptive sampling included)."""

    def pass_over(sampler: Sampler) -> ClipFeatures:
        return _extract(((i, f, sampler(i)) for i, f in enumerate(frames)), fps=fps)

    return adaptive(pass_over, fps=fps, sample_fps=sample_fps)


def _largest_face(frame: np.ndarray) -> np.ndarray | None:
    """Landmarks of the largest face the detector finds; where it finds none, the face mesh's own
    whole-frame search, kept only when the detector confirms a face there (:func:`_confirmed`)."""
    from candor.generator.face import detect_faces, detect_landmarks, mesh_landmarks

    boxes = detect_faces(frame)
    for box in boxes:
        found = detect_landmarks(frame, box)
        if found:
            return found[0]
    if boxes:
        return None
    whole = mesh_landmarks(frame)  # no box: the mesh searches the whole frame (detection not re-run)
    return whole if whole is not None and _confirmed(frame, whole) else None


def _confirmed(frame: np.ndarray, pts: np.ndarray) -> bool:
    """Does the face detector see a face where the mesh put one, framed as it frames faces best (the
    mesh's box centred at 1/2.2 of a 256 px view)? Blurry enlarged faces that fill the frame pass
    (detector scores 0.6-0.75 on enlarged LFW thumbnails); the whole-frame mesh also fits a face
    to a cartoon rabbit (Big Buck Bunny), where the detector sees nothing."""
    import cv2

    from candor.generator.face import detect_faces

    x0, y0 = pts[:, :2].min(0)
    x1, y1 = pts[:, :2].max(0)
    cx, cy, k = (x0 + x1) / 2, (y0 + y1) / 2, 256.0 / (2.2 * max(x1 - x0, y1 - y0, 1.0))
    M = np.float32([[k, 0, 128 - k * cx], [0, k, 128 - k * cy]])
    view = cv2.warpAffine(frame, M, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return any(b.x0 < 128 < b.x1 and b.y0 < 128 < b.y1 for b in detect_faces(view))


def _extract(indexed: Iterable[tuple[int, np.ndarray, bool]], *, fps: float) -> ClipFeatures:
    """Features of the frames flagged as samples (``(index, frame, is_sample)``, indices increasing);
    a sample's successor frame gives its frame difference. Frames that are :data:`_SKIPPED` (not
    converted to RGB by the decoder) are only counted."""
    seq = _Sequence()
    pending: tuple[int, np.ndarray, np.ndarray] | None = None  # (index, frame, landmarks) waiting for i + 1
    n = width = height = sampled = 0
    for i, frame, is_sample in indexed:
        n = i + 1
        if frame is _SKIPPED:
            continue
        height, width = frame.shape[:2]
        if pending is not None:
            j, previous, pts = pending
            seq.add(j / fps, previous, frame, pts)
            pending = None
        if is_sample:
            sampled += 1
            pts = _largest_face(frame)
            if pts is None:
                seq.lose_track()
            else:
                pending = (i, frame, pts)
    if pending is not None:  # the last frame has no successor: compare it with itself
        j, previous, pts = pending
        seq.add(j / fps, previous, previous, pts)
    return seq.finish(n, fps, width, height, sampled)


_SKIPPED = np.zeros((2, 2, 3), np.uint8)  # stands for a decoded frame nobody looks at


def _decode(
    path: Path, fps: float, sampler: Sampler, max_seconds: float | None
) -> Iterator[tuple[int, np.ndarray, bool]]:
    """(index, RGB frame, is it a sample) for the sampled frames and the frame after each; the others
    stay undecoded to RGB (:data:`_SKIPPED`)."""
    import av

    from candor.generator.video import open_video

    with open_video(path) as (container, stream):
        stream.thread_type = "AUTO"
        follower = False  # the frame after a sample: its successor for the frame difference
        i = -1
        try:
            for i, frame in enumerate(container.decode(stream)):
                if max_seconds is not None and i / fps >= max_seconds:
                    break
                is_sample = sampler(i)
                if is_sample or follower:
                    yield i, frame.to_ndarray(format="rgb24"), is_sample
                else:
                    yield i, _SKIPPED, False
                follower = is_sample
        except av.FFmpegError as exc:
            raise InvalidVideo(f"{path.name} is corrupt after frame {i + 1}: {exc}") from None
        if i < 0:
            raise InvalidVideo(f"{path.name} has no decodable frames")


def extract_video(
    path: str | Path, *, sample_fps: float = DEFAULT_SAMPLE_FPS, max_seconds: float | None = None
) -> ClipFeatures:
    """Decode ``path`` once and sample it (see the module docstring). Raises InvalidVideo when the
    file is missing, not a video or has no decodable frames."""
    from candor.generator.video import video_fps

    path = Path(path)
    if not path.is_file():
        raise InvalidVideo(f"no such file: {path}")
    fps = video_fps(path) or 25.0

    def pass_over(sampler: Sampler) -> ClipFeatures:
        return _extract(_decode(path, fps, sampler, max_seconds), fps=fps)

    return adaptive(pass_over, fps=fps, sample_fps=sample_fps)
