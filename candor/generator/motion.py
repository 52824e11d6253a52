"""The motion latent: Candor's explicit version of VASA-1's head pose + facial dynamics.

One frame of motion is a float vector laid out as ``LAYOUT`` (version ``MOTION_VERSION``):

pose (absolute, in the 512x512 output frame's camera)
    yaw, pitch, roll   degrees. yaw > 0: the face turns toward the image's right;
                       pitch > 0: chin up; roll > 0: the head tilts clockwise on screen.
    tx, ty             head centre (the midpoint between the eyes' corners projected to the
                       face's centre plane) in frame widths from the frame centre; x right, y down.
    scale              face size relative to Candor's default framing (1.0: the face spans about
                       half of the frame height); larger is closer to the camera.
dynamics (semantic blendshape coefficients, 0 = neutral, 1 = full; ARKit-style names)
    see ``BLENDSHAPES``; each is a displacement field on mediapipe's 478-point topology, defined
    in :mod:`candor.generator.blendshapes` and scaled to the subject's face.
gaze (eye-in-head rotation)
    gazeYaw, gazePitch degrees. yaw > 0: the eyes look toward the image's right; pitch > 0: up.

A sequence is a ``(T, D)`` float32 array plus a frame rate. On disk it is either a plain ``.npy``
of shape ``(T, D)`` in the current layout (frame rate given by the caller), or a ``.npz`` holding
``motion``, ``fps``, ``version`` and ``names`` so a file written by an older layout can be mapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from candor.errors import InvalidMotion
from candor.generator.controls import DEFAULT_FPS

MOTION_VERSION = 1

POSE = ("yaw", "pitch", "roll", "tx", "ty", "scale")
BLENDSHAPES = (
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthPress",
    "mouthUpperUp",
    "mouthLowerDown",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeWideLeft",
    "eyeWideRight",
    "browInnerUp",
    "browDownLeft",
    "browDownRight",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
)
GAZE = ("gazeYaw", "gazePitch")
LAYOUT: tuple[str, ...] = POSE + BLENDSHAPES + GAZE
DIM = len(LAYOUT)

# "Left"/"Right" in blendshape names are the subject's own sides (ARKit convention):
# the subject's left is the image's right for a face looking at the camera.

_INDEX = {name: i for i, name in enumerate(LAYOUT)}
POSE_SLICE = slice(0, len(POSE))
BLENDSHAPE_SLICE = slice(len(POSE), len(POSE) + len(BLENDSHAPES))
GAZE_SLICE = slice(len(POSE) + len(BLENDSHAPES), DIM)
SCALE = _INDEX["scale"]  # the one column that multiplies instead of adding (see to_absolute)

# Physical bounds each field is clipped to before rendering.
LOWER = np.array([-45, -35, -30, -0.5, -0.5, 0.5] + [0.0] * len(BLENDSHAPES) + [-35, -25], np.float32)
UPPER = np.array([45, 35, 30, 0.5, 0.5, 2.0] + [1.0] * len(BLENDSHAPES) + [35, 25], np.float32)


def index(name: str) -> int:
    """Column of a named field in a motion vector."""
    try:
        return _INDEX[name]
    except KeyError:
        raise KeyError(f"unknown motion field {name!r}; known: {', '.join(LAYOUT)}") from None


def neutral_vector(
    *,
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
    tx: float = 0.0,
    ty: float = 0.0,
    scale: float = 1.0,
) -> np.ndarray:
    """A single motion vector with the given pose, neutral dynamics and straight gaze."""
    v = np.zeros(DIM, np.float32)
    v[POSE_SLICE] = (yaw, pitch, roll, tx, ty, scale)
    return v


def to_absolute(baseline: np.ndarray, relative: np.ndarray, *, scale_reference: float = 1.0) -> np.ndarray:
    """Motion relative to a portrait -> absolute motion for the rig: (T, DIM) float32.

    ``baseline``: (DIM,) the portrait's own absolute motion (pose, expression, gaze).
    ``relative``: (T, DIM) or (DIM,) changes from it. Angles (degrees), tx/ty (frame widths),
    blendshapes and gaze (degrees) add to the baseline; scale is a ratio that multiplies the
    portrait's own: ``relative scale / scale_reference`` (1 keeps it, 0.5 halves the face), so a
    relative motion means the same whatever the portrait's framing. ``scale_reference`` lets a
    driving face's own scales be passed with its first frame's as the reference. A relative
    vector of zeros with scale 1 is the portrait.
    """
    rel = np.atleast_2d(np.asarray(relative))
    out = baseline[None, :] + rel
    out[:, SCALE] = baseline[SCALE] * rel[:, SCALE] / scale_reference
    return out.astype(np.float32)


@dataclass
class MotionSequence:
    """``values``: (T, DIM) float32 in ``LAYOUT`` order; ``fps``: frames per second."""

    values: np.ndarray
    fps: float = float(DEFAULT_FPS)

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] != DIM:
            raise InvalidMotion(f"motion must have shape (frames, {DIM}), got {tuple(v.shape)}")
        if len(v) == 0:
            raise InvalidMotion("motion sequence has no frames")
        if not np.isfinite(v).all():
            raise InvalidMotion("motion sequence contains NaN or infinite values")
        if not 1 <= self.fps <= 120:
            raise InvalidMotion(f"frame rate {self.fps} is outside 1-120 fps")
        self.values = v

    def __len__(self) -> int:
        return len(self.values)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.values) / self.fps

    def column(self, name: str) -> np.ndarray:
        return self.values[:, index(name)]

    def clipped(self) -> MotionSequence:
        """A copy with every field inside its physical bounds."""
        return MotionSequence(np.clip(self.values, LOWER, UPPER), self.fps)

    @classmethod
    def neutral(cls, frames: int, fps: float = float(DEFAULT_FPS), **pose: float) -> MotionSequence:
        return cls(np.tile(neutral_vector(**pose), (frames, 1)), fps)

    def save(self, path: str | Path) -> Path:
        """Write ``.npz`` (with fps, version and names) or ``.npy`` (the bare array)."""
        path = Path(path)
        if path.suffix == ".npy":
            np.save(path, self.values)
        else:
            np.savez(
                path,
                motion=self.values,
                fps=np.float32(self.fps),
                version=MOTION_VERSION,
                names=np.array(LAYOUT),
            )
        return path

    @classmethod
    def load(cls, path: str | Path, fps: float | None = None) -> MotionSequence:
        """Read a ``.npy`` or ``.npz`` motion file; ``fps`` overrides the file's own rate."""
        path = Path(path)
        if not path.is_file():
            raise InvalidMotion(f"motion file not found: {path}")
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidMotion(f"{path.name} is not a readable .npy/.npz motion file ({exc})") from None
        if isinstance(data, np.ndarray):
            return cls(data, fps or float(DEFAULT_FPS))
        with data:
            if "motion" not in data:
                raise InvalidMotion(f"{path.name} has no 'motion' array")
            values = data["motion"]
            file_fps = float(data["fps"]) if "fps" in data else float(DEFAULT_FPS)
            if "names" in data:
                values = _remap(values, [str(n) for n in data["names"]])
        return cls(values, fps or file_fps)


def _remap(values: np.ndarray, names: list[str]) -> np.ndarray:
    """Map columns written under another layout onto the current one (missing -> neutral)."""
    if tuple(names) == LAYOUT:
        return values
    if values.ndim != 2 or values.shape[1] != len(names):
        raise InvalidMotion("motion array does not match its column names")
    out = np.tile(neutral_vector(), (len(values), 1))
    for j, name in enumerate(names):
        if name in _INDEX:
            out[:, _INDEX[name]] = values[:, j]
    return out
