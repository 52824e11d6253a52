"""The rig: a source face + a motion vector -> the target face geometry the renderer draws.

Blendshape displacements are applied to the subject's identity shape in the canonical frame
(relative to the portrait's own baseline expression), the irises are rotated about their
eyeball centres for gaze, and the result is posed with the target head rotation, scale and
position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from candor.generator import landmarks as L
from candor.generator import motion
from candor.generator.blendshapes import basis
from candor.generator.face import EYEBALL_RADIUS, FRAME, SourceFace
from candor.generator.geometry import rotation_from_angles

_BS = motion.BLENDSHAPE_SLICE
_EYES = (
    (L.RIGHT_IRIS, L.RIGHT_EYE_CORNERS),
    (L.LEFT_IRIS, L.LEFT_EYE_CORNERS),
)


@dataclass
class FaceTarget:
    """landmarks: (478, 3) float32 target pixels (same convention as SourceFace.landmarks);
    head_matrix: (3, 4) float32 rigid head motion in pixel space, tgt = M[:, :3] @ src + M[:, 3];
    motion: (motion.DIM,) the clipped motion vector that produced it."""

    landmarks: np.ndarray
    head_matrix: np.ndarray
    motion: np.ndarray


def rotate_irises(shape: np.ndarray, d_yaw: float, d_pitch: float) -> np.ndarray:
    """Rotate each iris (5 points) about its eyeball centre by a gaze change in degrees."""
    out = shape.copy()
    if d_yaw == 0 and d_pitch == 0:
        return out
    R = rotation_from_angles(d_yaw, d_pitch, 0.0)
    for iris, corners in _EYES:
        idx = list(iris)
        width = np.linalg.norm(shape[corners[0]] - shape[corners[1]])
        centre = shape[iris[0]] + np.array([0.0, 0.0, EYEBALL_RADIUS * width])
        out[idx] = (shape[idx] - centre) @ R.T + centre
    return out


_LIDS = ((L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER), (L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER))


def follow_gaze_with_lids(shape: np.ndarray, iris_dy: np.ndarray) -> np.ndarray:
    """Lids ride with the eyeball: looking down lowers the upper lid, looking up raises it (the
    lower lid follows less). ``iris_dy``: vertical iris shift per eye (right, left), canonical units."""
    if not np.any(iris_dy):
        return shape
    out = shape.copy()
    for (upper, lower), dy in zip(_LIDS, iris_dy, strict=True):
        inner_upper, inner_lower = list(upper[1:-1]), list(lower[1:-1])
        # Strongest at the middle of the lid, nothing at the corners.
        weight = np.sin(np.linspace(0, np.pi, len(inner_upper) + 2)[1:-1])
        out[inner_upper, 1] += 0.6 * dy * weight
        out[inner_lower, 1] += 0.25 * dy * weight
    return out


class FaceRig:
    """Precomputes a subject's blendshape basis; ``target(v)`` poses the face for a motion vector."""

    def __init__(self, source: SourceFace) -> None:
        self.source = source
        self.basis = basis(source.fit.canonical, source.baseline)  # (K, 478, 3)
        self._basis_flat = self.basis.reshape(len(self.basis), -1)
        # Inner-lip gap at the lip centre: what each blendshape adds at 1.0 on this face, and the
        # portrait's own (canonical face heights).
        self._gap_per_unit = self.basis[:, L.LOWER_LIP_INNER, 1] - self.basis[:, L.UPPER_LIP_INNER, 1]
        canonical = source.fit.canonical
        self._rest_gap = float(canonical[L.LOWER_LIP_INNER, 1] - canonical[L.UPPER_LIP_INNER, 1])

    def canonical_shape(self, v: np.ndarray) -> np.ndarray:
        """The expressive shape (478, 3) in the canonical frame for motion vector ``v``."""
        base = self.source.baseline
        coeffs = v[_BS].copy()
        delta = coeffs - base[_BS]
        # mouthClose brings the lips together over whatever the jaw and the other mouth shapes
        # open (the portrait's own opening included); beyond that it would push each lip through
        # the other. (It closes less per unit than jawOpen opens: a cap at the jawOpen coefficient
        # left a fifth of the jaw's opening showing on a portrait whose mouth is shut at rest.)
        close = motion.index("mouthClose") - _BS.start
        opened = self._rest_gap + float(delta @ self._gap_per_unit) - delta[close] * self._gap_per_unit[close]
        shut = max(opened, 0.0) / max(-float(self._gap_per_unit[close]), 1e-6)
        delta[close] = min(delta[close], shut)
        shape = self.source.fit.canonical + (delta @ self._basis_flat).reshape(-1, 3)
        gy, gp = motion.index("gazeYaw"), motion.index("gazePitch")
        moved = rotate_irises(shape, float(v[gy] - base[gy]), float(v[gp] - base[gp]))
        return follow_gaze_with_lids(moved, moved[[i[0] for i, _ in _EYES], 1] - shape[[i[0] for i, _ in _EYES], 1])

    def target(self, vector: np.ndarray) -> FaceTarget:
        v = np.clip(np.asarray(vector, np.float32), motion.LOWER, motion.UPPER)
        fit = self.source.fit
        base = self.source.baseline
        yaw, pitch, roll, tx, ty, scale = (float(x) for x in v[motion.POSE_SLICE])
        R_t = rotation_from_angles(yaw, pitch, roll)
        s_t = fit.s * scale / float(base[motion.SCALE])
        t_t = fit.t + np.array([(tx - base[3]) * FRAME, (ty - base[4]) * FRAME, 0.0])
        shape = self.canonical_shape(v)
        points = s_t * shape @ R_t.T + t_t
        A = (s_t / fit.s) * R_t @ fit.R.T
        head = np.concatenate([A, (t_t - A @ fit.t)[:, None]], axis=1)
        return FaceTarget(points.astype(np.float32), head.astype(np.float32), v)


def pose_target(source: SourceFace, motion_vector: np.ndarray) -> FaceTarget:
    """Target geometry for one motion vector (the rig is built once per source and cached)."""
    rig = getattr(source, "_rig", None)
    if rig is None:
        rig = FaceRig(source)
        source._rig = rig  # type: ignore[attr-defined]
    return rig.target(motion_vector)
