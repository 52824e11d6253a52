"""Motion transfer from a driving video onto a portrait (relative, so the portrait keeps its own
rest pose and expression and only the driving face's changes are applied)."""

from __future__ import annotations

import numpy as np

from candor.generator import motion
from candor.generator.face import SourceFace
from candor.generator.motion import MotionSequence


def transfer_motion(
    source: SourceFace, driving: MotionSequence, *, pose: bool = True, dynamics: bool = True, gaze: bool = True
) -> MotionSequence:
    """Absolute motion for ``source``: its baseline plus the driving motion's change from the
    driving video's first frame, per enabled group (pose / dynamics / gaze)."""
    d = driving.values - driving.values[:1]
    out = np.tile(source.baseline, (len(d), 1))
    if pose:
        out[:, :5] += d[:, :5]
        out[:, 5] = source.baseline[5] * driving.values[:, 5] / max(float(driving.values[0, 5]), 1e-3)
    if dynamics:
        out[:, motion.BLENDSHAPE_SLICE] += d[:, motion.BLENDSHAPE_SLICE]
    if gaze:
        out[:, motion.GAZE_SLICE] += d[:, motion.GAZE_SLICE]
    return MotionSequence(np.clip(out, motion.LOWER, motion.UPPER), driving.fps)
