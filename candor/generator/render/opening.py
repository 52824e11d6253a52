"""Coordinates inside a mouth or eye opening bounded by an upper and a lower contour.

An opening is two polylines that share their end points (the corners). In the frame of the
corner-to-corner axis a pixel has ``a`` (px along the axis from the first corner) and ``b`` (px
across it, positive toward the lower contour); each contour is a function ``b(a)``, so
``d_up = b - upper(a)`` is the pixel's depth below the upper contour and ``d_lo = lower(a) - b``
its height above the lower one. Both positive: inside. Used per pixel by the eye and mouth kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass
class Opening:
    """An opening in axis coordinates. ``origin`` (2,) first corner; ``axis`` (2,) unit vector to
    the second corner; ``normal`` (2,) unit, toward the lower contour; ``length`` px between corners;
    ``upper``/``lower``: (n, 2) float64 (a, b) per contour point, a non-decreasing."""

    origin: np.ndarray
    axis: np.ndarray
    normal: np.ndarray
    length: float
    upper: np.ndarray
    lower: np.ndarray

    def gaps(self) -> np.ndarray:
        """Lower minus upper ``b`` at each contour column (px; <= 0 where the lips/lids touch)."""
        return self.lower[:, 1] - self.upper[:, 1]


def opening(upper_xy: np.ndarray, lower_xy: np.ndarray) -> Opening:
    """Axis frame of the opening between two contours (each (n, 2) pixels, corners shared)."""
    c0 = upper_xy[0].astype(np.float64)
    c1 = upper_xy[-1].astype(np.float64)
    length = float(np.linalg.norm(c1 - c0))
    axis = (c1 - c0) / max(length, 1e-6)
    normal = np.array([-axis[1], axis[0]])
    # The lower contour is below the upper one on screen (y down) for any roll under 90 degrees.
    if normal[1] < 0:
        normal = -normal

    def to_ab(p: np.ndarray) -> np.ndarray:
        d = p.astype(np.float64) - c0
        ab = np.stack([d @ axis, d @ normal], axis=1)
        ab[:, 0] = np.maximum.accumulate(ab[:, 0])
        return ab

    return Opening(c0, axis, normal, length, to_ab(upper_xy), to_ab(lower_xy))


@njit(cache=True, nogil=True)
def contour_at(curve: np.ndarray, a: float) -> tuple[float, int, float]:
    """``b`` of a contour (n, 2) at axis position ``a``, with the segment index and fraction there."""
    n = curve.shape[0]
    if a <= curve[0, 0]:
        return curve[0, 1], 0, 0.0
    for k in range(n - 1):
        a1 = curve[k + 1, 0]
        if a <= a1:
            a0 = curve[k, 0]
            f = (a - a0) / (a1 - a0) if a1 > a0 else 0.0
            return curve[k, 1] + f * (curve[k + 1, 1] - curve[k, 1]), k, f
    return curve[n - 1, 1], n - 2, 1.0


@njit(cache=True, nogil=True)
def sample(image: np.ndarray, x: float, y: float, out: np.ndarray) -> None:
    """Bilinear RGB sample of a uint8 image at (x, y) px (clamped to the border) into ``out`` (3,)."""
    h, w = image.shape[0], image.shape[1]
    x = min(max(x, 0.0), w - 1.001)
    y = min(max(y, 0.0), h - 1.001)
    x0, y0 = int(x), int(y)
    fx, fy = x - x0, y - y0
    for c in range(3):
        top = image[y0, x0, c] * (1 - fx) + image[y0, x0 + 1, c] * fx
        bot = image[y0 + 1, x0, c] * (1 - fx) + image[y0 + 1, x0 + 1, c] * fx
        out[c] = top * (1 - fy) + bot * fy
