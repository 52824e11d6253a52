"""Motion extraction: video (or image sequence) -> per-frame motion vectors.

Per frame: mediapipe face mesh (tracking mode) -> rigid pose fit to the canonical shape ->
blendshape coefficients by bounded least squares of the canonical-frame landmark offsets from
a reference face against that face's blendshape basis -> gaze from the irises' positions in
the eyes. The reference is the first frame with a face unless one is given (e.g. the portrait
the motion was rendered from), and its own expression is estimated like a portrait's baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from candor.errors import InvalidVideo, NoFaceFound
from candor.generator import landmarks as L
from candor.generator import motion
from candor.generator.blendshapes import basis
from candor.generator.face import EYEBALL_RADIUS, PoseFit, SourceFace, estimate_baseline, fit_pose
from candor.generator.rig import _EYES, follow_gaze_with_lids, rotate_irises

_BS = motion.BLENDSHAPE_SLICE
_SURFACE = slice(0, L.N_SURFACE)


def _iris_offsets(shape: np.ndarray) -> np.ndarray:
    """(2 eyes, 2) iris-centre offset from the eye-corner midpoint, in eye widths (x, y)."""
    out = []
    for iris, corners in _EYES:
        width = np.linalg.norm(shape[corners[0]] - shape[corners[1]])
        mid = (shape[corners[0]] + shape[corners[1]]) / 2
        out.append((shape[iris[0], :2] - mid[:2]) / width)
    return np.array(out)


class MotionExtractor:
    """Fits motion vectors to landmarks, relative to a reference face (canonical shape + baseline)."""

    def __init__(self, reference_fit: PoseFit, reference_baseline: np.ndarray) -> None:
        self.ref_shape = reference_fit.canonical
        self.base = reference_baseline.astype(np.float32)
        B = basis(self.ref_shape, self.base)[:, _SURFACE]  # (K, 468, 3)
        self._A = B.reshape(len(B), -1).T.astype(np.float64)  # (468*3, K)
        self._lower = (0.0 - self.base[_BS]).astype(np.float64)
        self._upper = (1.0 - self.base[_BS]).astype(np.float64)
        self._ref_iris = _iris_offsets(self.ref_shape)

    @classmethod
    def from_source(cls, source: SourceFace) -> MotionExtractor:
        return cls(source.fit, source.baseline)

    @classmethod
    def from_landmarks(cls, points: np.ndarray) -> MotionExtractor:
        fit = fit_pose(points)
        return cls(fit, estimate_baseline(fit))

    def fit(self, points: np.ndarray, frame_size: int = 512) -> np.ndarray:
        """Motion vector (DIM,) for (478, 3) pixel landmarks in a frame ``frame_size`` wide."""
        from scipy.optimize import lsq_linear

        pf = fit_pose(points)
        v = motion.neutral_vector()
        v[motion.POSE_SLICE] = pf.pose_vector(frame_size)
        # Gaze first (from the irises alone), so the lid movement that follows it is not read as
        # a blink or a wide eye.
        d = (_iris_offsets(pf.canonical) - self._ref_iris).mean(0) / EYEBALL_RADIUS
        d_yaw = np.degrees(np.arcsin(np.clip(d[0], -0.95, 0.95)))
        d_pitch = -np.degrees(np.arcsin(np.clip(d[1], -0.95, 0.95)))
        gy, gp = motion.index("gazeYaw"), motion.index("gazePitch")
        v[gy], v[gp] = self.base[gy] + d_yaw, self.base[gp] + d_pitch
        turned = rotate_irises(self.ref_shape, float(d_yaw), float(d_pitch))
        irises = [iris[0] for iris, _ in _EYES]
        lids = follow_gaze_with_lids(turned, turned[irises, 1] - self.ref_shape[irises, 1]) - turned
        delta = (pf.canonical[_SURFACE] - self.ref_shape[_SURFACE] - lids[_SURFACE]).reshape(-1).astype(np.float64)
        sol = lsq_linear(self._A, delta, bounds=(self._lower, self._upper), method="bvls")
        v[_BS] = self.base[_BS] + sol.x
        return v


class _Tracker:
    """mediapipe face mesh in tracking mode (one per video; not thread-safe)."""

    def __init__(self) -> None:
        import os

        os.environ.setdefault("GLOG_minloglevel", "2")
        import mediapipe as mp

        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3
        )

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        result = self.mesh.process(frame)
        if not result.multi_face_landmarks:
            return None
        h, w = frame.shape[:2]
        pts = np.array([[p.x, p.y, p.z] for p in result.multi_face_landmarks[0].landmark], np.float32)
        return pts * np.array([w, h, w], np.float32)

    def close(self) -> None:
        self.mesh.close()


def extract_motion(
    frames: str | Path | Iterable[np.ndarray],
    *,
    fps: float | None = None,
    reference: SourceFace | None = None,
    progress: Callable[[int], None] | None = None,
    max_frames: int | None = None,
) -> MotionSequence:
    """Motion of the (largest) face in a video file or an iterable of RGB frames.

    Frames without a face repeat the previous frame's motion. Raises NoFaceFound when no frame
    has a face, InvalidVideo for unreadable input.
    """
    from candor.generator.video import read_frames, video_fps

    if isinstance(frames, (str, Path)):
        fps = fps or video_fps(frames)
        frames = read_frames(frames, max_frames=max_frames)
    fps = fps or 25.0
    tracker = _Tracker()
    extractor = MotionExtractor.from_source(reference) if reference is not None else None
    rows: list[np.ndarray | None] = []
    try:
        for i, frame in enumerate(frames):
            if max_frames is not None and i >= max_frames:
                break
            points = tracker(frame)
            if points is None:
                rows.append(None)
            else:
                if extractor is None:
                    extractor = MotionExtractor.from_landmarks(points)
                rows.append(extractor.fit(points, frame.shape[1]))
            if progress:
                progress(1)
    finally:
        tracker.close()
    if not rows:
        raise InvalidVideo("the video has no frames")
    if all(r is None for r in rows):
        raise NoFaceFound("no face found in any frame of the video")
    first = next(r for r in rows if r is not None)
    filled, last = [], first
    for r in rows:
        last = r if r is not None else last
        filled.append(last)
    return motion.MotionSequence(np.stack(filled), fps)


MotionSequence = motion.MotionSequence
