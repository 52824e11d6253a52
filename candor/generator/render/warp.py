"""The whole-frame mesh: face surface + mouth/eye holes + head rings, warped by one backward map.

Layers in the z-buffer: the face surface (culled where it turns away, so a cheek rotating past the
silhouette never shows its mirror image), then the holes a hair behind it (lips win where they
overlap the opening), then the head bands far behind (the face always covers hair and background).
"""

from __future__ import annotations

import cv2
import numpy as np

from candor.generator import landmarks as lm
from candor.generator.landmarks import N_LANDMARKS
from candor.generator.render.head import HeadRings
from candor.generator.render.raster import FRAME, identity_flow, rasterize_flow
from candor.generator.render.topology import face_triangles, hole_triangles, signed_area

GRID = 128
HOLE_LAYER = 2.0  # px behind the surface
BAND_LAYER = 1.0e4
FILLER_LAYER = 1.0e5
FEATHER = 4.0  # px over which a full-resolution window blends into the coarse map
DETAIL_PAD = 6  # px around a detail region's landmarks
DETAIL_REACH = 60.0  # px a triangle's source may lie from a detail region and still reach it
# Regions re-rasterized at full resolution: the lips, and each eye up to the brow's lower edge.
DETAIL = (
    np.array(lm.LIPS_OUTER),
    np.array(lm.RIGHT_EYE_UPPER + lm.RIGHT_EYE_LOWER + lm.RIGHT_BROW[5:]),
    np.array(lm.LEFT_EYE_UPPER + lm.LEFT_EYE_LOWER + lm.LEFT_BROW[5:]),
)
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
        self._frame_geometry: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._detail = self._detail_tables(list(DETAIL))

    def coarse_flow(self, target_landmarks: np.ndarray, head_matrix: np.ndarray, flattened: bool = False) -> np.ndarray:
        """(G, G, 2) source positions at the grid cell centres; also fills ``self.owner``.

        ``flattened``: the landmarks already went through :meth:`flatten`.
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
            self.src,
            self.triangles,
            self.layer,
            self.cull,
            flow,
            zbuf,
            self.owner,
            0.0,
            0.0,
            FRAME / self.grid,
        )
        self._frame_geometry = (tgt, depth, self.src)
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

    def refine(self, flow: np.ndarray) -> None:
        """Re-rasterize the last frame's mesh at full resolution around the lips and eyes, in place.

        The coarse map rounds every triangle edge to the 4-px grid, which shows on the thin, moving
        parts (lip and lid edges, a compressed mouth interior). Each detail box gets the exact
        piecewise-affine map, feathered over 4 px into the coarse one.
        """
        tgt, depth, src = self._frame_geometry
        for idx, (tris, layer, cull) in self._detail:
            lo = np.floor(tgt[idx].min(axis=0)).astype(int) - DETAIL_PAD
            hi = np.ceil(tgt[idx].max(axis=0)).astype(int) + DETAIL_PAD + 1
            x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
            x1, y1 = min(int(hi[0]), FRAME), min(int(hi[1]), FRAME)
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            coarse = flow[y0:y1, x0:x1]
            fine = coarse.copy()
            zbuf = np.full(fine.shape[:2], np.inf, np.float32)
            owner = np.full(fine.shape[:2], -1, np.int32)
            rasterize_flow(tgt, depth, src, tris, layer, cull, fine, zbuf, owner, float(x0), float(y0), 1.0)
            ramp_y = np.minimum(np.arange(y1 - y0), np.arange(y1 - y0)[::-1]).astype(np.float32)
            ramp_x = np.minimum(np.arange(x1 - x0), np.arange(x1 - x0)[::-1]).astype(np.float32)
            w = np.clip(np.minimum(ramp_y[:, None], ramp_x[None, :]) / FEATHER, 0.0, 1.0)[:, :, None]
            flow[y0:y1, x0:x1] = coarse + (fine - coarse) * w

    def _detail_tables(self, regions: list[np.ndarray]) -> list:
        """Per detail region: its landmark indices and the face/hole triangles that can reach its
        box (a source vertex within DETAIL_REACH px of it), so a window rasterizes only those."""
        out = []
        corners = self.src[self.triangles]  # (T, 3, 2)
        for idx in regions:
            x0, y0 = self.src[idx].min(axis=0) - DETAIL_REACH
            x1, y1 = self.src[idx].max(axis=0) + DETAIL_REACH
            inside = (corners[..., 0] > x0) & (corners[..., 0] < x1) & (corners[..., 1] > y0) & (corners[..., 1] < y1)
            keep = np.flatnonzero(inside.any(axis=1) & (self.kinds != 3))
            tables = (
                np.ascontiguousarray(self.triangles[keep]),
                np.ascontiguousarray(self.layer[keep]),
                np.ascontiguousarray(self.cull[keep]),
            )
            out.append((np.asarray(idx), tables))
        return out

    @staticmethod
    def apply(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """Sample ``image`` at ``flow`` (512, 512, 2): the warped frame, uint8."""
        return cv2.remap(image, flow, None, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
