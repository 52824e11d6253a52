"""Z-buffered rasterizer of a coarse backward flow field (numba, one thread).

Each target triangle carries, at its three corners, the source pixel it samples. Rasterizing the
triangles in target space with barycentric interpolation gives, for every grid cell, the source
point to fetch: a backward map that ``cv2.remap`` applies to the whole 512x512 frame after a
bilinear upsample. A piecewise-affine map is linear inside each triangle, so a 128x128 grid
(4 pixels a cell) loses only the kinks along the triangle edges.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FRAME = 512
BACKFACE = 1.0e5  # depth offset of back-facing surface triangles: behind every layer


@njit(cache=True, nogil=True)
def rasterize_flow(
    tgt: np.ndarray,  # (V, 2) float32 target positions, frame pixels
    depth: np.ndarray,  # (V,) float32 target depth (smaller = nearer the camera)
    src: np.ndarray,  # (V, 2) float32 source positions, frame pixels
    tris: np.ndarray,  # (T, 3) int32 vertex indices, positive area = front-facing
    layer: np.ndarray,  # (T,) float32 depth offset: a lower layer always wins over a higher one
    cull: np.ndarray,  # (T,) uint8: 1 = send the triangle behind everything when it faces away
    flow: np.ndarray,  # (H, W, 2) float32 out: source position per cell, pre-filled (e.g. identity)
    zbuf: np.ndarray,  # (H, W) float32 scratch, pre-filled with +inf
    owner: np.ndarray,  # (H, W) int32 out: triangle drawn in each cell, pre-filled with -1
    left: float,  # frame x of the grid's left edge, px
    top: float,  # frame y of the grid's top edge, px
    cell: float,  # grid spacing, px
) -> None:
    """Rasterize ``tris`` into ``flow`` at the cell centres of an H x W grid laid on the frame.

    Cell (i, j) is centred on frame pixel (left + (j + 0.5) * cell - 0.5, top + (i + 0.5) * cell - 0.5):
    the whole frame at 4 px a cell for the coarse map, or a 1-px window where detail matters.
    """
    rows, cols = flow.shape[0], flow.shape[1]
    for t in range(tris.shape[0]):
        i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
        x0 = (tgt[i0, 0] + 0.5 - left) / cell - 0.5
        y0 = (tgt[i0, 1] + 0.5 - top) / cell - 0.5
        x1 = (tgt[i1, 0] + 0.5 - left) / cell - 0.5
        y1 = (tgt[i1, 1] + 0.5 - top) / cell - 0.5
        x2 = (tgt[i2, 0] + 0.5 - left) / cell - 0.5
        y2 = (tgt[i2, 1] + 0.5 - top) / cell - 0.5
        area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
        lo_x = max(int(np.floor(min(x0, x1, x2))), 0)
        hi_x = min(int(np.ceil(max(x0, x1, x2))), cols - 1)
        lo_y = max(int(np.floor(min(y0, y1, y2))), 0)
        hi_y = min(int(np.ceil(max(y0, y1, y2))), rows - 1)
        if abs(area) < 1e-9 or lo_x > hi_x or lo_y > hi_y:
            continue
        # A surface triangle seen from behind only fills what nothing else covers (no holes, and
        # never a mirrored strip over the face or the hair).
        back = BACKFACE if (cull[t] and area <= 0.0) else 0.0
        inv = 1.0 / area
        z0 = depth[i0] + layer[t] + back
        z1 = depth[i1] + layer[t] + back
        z2 = depth[i2] + layer[t] + back
        eps = -1e-5
        for py in range(lo_y, hi_y + 1):
            for px in range(lo_x, hi_x + 1):
                # Barycentric weights; the sign of ``area`` cancels for back-facing triangles.
                w0 = ((x1 - px) * (y2 - py) - (y1 - py) * (x2 - px)) * inv
                w1 = ((x2 - px) * (y0 - py) - (y2 - py) * (x0 - px)) * inv
                w2 = 1.0 - w0 - w1
                if w0 < eps or w1 < eps or w2 < eps:
                    continue
                z = w0 * z0 + w1 * z1 + w2 * z2
                if z >= zbuf[py, px]:
                    continue
                zbuf[py, px] = z
                owner[py, px] = t
                flow[py, px, 0] = w0 * src[i0, 0] + w1 * src[i1, 0] + w2 * src[i2, 0]
                flow[py, px, 1] = w0 * src[i0, 1] + w1 * src[i1, 1] + w2 * src[i2, 1]


def identity_flow(res: int) -> np.ndarray:
    """(R, R, 2) float32 grid of the frame pixels at the cell centres (the do-nothing map)."""
    cell = FRAME / res
    c = (np.arange(res, dtype=np.float32) + 0.5) * cell - 0.5
    gx, gy = np.meshgrid(c, c)
    return np.stack([gx, gy], axis=-1).astype(np.float32)
