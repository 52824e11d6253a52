"""Motion -> frames: the rig and the renderer held together for one portrait."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from candor.generator.face import SourceFace
from candor.generator.motion import SCALE, MotionSequence, to_absolute
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
    """Absolute motion (T, DIM) float32 from offsets around the portrait's own baseline, the form
    of ``candor animate --relative`` files and scripted performances: every field adds, the scale
    too (an offset of 0 keeps the portrait's scale, 0.1 makes the face 10% larger)."""
    relative = np.array(offsets)
    relative[:, SCALE] = 1.0 + relative[:, SCALE]  # an offset around 0 -> motion.to_absolute's ratio
    return to_absolute(source.baseline, relative)
