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
    change = np.zeros_like(d)
    reference = 1.0
    change[:, motion.SCALE] = reference  # ratio 1: a disabled pose keeps the portrait's own scale
    if pose:
        change[:, motion.POSE_SLICE] = d[:, motion.POSE_SLICE]
        # The driving face's scale against its first frame's: its growth, not its framing.
        change[:, motion.SCALE] = driving.values[:, motion.SCALE]
        reference = max(float(driving.values[0, motion.SCALE]), 1e-3)
    if dynamics:
        change[:, motion.BLENDSHAPE_SLICE] = d[:, motion.BLENDSHAPE_SLICE]
    if gaze:
        change[:, motion.GAZE_SLICE] = d[:, motion.GAZE_SLICE]
    absolute = motion.to_absolute(source.baseline, change, scale_reference=reference)
    return MotionSequence(np.clip(absolute, motion.LOWER, motion.UPPER), driving.fps)
