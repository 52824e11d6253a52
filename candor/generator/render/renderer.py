"""FaceRenderer: the decoder. Source portrait + target face geometry -> a 512x512 RGB frame.

Steps per frame: (1) the backward flow of the whole-frame mesh (face, holes, head rings) is
rasterized on a 128x128 grid and upsampled; (2) ``cv2.remap`` warps the portrait (with its irises
cut out); (3) the lids that came down are painted over the eyes with a lash line, and the irises
are drawn in what stays open; (4) the mouth interior is painted between the lips. Everything is a
pure function of the target: same input, same pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from candor.errors import InvalidInput
from candor.generator import motion
from candor.generator.face import SourceFace
from candor.generator.landmarks import N_LANDMARKS
from candor.generator.render.eyes import EyeLayer
from candor.generator.render.mouth import MouthLayer
from candor.generator.render.raster import FRAME
from candor.generator.render.topology import MOUTH_LOWER, MOUTH_UPPER
from candor.generator.render.warp import GRID, MeshWarp
from candor.generator.rig import FaceTarget

_JAW = motion.index("jawOpen")
_BLINK_R, _BLINK_L = motion.index("eyeBlinkRight"), motion.index("eyeBlinkLeft")


class FaceRenderer:
    """Renders one portrait under any target geometry (see :func:`candor.generator.rig.pose_target`).

    Construction precomputes everything that depends only on the portrait (triangles, head
    anchors, the eyeless source, mouth colours): about 0.1 s. ``render`` then costs ~3 ms of one
    core (see ``benchmarks/render.py``).
    """

    def __init__(self, source: SourceFace, grid: int = GRID) -> None:
        image = np.ascontiguousarray(source.image)
        if image.shape != (FRAME, FRAME, 3) or image.dtype != np.uint8:
            raise InvalidInput(f"source image must be (512, 512, 3) uint8, got {image.shape} {image.dtype}")
        landmarks = np.asarray(source.landmarks, np.float32)
        if landmarks.shape != (N_LANDMARKS, 3) or not np.isfinite(landmarks).all():
            raise InvalidInput(f"source landmarks must be finite (478, 3), got {landmarks.shape}")
        # A render is a few ms of small kernels: OpenCV's thread pool only adds hand-off cost there
        # and competes with the caller's own parallelism (one process per core renders best).
        cv2.setNumThreads(1)
        self.source = source
        self.warp = MeshWarp(landmarks, np.asarray(source.person_mask, np.float32), grid=grid)
        baseline = np.asarray(source.baseline, np.float32)
        self.eyes = EyeLayer(image, landmarks, (float(baseline[_BLINK_R]), float(baseline[_BLINK_L])))
        self.mouth = MouthLayer(image, landmarks)
        self.flow: np.ndarray | None = None  # the last frame's full-resolution backward map

    def render(self, target: FaceTarget) -> np.ndarray:
        """The frame for ``target``: (512, 512, 3) uint8 RGB."""
        tgt = np.asarray(target.landmarks, np.float32)
        m = np.asarray(target.head_matrix, np.float32)
        if tgt.shape != (N_LANDMARKS, 3) or m.shape != (3, 4):
            raise InvalidInput(f"target needs (478, 3) landmarks and a (3, 4) head matrix, got {tgt.shape}, {m.shape}")
        if not (np.isfinite(tgt).all() and np.isfinite(m).all()):
            raise InvalidInput("target geometry contains NaN or infinite values")
        tgt = _uncross_lips(self.warp.flatten(tgt, m))
        closure = self.eyes.closure(tgt)
        rest = self.eyes.rest_margins(m)
        coarse = self.warp.coarse_flow(tgt, m, flattened=True)
        self.flow = self.warp.upsample(coarse)
        self.warp.refine(self.flow)
        frame = self.warp.apply(self.eyes.eyeless, self.flow)
        scale = float(np.cbrt(abs(np.linalg.det(m[:, :3].astype(np.float64)))))
        self.eyes.draw(frame, tgt, rest, scale, closure)
        jaw = float(target.motion[_JAW]) if len(target.motion) > _JAW else 0.0
        self.mouth.draw(frame, tgt, m, jaw)
        return frame


_UPPER = np.array(MOUTH_UPPER[1:-1])
_LOWER = np.array(MOUTH_LOWER[1:-1])


def _uncross_lips(points: np.ndarray) -> np.ndarray:
    """Where a target's inner lower lip rises above its upper lip (pressing blendshapes pushed past
    each other), meet them halfway: lips touch, they never pass through each other."""
    axis = points[MOUTH_UPPER[-1], :2] - points[MOUTH_UPPER[0], :2]
    normal = np.array([-axis[1], axis[0]]) / max(float(np.linalg.norm(axis)), 1e-6)
    if normal[1] < 0:
        normal = -normal
    crossed = (points[_LOWER, :2] - points[_UPPER, :2]) @ normal < 0
    if not crossed.any():
        return points
    out = points.copy()
    mid = (points[_UPPER[crossed]] + points[_LOWER[crossed]]) / 2
    out[_UPPER[crossed]] = mid
    out[_LOWER[crossed]] = mid
    return out
