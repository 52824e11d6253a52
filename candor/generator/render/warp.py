"""The whole-frame mesh: face surface + mouth/eye holes + head rings, warped by one backward map.

Layers in the z-buffer: the face surface (culled where it turns away, so a cheek rotating past the
silhouette never shows its mirror image), then the holes a hair behind it (lips win where they
overlap the opening), then the head bands far behind (the face always covers hair and background).
"""

from __future__ import annotations

import cv2
import numpy as np

from candor.generator.landmarks import N_LANDMARKS
from candor.generator.render.head import HeadRings
from candor.generator.render.raster import FRAME, identity_flow, rasterize_flow
from candor.generator.render.topology import face_triangles, hole_triangles, signed_area

GRID = 128
HOLE_LAYER = 2.0  # px behind the surface
BAND_LAYER = 1.0e4
FILLER_LAYER = 1.0e5
# Depth beyond FLAT_FROM px behind the head-centre plane counts only FLAT_KEEP of itself.
FLAT_FROM = 10.0
FLAT_KEEP = 0.35


class MeshWarp:
    """Backward map of one portrait's mesh to any target geometry.

    ``kinds`` labels each triangle: 0 face surface, 1 mouth hole, 2 eye hole, 3 head band.
    """

    def __init__(self, landmarks: np.ndarray, person_mask: np.ndarray, grid: int = GRID) -> None:
        self.grid = grid
        z = landmarks[:, 2].astype(np.float32)
        z_eff = np.where(z > FLAT_FROM, FLAT_FROM + (z - FLAT_FROM) * FLAT_KEEP, z)
        self.depth_cut = (z_eff - z).astype(np.float32)  # <= 0: how much depth to take away
        self.rings = HeadRings(landmarks, person_mask, base=N_LANDMARKS, depth=z_eff)
        face = face_triangles()
        # Triangles already folded over in the portrait (near a turned cheek's silhouette) hold
        # mirrored texture; unfolding them in a turn would paint a duplicated strip, so they only
        # fill gaps (behind every layer).
        folded = signed_area(landmarks, face) <= 0.5
        holes = hole_triangles()
        eyes = np.concatenate([holes["right_eye"], holes["left_eye"]])
        parts = [(face, 0), (holes["mouth"], 1), (eyes, 2), (self.rings.triangles, 3)]
        self.triangles = np.ascontiguousarray(np.concatenate([p for p, _ in parts]), dtype=np.int32)
        self.kinds = np.concatenate([np.full(len(p), k, np.int8) for p, k in parts])
        self.layer = np.select([self.kinds == 0, self.kinds == 3], [0.0, BAND_LAYER], HOLE_LAYER).astype(np.float32)
        self.layer[: len(face)][folded] = FILLER_LAYER
        self.cull = (self.kinds == 0).astype(np.uint8)
        self.src = np.concatenate([landmarks[:, :2], self.rings.src]).astype(np.float32)
        self._identity = identity_flow(grid)
        self._margin = max(1, FRAME // grid // 2)
        ident = identity_flow(FRAME)
        m = self._margin
        self._border_identity = (ident[:m], ident[-m:], ident[:, :m], ident[:, -m:])
        self.owner = np.full((grid, grid), -1, np.int32)
        self.coarse = self._identity.copy()

    def coarse_flow(
        self,
        target_landmarks: np.ndarray,
        head_matrix: np.ndarray,
        src: np.ndarray | None = None,
        flattened: bool = False,
    ) -> np.ndarray:
        """(G, G, 2) source positions at the grid cell centres; also fills ``self.owner``.

        ``src`` overrides the source positions of the vertices (the eyelids slide their source up
        when they close); default: the portrait's own. ``flattened``: the landmarks already went
        through :meth:`flatten`.
        """
        if not flattened:
            target_landmarks = self.flatten(target_landmarks, head_matrix)
        ring_xy, ring_z = self.rings.targets(target_landmarks, head_matrix)
        tgt = np.concatenate([target_landmarks[:, :2], ring_xy]).astype(np.float32)
        depth = np.concatenate([target_landmarks[:, 2], ring_z]).astype(np.float32)
        flow = self._identity.copy()
        zbuf = np.full((self.grid, self.grid), np.inf, np.float32)
        self.owner.fill(-1)
        rasterize_flow(
            tgt,
            depth,
            self.src if src is None else src.astype(np.float32),
            self.triangles,
            self.layer,
            self.cull,
            flow,
            zbuf,
            self.owner,
        )
        # The frame border stays put exactly (the outer ring may touch it between grid cells).
        flow[0], flow[-1], flow[:, 0], flow[:, -1] = (
            self._identity[0],
            self._identity[-1],
            self._identity[:, 0],
            self._identity[:, -1],
        )
        self.coarse = flow
        return flow

    def flatten(self, target_landmarks: np.ndarray, head_matrix: np.ndarray) -> np.ndarray:
        """Target landmarks as if the deep outline points sat nearer the face plane.

        mediapipe puts the outline up to ~100 px behind the head-centre plane; rotating it that
        far drags a thin rim of source pixels over a wide strip at the near side (streaks, a
        duplicated cheek). Only the depth-induced part of the motion, ``M[:2, 2] * z``, is scaled
        down, so expressions and the in-plane motion are untouched and identity stays identity.
        """
        out = target_landmarks.astype(np.float32).copy()
        out[:, :2] += self.depth_cut[:, None] * head_matrix[:2, 2][None, :]
        return out

    def upsample(self, coarse: np.ndarray) -> np.ndarray:
        """Bilinear upsample of a coarse map to (512, 512, 2) float32 (same cell-centre convention)."""
        full = cv2.resize(coarse, (FRAME, FRAME), interpolation=cv2.INTER_LINEAR)
        # Beyond the outermost cell centres the resize holds the edge value; the border is fixed,
        # so put back the exact identity there (a half-cell strip on each side).
        m = self._margin
        full[:m] = self._border_identity[0]
        full[-m:] = self._border_identity[1]
        full[:, :m] = self._border_identity[2]
        full[:, -m:] = self._border_identity[3]
        return full

    @staticmethod
    def apply(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """Sample ``image`` at ``flow`` (512, 512, 2): the warped frame, uint8."""
        return cv2.remap(image, flow, None, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
