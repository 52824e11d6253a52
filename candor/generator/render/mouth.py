"""Mouth interior: what shows between the lips when they part further than in the portrait.

A plain warp stretches the closed lip line into a "curtain". Instead every pixel between the
target inner-lip contours is painted here, in the opening's own coordinates (see ``opening``):

closed source   synthesized: a dark oral cavity shaded toward the corners, a hint of tongue at the
                bottom, the upper teeth hanging from the head's (rigid) lip line, so the lip raising
                or the jaw dropping uncovers them as it would, and lower teeth rising from the
                lower lip as the jaw opens.
open source     the real interior is reused: the part under the upper lip (upper teeth) and the
                part over the lower lip keep their source size and travel with their lip; the gap
                between them opens onto the synthesized cavity.
"""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit

from candor.generator import landmarks as lm
from candor.generator.render.opening import contour_at, opening, sample
from candor.generator.render.topology import MOUTH_LOWER, MOUTH_UPPER

OPEN_SOURCE = 0.06  # lip gap / mouth width above which the portrait's own interior is reused
TEETH_RGB = np.array([236.0, 224.0, 204.0])
UPPER_KEEP = 0.6  # share of the source gap that travels with the upper lip (the rest with the lower)


class MouthLayer:
    """The mouth of one portrait: its source opening and the colours its interior is painted with."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        self.upper_idx = np.array(MOUTH_UPPER)
        self.lower_idx = np.array(MOUTH_LOWER)
        pts = landmarks[:, :2].astype(np.float64)
        self.source = image
        self.src_upper = pts[self.upper_idx]
        self.src_lower = pts[self.lower_idx]
        o = opening(self.src_upper, self.src_lower)
        self.width = o.length
        self.reuse = bool(o.gaps().max() / max(o.length, 1e-6) > OPEN_SOURCE)
        # The lip line the teeth hang from, in the head's frame: midway between the source lips.
        self.lip_line = ((landmarks[self.upper_idx] + landmarks[self.lower_idx]) / 2).astype(np.float32)

        outer = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(outer, [np.round(pts[list(lm.LIPS_OUTER)]).astype(np.int32)], 255)
        inner = np.zeros_like(outer)
        cv2.fillPoly(inner, [np.round(np.concatenate([self.src_upper, self.src_lower[::-1]])).astype(np.int32)], 255)
        lips = image[(outer > 0) & (inner == 0)].astype(np.float64)
        lip_rgb = np.median(lips, axis=0) if len(lips) > 8 else np.array([150.0, 80.0, 80.0])
        face = image[int(pts[:, 1].min()) : int(pts[:, 1].max()), int(pts[:, 0].min()) : int(pts[:, 0].max())]
        light = float(np.clip(face.mean() / 140.0, 0.8, 1.08))  # portrait exposure, for the teeth
        # The photo's colour cast (warm studio light, old film) tints the teeth as it does the skin.
        mean = face.reshape(-1, 3).mean(axis=0)
        cast = mean / max(float(mean.mean()), 1.0)
        self.teeth_rgb = np.clip(TEETH_RGB * light * (0.6 + 0.4 * cast), 0, 255)
        self.cavity_rgb = lip_rgb * np.array([0.22, 0.13, 0.13])
        self.tongue_rgb = lip_rgb * np.array([0.80, 0.55, 0.55])
        if self.reuse:
            gap = image[(inner > 0)].astype(np.float64)
            luma = gap @ np.array([0.299, 0.587, 0.114])
            dark = gap[luma <= np.percentile(luma, 20)]
            if len(dark) > 4:
                self.cavity_rgb = np.minimum(dark.mean(axis=0), self.cavity_rgb * 1.5)

    def draw(self, frame: np.ndarray, target_landmarks: np.ndarray, head_matrix: np.ndarray, jaw: float) -> None:
        """Paint the interior of the target lip opening into ``frame`` (512, 512, 3) uint8, in place.

        ``jaw``: the jawOpen coefficient (0..1), which raises the lower teeth into view.
        """
        up = target_landmarks[self.upper_idx, :2]
        lo = target_landmarks[self.lower_idx, :2]
        t = opening(up, lo)
        if t.gaps().max() <= 0.05:
            return
        line = self.lip_line @ head_matrix[:, :3].T + head_matrix[:, 3]
        d = line[:, :2].astype(np.float64) - t.origin
        edge = np.stack([d @ t.axis, d @ t.normal], axis=1)
        edge[:, 0] = np.maximum.accumulate(edge[:, 0])
        pts = np.concatenate([up, lo])
        x0 = max(int(np.floor(pts[:, 0].min())) - 1, 0)
        y0 = max(int(np.floor(pts[:, 1].min())) - 1, 0)
        x1 = min(int(np.ceil(pts[:, 0].max())) + 1, frame.shape[1] - 1)
        y1 = min(int(np.ceil(pts[:, 1].max())) + 1, frame.shape[0] - 1)
        _mouth_kernel(
            frame, x0, y0, x1, y1, t.origin, t.axis, t.normal, t.upper, t.lower, edge,
            self.source, self.src_upper, self.src_lower, self.width / max(t.length, 1e-6), self.reuse,
            self.teeth_rgb, self.cavity_rgb, self.tongue_rgb, float(np.clip(jaw, 0.0, 1.0)),
        )  # fmt: skip


@njit(cache=True, nogil=True)
def _blend(rgb, colour, w):
    for c in range(3):
        rgb[c] = rgb[c] * (1.0 - w) + colour[c] * w


@njit(cache=True, nogil=True)
def _synth(rgb, x, d_up, d_lo, h, b, edge_b, length, teeth, cavity, tongue, jaw, with_teeth):
    """Procedural interior colour at one pixel into ``rgb`` (3,); ``h`` is the local lip gap (px)."""
    arch = np.sqrt(max(0.0, 1.0 - ((x - 0.5) / 0.46) ** 2))  # teeth recede toward the corners
    # The cavity is darkest deep in the middle and catches light near the lips.
    near = np.exp(-min(d_up, d_lo) / (0.18 * h + 1.0))
    shade = (0.5 + 0.5 * arch) * (0.55 + 0.9 * near)
    for c in range(3):
        rgb[c] = cavity[c] * shade
    # Tongue: a low mound behind the lower lip, lit on its top.
    mound = np.sqrt(max(0.0, 1.0 - ((x - 0.5) / 0.32) ** 2))
    top = 0.33 * h * mound
    w = min(max(top - d_lo + 0.5, 0.0), 1.0) * min(1.0, h / (0.1 * length + 1e-6))
    if w > 0.0:
        lit = 0.6 + 0.4 * mound * min(max(1.0 - (top - d_lo) / (0.5 * top + 1.0), 0.0), 1.0)
        _blend(rgb, tongue * lit, w)
    if not with_teeth:
        return
    # Lower teeth: a narrow row just over the lower lip once the jaw is well open.
    low_arch = np.sqrt(max(0.0, 1.0 - ((x - 0.5) / 0.28) ** 2))
    lower_h = 0.04 * length * min(max((jaw - 0.5) / 0.4, 0.0), 1.0) * low_arch
    # (A row thinner than ~2 px reads as a grey rim on the lip, not as teeth: fade it in.)
    w = min(max(lower_h - d_lo + 0.5, 0.0), 1.0) * min(max((lower_h - 1.5) / 1.5, 0.0), 1.0)
    if w > 0.0:
        _blend(rgb, teeth * (0.6 + 0.25 * low_arch), w)
    # Upper teeth hang from the head's rigid lip line (plus the incisal show).
    upper_h = (edge_b + 0.08 * length - (b - d_up)) * np.sqrt(arch)
    upper_h = min(upper_h, 0.16 * length)
    w = min(max(upper_h - d_up + 0.5, 0.0), 1.0)
    if w > 0.0:
        t = (0.6 + 0.4 * arch) * _tooth_relief(x, length)
        # The biting edge is a little translucent (darker), the part under the lip in its shadow.
        t *= 1.0 - 0.12 * min(max(1.0 - (upper_h - d_up) / (0.25 * upper_h + 1.0), 0.0), 1.0)
        _blend(rgb, teeth * t, w)


# Tooth boundaries across the mouth (fractions of the corner-to-corner width), centre outward:
# central incisors, laterals, canines, premolars.
_TOOTH_EDGES = np.array([0.5, 0.41, 0.59, 0.335, 0.665])


@njit(cache=True, nogil=True)
def _tooth_relief(x, length):
    """Shading across the teeth at ``x`` (0..1): each tooth is slightly rounded, with a faint gap."""
    nearest = 1.0
    for xb in _TOOTH_EDGES:
        nearest = min(nearest, abs(x - xb))
    gap = np.exp(-((nearest * length) ** 2) / 0.7)
    round_ = min(nearest / 0.025, 1.0)
    return (0.96 + 0.04 * round_) * (1.0 - 0.1 * gap)


@njit(cache=True, nogil=True)
def _mouth_kernel(
    frame, x0, y0, x1, y1, origin, axis, normal, upper, lower, edge,
    src, s_upper, s_lower, scale, reuse, teeth, cavity, tongue, jaw,
):  # fmt: skip
    length = upper[upper.shape[0] - 1, 0]
    rgb = np.zeros(3)
    top_rgb = np.zeros(3)
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            dx, dy = x - origin[0], y - origin[1]
            a = dx * axis[0] + dy * axis[1]
            b = dx * normal[0] + dy * normal[1]
            ub, ku, fu = contour_at(upper, a)
            lb, kl, fl = contour_at(lower, a)
            d_up, d_lo = b - ub, lb - b
            along = min(max(a + 0.5, 0.0), 1.0) * min(max(length - a + 0.5, 0.0), 1.0)
            alpha = along * min(max(d_up + 0.5, 0.0), 1.0) * min(max(d_lo + 0.5, 0.0), 1.0)
            if alpha <= 0.0:
                continue
            d_up, d_lo = max(d_up, 0.0), max(d_lo, 0.0)
            gap = max(lb - ub, 1e-3)  # local lip gap, px
            xr = min(max(a / length, 0.0), 1.0)
            eb, _, _ = contour_at(edge, a)
            synth = 1.0  # share of the colour that is synthesized (gets the lips' contact shadow)
            if reuse:
                # Source points on the two lips at this column, and the source gap between them.
                sux = s_upper[ku, 0] + fu * (s_upper[ku + 1, 0] - s_upper[ku, 0])
                suy = s_upper[ku, 1] + fu * (s_upper[ku + 1, 1] - s_upper[ku, 1])
                slx = s_lower[kl, 0] + fl * (s_lower[kl + 1, 0] - s_lower[kl, 0])
                sly = s_lower[kl, 1] + fl * (s_lower[kl + 1, 1] - s_lower[kl, 1])
                hs = np.sqrt((slx - sux) ** 2 + (sly - suy) ** 2)
                ht = gap * scale
                if hs < 1e-3:
                    _synth(rgb, xr, d_up, d_lo, gap, b, eb, length, teeth, cavity, tongue, jaw, True)
                else:
                    # Up to a little past the source gap the real interior stretches; beyond, the
                    # upper 60% rides with the upper lip, the rest with the lower, and the cavity
                    # opens between them (continuously from zero width).
                    hk = min(ht, 1.15 * hs + 2.0)
                    cav = ht - hk
                    dsu, dsl = d_up * scale, d_lo * scale
                    top = UPPER_KEEP * hk
                    f = dsu / hk if dsu <= top else 1.0 - dsl / hk
                    f = min(max(f, 0.0), 1.0)
                    sample(src, sux + f * (slx - sux), suy + f * (sly - suy), top_rgb)
                    synth = 0.0
                    if cav > 0.0:
                        w = min(max(min(dsu - top, dsl - (hk - top)) / 1.5 + 0.5, 0.0), 1.0) * min(cav, 1.0)
                        _synth(rgb, xr, d_up, d_lo, gap, b, eb, length, teeth, cavity, tongue, jaw, False)
                        _blend(top_rgb, rgb, w)
                        synth = w
                    rgb[0], rgb[1], rgb[2] = top_rgb[0], top_rgb[1], top_rgb[2]
            else:
                _synth(rgb, xr, d_up, d_lo, gap, b, eb, length, teeth, cavity, tongue, jaw, True)
            # Contact shadow where a synthesized interior meets the lips.
            k = 1.0 - 0.35 * synth * np.exp(-min(d_up, d_lo) / 1.5)
            for c in range(3):
                v = frame[y, x, c] * (1.0 - alpha) + rgb[c] * k * alpha
                frame[y, x, c] = min(max(v + 0.5, 0.0), 255.0)
