"""Eyes: the iris moves inside the opening, clipped by the lids; a blink closes skin over the eye.

Per portrait: each iris is cut out of the source eye (the hole is filled with the eye's white,
shaded), giving an "eyeless" source that the mesh warp samples everywhere. Per frame the iris is
drawn back as a disc at its target centre (the rig rotates it for gaze), sampled from the source
iris and clipped to the target lid opening, so gaze never drags the sclera or the lids along.

A blink: as the lids close, the source positions of the upper-lid margin vertices slide toward the
vertices above them, so the stretched lid samples eyelid skin instead of smearing the lash line
across the eye; the stretched lid is smoothed along the eye axis (no streaks) and a thin lash line
is drawn along the closing margin.
"""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit

from candor.generator import landmarks as lm
from candor.generator.render.opening import Opening, contour_at, opening, sample
from candor.generator.render.topology import face_triangles

EYES = (
    (lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER, lm.RIGHT_IRIS),
    (lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER, lm.LEFT_IRIS),
)
IRIS_PAD = 1.12  # drawn disc radius / mediapipe iris radius: keeps the limbus with the iris
LID_SLIDE = 0.7  # share of the way to the vertex above that the lid margin's source slides at a full blink
LASH_WIDTH = 0.06  # lash line thickness, in eye widths
LID_TONE = 0.3  # how far a shut lid is pulled toward the (shaded) skin tone above the crease
LID_SHADE = 0.9  # a shut lid sits in the eye socket, a little darker than the skin above it


def _aperture(o: Opening) -> float:
    """Mean lid gap over the middle of the eye, in eye widths."""
    return float(np.clip(o.gaps()[2:-2], 0, None).mean() / max(o.length, 1e-6))


class Eye:
    """One eye of the source portrait: its opening, iris and colours."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, upper, lower, iris) -> None:
        self.upper_idx = np.array(upper)
        self.lower_idx = np.array(lower)
        self.opening = opening(landmarks[self.upper_idx, :2], landmarks[self.lower_idx, :2])
        self.aperture = _aperture(self.opening)
        self.centre = landmarks[iris[0], :2].astype(np.float64)
        ring = landmarks[list(iris[1:]), :2]
        self.radius = float(np.linalg.norm(ring - self.centre, axis=1).mean())
        self.width = self.opening.length
        self.above_idx = self._above(landmarks)
        poly = np.concatenate([landmarks[self.upper_idx, :2], landmarks[self.lower_idx[::-1], :2]])
        self.mask = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(self.mask, [np.round(poly * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        disc = np.zeros_like(self.mask)
        cx, cy = np.round(self.centre * 16).astype(int)
        cv2.circle(disc, (cx, cy), int(16 * IRIS_PAD * self.radius), 255, -1, cv2.LINE_AA, shift=4)
        # Feathered, so a hole edge uncovered by parallax (the iris sits in front of the lids) is soft.
        soft = cv2.GaussianBlur(disc.astype(np.float32) / 255, (0, 0), 1.0)
        # Kept ~2 px inside the lid contour: the coarse flow blurs the contour by about that much,
        # and a fill that bleeds past it shows as a pale arc over the lid.
        inner = cv2.erode(self.mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
        self.hole = (inner.astype(np.float32) / 255) * np.maximum(soft, disc.astype(np.float32) / 255)
        self.iris_rgb = self._mean(image, disc > 128, self.mask > 128)
        self.lid_rgb = self._lid_skin(image, landmarks)
        self.sclera_rgb = self._sclera(image, landmarks)
        band = self._lash_band(landmarks)
        pix = image[band > 0].reshape(-1, 3).astype(np.float32)
        luma = pix @ np.array([0.299, 0.587, 0.114], np.float32)
        self.lash_rgb = (
            pix[luma <= np.percentile(luma, 15)].mean(axis=0) if len(pix) > 8 else np.array([40.0, 30.0, 30.0])
        )

    def _above(self, landmarks: np.ndarray) -> np.ndarray:
        """For each inner upper-margin vertex, its mesh neighbour most nearly straight above it."""
        pts = landmarks[:, :2].astype(np.float64)
        near: dict[int, set[int]] = {}
        for tri in face_triangles():
            for i in tri:
                near.setdefault(int(i), set()).update(int(j) for j in tri)
        contour = set(self.upper_idx.tolist()) | set(self.lower_idx.tolist())
        o = self.opening
        out = []
        for u in self.upper_idx[1:-1]:
            options = [j for j in near[int(u)] if j not in contour]
            lift = [(-(pts[j] - pts[u]) @ o.normal - abs((pts[j] - pts[u]) @ o.axis), j) for j in options]
            out.append(max(lift)[1])
        return np.array(out)

    def _lid_skin(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Median colour of the lid skin above the crease: what a shut upper lid mostly shows."""
        margin = landmarks[self.upper_idx[1:-1], :2].astype(np.float64)
        above = landmarks[self.above_idx, :2].astype(np.float64)
        top = above + (above - margin)
        poly = np.concatenate([above, top[::-1]])
        mask = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
        pix = image[mask > 0].astype(np.float64)
        return np.median(pix, axis=0) if len(pix) > 8 else image[self.mask > 128].mean(axis=0)

    @staticmethod
    def _mean(image: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        sel = a & b
        return image[sel].astype(np.float64).mean(axis=0) if sel.sum() > 3 else image[b].mean(axis=0)

    def _sclera(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The eye white's colour (RGB): the brighter part of the opening outside the iris."""
        far = np.zeros(image.shape[:2], np.uint8)
        cv2.circle(far, tuple(np.round(self.centre).astype(int)), int(round(1.4 * self.radius)), 255, -1)
        sel = (self.mask > 200) & (far == 0)
        pix = image[sel].astype(np.float64)
        if len(pix) < 8:
            # Hardly any white visible (squint, glasses glare): a light, slightly warm grey.
            return np.array([215.0, 205.0, 200.0]) * image[self.mask > 128].mean() / 128.0
        luma = pix @ np.array([0.299, 0.587, 0.114])
        # The brighter part: the visible white also holds lashes and lid shadow.
        white = np.median(pix[luma >= np.percentile(luma, 70)], axis=0)
        # Where hardly any white shows (small eyes, tinted lenses) that is still iris or lid:
        # keep its light but take most of its colour out, as an eye white has little.
        grey = float(white @ np.array([0.299, 0.587, 0.114]))
        sat = (white.max() - white.min()) / max(white.max(), 1.0)
        if sat > 0.25:
            keep = 0.25 / sat
            white = grey + (white - grey) * keep
            white = white * max(1.0, _skin_luma(image, self.mask) / max(grey, 1.0))
        return np.clip(white, 0, 255)

    def _lash_band(self, landmarks: np.ndarray) -> np.ndarray:
        """Mask of a thin band along the upper lid margin (where the lashes are)."""
        band = np.zeros(self.mask.shape, np.uint8)
        pts = np.round(landmarks[self.upper_idx, :2] * 16).astype(np.int32)
        cv2.polylines(band, [pts], False, 255, max(2, round(0.06 * self.width)), cv2.LINE_8, shift=4)
        return band


def _skin_luma(image: np.ndarray, eye_mask: np.ndarray) -> float:
    """Median luma of the skin in a ring around an eye (its local lighting)."""
    eye = (eye_mask > 128).astype(np.uint8)
    ring = cv2.dilate(eye, np.ones((15, 15), np.uint8)) > cv2.dilate(eye, np.ones((5, 5), np.uint8))
    return float(np.median(image[ring].astype(np.float64) @ np.array([0.299, 0.587, 0.114])))


class EyeLayer:
    """Both eyes of a portrait: the eyeless source, lid slides and the per-frame iris/lash drawing."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        self.eyes = [Eye(image, landmarks, *e) for e in EYES]
        eyeless = image.astype(np.float32)
        for eye in self.eyes:
            a = eye.hole[:, :, None]
            # Fill the iris hole with the eye's white, shaded darker toward the upper lid. (Inpainting
            # from the surroundings was tried: behind glasses it floods the hole with lid shadow.)
            ys = np.arange(image.shape[0], dtype=np.float32)[:, None, None]
            shade = 0.85 + 0.15 * np.clip((ys - eye.centre[1] + eye.radius) / (2 * eye.radius), 0, 1)
            fill = eye.sclera_rgb[None, None, :] * shade
            eyeless = eyeless * (1 - a) + fill * a
        self.eyeless = np.clip(eyeless + 0.5, 0, 255).astype(np.uint8)
        self.source = image
        self.landmarks = landmarks

    def closure(self, target_landmarks: np.ndarray) -> list[float]:
        """Per eye, 0 = at least as open as in the portrait, 1 = shut."""
        out = []
        for eye in self.eyes:
            o = opening(target_landmarks[eye.upper_idx, :2], target_landmarks[eye.lower_idx, :2])
            out.append(float(np.clip(1.0 - _aperture(o) / max(eye.aperture, 1e-3), 0.0, 1.0)))
        return out

    def slide_lids(self, src: np.ndarray, closure: list[float]) -> None:
        """Move the source positions (V, 2) of the inner upper-lid vertices up, in place."""
        for eye, c in zip(self.eyes, closure, strict=True):
            if c <= 0:
                continue
            idx = eye.upper_idx[1:-1]
            src[idx] += (LID_SLIDE * c) * (src[eye.above_idx] - src[idx])

    def draw(self, frame: np.ndarray, target_landmarks: np.ndarray, scale: float, closure: list[float]) -> None:
        """Draw the irises and lash lines into ``frame`` (512, 512, 3) uint8, in place.

        ``scale``: target/source size ratio of the head (the iris radius follows it).
        """
        for eye, c in zip(self.eyes, closure, strict=True):
            t = opening(target_landmarks[eye.upper_idx, :2], target_landmarks[eye.lower_idx, :2])
            ct = target_landmarks[EYES[self.eyes.index(eye)][2][0], :2].astype(np.float64)
            rt = IRIS_PAD * eye.radius * scale
            lash_w = max(1.2, LASH_WIDTH * t.length)
            pts = np.concatenate([target_landmarks[eye.upper_idx, :2], target_landmarks[eye.lower_idx, :2]])
            pad = lash_w + 2
            x0 = max(int(np.floor(pts[:, 0].min() - pad)), 0)
            y0 = max(int(np.floor(pts[:, 1].min() - pad)), 0)
            x1 = min(int(np.ceil(pts[:, 0].max() + pad)), frame.shape[1] - 1)
            y1 = min(int(np.ceil(pts[:, 1].max() + pad)), frame.shape[0] - 1)
            if x1 <= x0 or y1 <= y0:
                continue
            s = eye.opening
            # Height of lid now covering the eye (px): the stretched lid is smoothed along the eye
            # axis there, which removes the streaks a thin strip of lid texture makes when stretched.
            lid_h = c * eye.aperture * eye.width * scale
            if lid_h > 0.5:
                y0 = max(int(np.floor(y0 - lid_h)), 0)
                k = max(3, int(0.18 * t.length) | 1)
                smooth = cv2.blur(frame[y0 : y1 + 1, x0 : x1 + 1], (k, 1), borderType=cv2.BORDER_REPLICATE)
                # ... and pulled toward the lid's own skin tone (the crease shadow stretched over a
                # shut eye otherwise reads as a dark, half-open eye).
                pull = LID_TONE * c
                smooth = (smooth * (1 - pull) + (LID_SHADE * eye.lid_rgb) * pull + 0.5).astype(np.uint8)
            else:
                smooth = np.ascontiguousarray(frame[y0 : y1 + 1, x0 : x1 + 1])
            _eye_kernel(
                frame, smooth, lid_h, x0, y0, x1, y1, t.origin, t.axis, t.normal, t.upper, t.lower, ct, rt,
                self.source, eye.centre, IRIS_PAD * eye.radius, s.origin, s.axis, s.normal, s.upper, s.lower,
                eye.iris_rgb, c, lash_w, eye.lash_rgb,
            )  # fmt: skip


@njit(cache=True, nogil=True)
def _inside(origin, axis, normal, upper, lower, x, y, margin):
    dx, dy = x - origin[0], y - origin[1]
    a = dx * axis[0] + dy * axis[1]
    b = dx * normal[0] + dy * normal[1]
    if a < upper[0, 0] or a > upper[upper.shape[0] - 1, 0]:
        return False
    ub, _, _ = contour_at(upper, a)
    lb, _, _ = contour_at(lower, a)
    return b - ub > margin and lb - b > margin


@njit(cache=True, nogil=True)
def _eye_kernel(
    frame, smooth, lid_h, x0, y0, x1, y1, origin, axis, normal, upper, lower, ct, rt,
    src, cs, rs, s_origin, s_axis, s_normal, s_upper, s_lower, iris_rgb, closure, lash_w, lash_rgb,
):  # fmt: skip
    length = upper[upper.shape[0] - 1, 0]
    rgb = np.zeros(3)
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            dx, dy = x - origin[0], y - origin[1]
            a = dx * axis[0] + dy * axis[1]
            b = dx * normal[0] + dy * normal[1]
            ub, _, _ = contour_at(upper, a)
            lb, _, _ = contour_at(lower, a)
            d_up, d_lo = b - ub, lb - b
            along = min(max(a + 0.5, 0.0), 1.0) * min(max(length - a + 0.5, 0.0), 1.0)
            alpha = along * min(max(d_up + 0.5, 0.0), 1.0) * min(max(d_lo + 0.5, 0.0), 1.0)
            r = frame[y, x, 0] * 1.0
            g = frame[y, x, 1] * 1.0
            bl = frame[y, x, 2] * 1.0
            # The smoothed band reaches a little below a nearly shut lid's margin too, where bits of
            # eye white outside mediapipe's contour would otherwise peek out under the lashes.
            below = 0.5 + 3.0 * max(closure - 0.5, 0.0)
            if lid_h > 0.5 and d_up < below:
                w = along * min(max((lid_h + d_up) / 2.0 + 0.5, 0.0), 1.0) * min(max(below - d_up, 0.0), 1.0)
                w *= min(lid_h / 3.0, 1.0)  # fades in with the closure: no pop as the lid starts to move
                r = r * (1 - w) + smooth[y - y0, x - x0, 0] * w
                g = g * (1 - w) + smooth[y - y0, x - x0, 1] * w
                bl = bl * (1 - w) + smooth[y - y0, x - x0, 2] * w
            if alpha > 0.0:
                dist = np.sqrt((x - ct[0]) ** 2 + (y - ct[1]) ** 2)
                ai = min(max(rt - dist + 0.5, 0.0), 1.0) * alpha
                if ai > 0.0:
                    k = rs / rt
                    sx = cs[0] + (x - ct[0]) * k
                    sy = cs[1] + (y - ct[1]) * k
                    mx, my = 2 * cs[0] - sx, 2 * cs[1] - sy
                    # A source point the portrait's lid covered: just under the target's upper lid
                    # keep that lid's shadow and lashes (they sit over the iris in any gaze);
                    # further down use the opposite side of the iris; in the padding ring, nothing.
                    core = (x - ct[0]) ** 2 + (y - ct[1]) ** 2 <= (rt / IRIS_PAD) ** 2
                    if _inside(s_origin, s_axis, s_normal, s_upper, s_lower, sx, sy, -0.5) or d_up < 0.35 * rt:
                        sample(src, sx, sy, rgb)
                    elif not core:
                        ai = 0.0
                    elif _inside(s_origin, s_axis, s_normal, s_upper, s_lower, mx, my, 0.5):
                        sample(src, mx, my, rgb)
                    else:
                        rgb[0], rgb[1], rgb[2] = iris_rgb[0], iris_rgb[1], iris_rgb[2]
                    r = r * (1 - ai) + rgb[0] * ai
                    g = g * (1 - ai) + rgb[1] * ai
                    bl = bl * (1 - ai) + rgb[2] * ai
            if closure > 0.6 and alpha > 0.0:
                # The last sliver of a closing eye is lashes and shadow, not eye white.
                w = alpha * min((closure - 0.6) / 0.3, 1.0) * 0.85
                r = r * (1 - w) + lash_rgb[0] * w
                g = g * (1 - w) + lash_rgb[1] * w
                bl = bl * (1 - w) + lash_rgb[2] * w
            if closure > 0.0:
                # Lash line: a dark band centred just above the closing upper lid margin.
                w = 0.9 * closure * along * min(max(1.0 - abs(d_up + 0.4 * lash_w) / (0.7 * lash_w), 0.0), 1.0)
                r = r * (1 - w) + lash_rgb[0] * w
                g = g * (1 - w) + lash_rgb[1] * w
                bl = bl * (1 - w) + lash_rgb[2] * w
            frame[y, x, 0] = min(max(r + 0.5, 0.0), 255.0)
            frame[y, x, 1] = min(max(g + 0.5, 0.0), 255.0)
            frame[y, x, 2] = min(max(bl + 0.5, 0.0), 255.0)
