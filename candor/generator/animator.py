"""Motion -> frames: the rig and the renderer held together for one portrait."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from candor.generator.face import SourceFace
from candor.generator.motion import MotionSequence
from candor.generator.rig import FaceRig


class Animator:
    """Renders motion vectors on one analysed portrait. Build once per portrait (the rig basis and
    the renderer's per-portrait tables are precomputed here), then call ``frame``/``frames``."""

    def __init__(self, source: SourceFace) -> None:
        from candor.generator.render import FaceRenderer

        self.source = source
        self.rig = FaceRig(source)
        self.renderer = FaceRenderer(source)

    def frame(self, vector: np.ndarray) -> np.ndarray:
        """(512, 512, 3) uint8 RGB for one motion vector (absolute layout, see ``motion``)."""
        return self.renderer.render(self.rig.target(vector))

    def frames(self, sequence: MotionSequence) -> Iterator[np.ndarray]:
        for vector in sequence.values:
            yield self.frame(vector)


def relative_to_source(source: SourceFace, offsets: np.ndarray) -> np.ndarray:
    """Absolute motion from offsets around the portrait's own baseline (T, DIM): angles, tx, ty
    and blendshapes/gaze add; scale multiplies (an offset of 0 keeps the portrait's scale)."""
    out = source.baseline[None, :] + offsets
    out[:, 5] = source.baseline[5] * (1.0 + offsets[:, 5])
    return out
