"""Eyes: the iris moves inside the opening, clipped by the lids; a blink closes skin over the eye.

Per portrait: each iris is cut out of the source eye (the hole is filled with the eye's white,
shaded), giving an "eyeless" source that the mesh warp samples everywhere. Per frame the iris is
drawn back as a disc at its target centre (the rig rotates it for gaze), sampled from the source
iris and clipped to the target lid opening, so gaze never drags the sclera or the lids along.

A blink is an eyelid layer over the warp: the mesh follows the target lids (the skin above a
closing eye comes down with it, crease included, as on a real face), and the lid is painted from the
portrait's own upper margin (carried by the head) down to the target one. It is the skin just above
the portrait's lashes pulled down, from at most LID_REACH eye widths above that margin, held near the
lid's own tone where it would carry something dark (crease shadow, frames, a painting's ink), a
little darker toward a lash line drawn along the closing margin. The iris and eye white stay
hidden under it.
"""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit

from candor.generator import landmarks as lm
from candor.generator.render.opening import Opening, contour_at, opening, sample

EYES = (
    (lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER, lm.RIGHT_IRIS),
    (lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER, lm.LEFT_IRIS),
)
IRIS_PAD = 1.12  # drawn disc radius / mediapipe iris radius: keeps the limbus with the iris
LASH_WIDTH = 0.06  # lash line thickness, in eye widths
LID_SHADOW = 0.52  # a shut lid darkens by this much toward its margin (it turns down, into the lashes' shadow)
SHUT_FROM, SHUT_AT = 0.4, 0.7  # eyeBlink where the lids start to close the last gap, and where they meet
LID_FLOOR = 0.92  # a shut lid's tone has at least this share of the luma of the lighter skin around
LID_SPREAD = 25.0  # grey levels a shut lid's skin may stray from its tone (softly: tanh)
LASH_SEARCH = 0.12  # eye widths above mediapipe's upper margin searched for the lash line
LID_HOLD = 0.8  # px of skin above the lashes that a lid stretches down, per px of its travel (+1)
LID_REACH = 0.2  # eye widths above the rest margin that a lid's skin comes from, at most
LASH_BAND = 0.07  # eye widths above a shut lid's margin kept at least as dark as the lid's source


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
        self.sclera_rgb = self._sclera(image, landmarks)
        self.lift = self._lash_lift(image, landmarks)
        self.lid_rgb = self._lid_skin(image, landmarks)
        band = self._lash_band(landmarks)
        pix = image[band > 0].reshape(-1, 3).astype(np.float32)
        luma = pix @ np.array([0.299, 0.587, 0.114], np.float32)
        self.lash_rgb = (
            pix[luma <= np.percentile(luma, 15)].mean(axis=0) if len(pix) > 8 else np.array([40.0, 30.0, 30.0])
        )

    def _lid_skin(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The tone of a shut upper lid (RGB): that of the skin above the lashes that it is made of.

        The median of that band's pixels between the 60th and 95th luma percentiles: the darker
        ones are lashes, crease, spectacle frames or a painting's outline strokes, whose pull
        toward a dark lid reads as an open eye. Never darker than LID_FLOOR x the lighter skin around the
        eye and on the cheek below (a painted eye socket can be dark throughout).
        """
        luma_of = np.array([0.299, 0.587, 0.114])
        n = self.opening.normal
        margin = landmarks[self.upper_idx, :2].astype(np.float64)
        low = margin - (self.lift[:, None] + 1.0) * n
        high = margin - (self.lift[:, None] + 1.0 + (LID_HOLD * self.aperture + 0.05) * self.width) * n
        band = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(band, [np.round(np.concatenate([low, high[::-1]])).astype(np.int32)], 1)
        band[self.mask > 0] = 0
        tone = None
        pix = image[band > 0].astype(np.float64)
        if len(pix) >= 16:
            luma = pix @ luma_of
            lo, hi = np.percentile(luma, [60, 95])
            tone = np.median(pix[(luma >= lo) & (luma <= hi)], axis=0)
        around = self._skin_around(image, landmarks)
        if tone is None:
            return around
        floor = LID_FLOOR * float(around @ luma_of)
        return tone * max(1.0, floor / max(float(tone @ luma_of), 1.0))

    def _skin_around(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The lighter skin in a ring around the eye and on the cheek below it (RGB)."""
        eye = (self.mask > 128).astype(np.uint8)
        k = max(3, int(round(0.5 * self.width)) | 1)
        pool = cv2.dilate(eye, np.ones((k, k), np.uint8)) > cv2.dilate(eye, np.ones((5, 5), np.uint8))
        cheek = (
            landmarks[[self.upper_idx[0], self.upper_idx[-1]], :2].mean(axis=0) + 0.9 * self.width * self.opening.normal
        )
        disc = np.zeros_like(eye)
        cv2.circle(disc, tuple(int(v) for v in np.round(cheek)), max(2, round(0.25 * self.width)), 1, -1)
        pix = image[pool | (disc > 0)].astype(np.float64)
        if len(pix) < 16:
            return image[self.mask > 128].astype(np.float64).mean(axis=0)
        luma = pix @ np.array([0.299, 0.587, 0.114])
        lo, hi = np.percentile(luma, [50, 95])
        return np.median(pix[(luma >= lo) & (luma <= hi)], axis=0)

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

    def _lash_lift(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(n,) px straight up from each upper-margin landmark to where the portrait's lashes end.

        The lash line is the darkest point within LASH_SEARCH eye widths (mediapipe often puts the
        margin a little inside the eye, behind glasses especially); it ends where the luma has come
        70% of the way back up to the brightest point within twice that reach. A shut lid is made
        of the skin above: pulled down, the lashes would be a thick dark band (an open eye's outline).
        """
        luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        steps = np.arange(0.0, 2 * LASH_SEARCH * self.width + 0.5, 0.5)
        reach = int(np.searchsorted(steps, LASH_SEARCH * self.width)) + 1
        lift = np.zeros(len(self.upper_idx))
        for k, p in enumerate(landmarks[self.upper_idx[1:-1], :2].astype(np.float64), start=1):
            xy = np.round(p[None, :] - steps[:, None] * self.opening.normal[None, :]).astype(int)
            xy = np.clip(xy, 0, np.array(image.shape[1::-1]) - 1)
            line = luma[xy[:, 1], xy[:, 0]]
            k0 = int(np.argmin(line[:reach]))
            level = line[k0] + 0.7 * (line[k0:].max() - line[k0])
            lift[k] = steps[k0 + int(np.argmax(line[k0:] >= level))]
        return lift

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
    """Both eyes of a portrait: the eyeless source, and per frame the lids, irises and lash lines.

    ``blinks``: the portrait's own eyeBlink (right, left) from its baseline; 0 = wide open. A lid's
    closure is measured against the portrait's eye, a blink against a fully open one.
    """

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, blinks: tuple[float, float] = (0.0, 0.0)) -> None:
        self.eyes = [Eye(image, landmarks, *e) for e in EYES]
        self.open_share = [1.0 - float(np.clip(b, 0.0, 0.9)) for b in blinks]  # portrait gap / fully open gap
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

    def rest_margins(self, head_matrix: np.ndarray) -> list[np.ndarray]:
        """Per eye, the portrait's own upper lid margin (n, 2) carried by the head into the target."""
        return [
            (self.landmarks[eye.upper_idx] @ head_matrix[:, :3].T + head_matrix[:, 3])[:, :2].astype(np.float64)
            for eye in self.eyes
        ]

    def draw(
        self, frame: np.ndarray, target_landmarks: np.ndarray, rest: list[np.ndarray], scale: float,
        closure: list[float],
    ) -> None:  # fmt: skip
        """Draw the lids, irises and lash lines into ``frame`` (512, 512, 3) uint8, in place.

        ``rest``: :meth:`rest_margins` of this frame; ``scale``: target/source size ratio of the
        head (the iris radius follows it).
        """
        for k, (eye, c) in enumerate(zip(self.eyes, closure, strict=True)):
            t = opening(target_landmarks[eye.upper_idx, :2], target_landmarks[eye.lower_idx, :2])
            # The lids meet from an eyeBlink of SHUT_AT on. Motion is labelled by mediapipe, and it
            # reads a shut eye as a gap left (on these renders a lid drawn shut reads 0.04-0.06
            # against 0.23 open), and a 25 fps frame catches a blink part way: the motion model's
            # blinks peak at 0.57-1.0. Each of those must show as a closed eye.
            # (Never below the portrait's own blink: its own motion gives back its own eyes.)
            own = 1.0 - self.open_share[k]
            shut = 1.0 - (1.0 - c) * self.open_share[k]  # this lid's blink, against a fully open eye
            lo = max(SHUT_FROM, own)
            f = float(np.clip((shut - lo) / (max(SHUT_AT, lo + 0.15) - lo), 0.0, 1.0))
            if f > 0.0:
                f = f * f * (3.0 - 2.0 * f)
                lower_b = np.interp(t.upper[:, 0], t.lower[:, 0], t.lower[:, 1])
                t.upper[:, 1] += f * np.maximum(lower_b - t.upper[:, 1], 0.0)
                c = c + (1.0 - c) * f
            ct = target_landmarks[EYES[k][2][0], :2].astype(np.float64)
            rt = IRIS_PAD * eye.radius * scale
            lash_w = max(1.2, LASH_WIDTH * t.length)
            # The portrait's own upper margin, carried by the head: the lid covers what lies between
            # it and the target margin (the lid's travel), whatever moved it (a blink, a downward gaze).
            d = rest[k] - t.origin
            top = np.stack([d @ t.axis, d @ t.normal], axis=1)
            top[:, 0] = np.maximum.accumulate(top[:, 0])
            pts = np.concatenate([target_landmarks[eye.upper_idx, :2], target_landmarks[eye.lower_idx, :2], rest[k]])
            s = eye.opening
            k_src = s.length / max(t.length, 1e-6)  # source px per target px
            # The lid's travel at its deepest, and the portrait's lashes above its margin (their
            # median, per px of that travel, so a lid barely down takes less): the kernel spreads
            # both along a rounded arc (a per-landmark height would shear the lid near the corners).
            rise = t.upper[:, 1] - np.interp(t.upper[:, 0], top[:, 0], top[:, 1])
            travel = float(max(rise.max(), 0.0))
            lift_per_travel = float(np.median(eye.lift[1:-1])) / k_src / max(travel, 1.0)
            pad = lash_w + 3 + (LID_REACH * t.length if travel > 0.3 else 0.0)  # the lid reaches up
            x0 = max(int(np.floor(pts[:, 0].min() - pad)), 0)
            y0 = max(int(np.floor(pts[:, 1].min() - pad)), 0)
            x1 = min(int(np.ceil(pts[:, 0].max() + pad)), frame.shape[1] - 1)
            y1 = min(int(np.ceil(pts[:, 1].max() + pad)), frame.shape[0] - 1)
            if x1 <= x0 or y1 <= y0:
                continue
            _eye_kernel(
                frame, x0, y0, x1, y1, t.origin, t.axis, t.normal, t.upper, t.lower, top, travel, lift_per_travel,
                ct, rt, self.source, eye.centre, IRIS_PAD * eye.radius, s.origin, s.axis, s.normal,
                s.upper, s.lower, eye.iris_rgb, eye.lid_rgb, c, lash_w, eye.lash_rgb,
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
    frame, x0, y0, x1, y1, origin, axis, normal, upper, lower, top, max_travel, lift_per_travel, ct, rt,
    src, cs, rs, s_origin, s_axis, s_normal, s_upper, s_lower, iris_rgb, lid_rgb, closure, lash_w, lash_rgb,
):  # fmt: skip
    length = upper[upper.shape[0] - 1, 0]
    k_src = s_upper[s_upper.shape[0] - 1, 0] / max(length, 1e-6)  # source px per target px
    rgb = np.zeros(3)
    tex = np.zeros(3)
    lash_band = LASH_BAND * length
    reach = LID_REACH * length
    # The band under a nearly shut lid's margin that the lid still covers: bits of eye white outside
    # mediapipe's contour would otherwise peek out under the lashes.
    below = 0.5 + 3.0 * max(closure - 0.5, 0.0)
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            dx, dy = x - origin[0], y - origin[1]
            a = dx * axis[0] + dy * axis[1]
            b = dx * normal[0] + dy * normal[1]
            ub, _, _ = contour_at(upper, a)
            lb, _, _ = contour_at(lower, a)
            tb, _, _ = contour_at(top, a)
            d_up, d_lo = b - ub, lb - b
            along = min(max(a + 0.5, 0.0), 1.0) * min(max(length - a + 0.5, 0.0), 1.0)
            alpha = along * min(max(d_up + 0.5, 0.0), 1.0) * min(max(d_lo + 0.5, 0.0), 1.0)
            r = frame[y, x, 0] * 1.0
            g = frame[y, x, 1] * 1.0
            bl = frame[y, x, 2] * 1.0
            travel = ub - tb  # px the lid has come down at this column
            # The lid is made of the skin from ``top_s`` px above the rest margin down to the top of
            # the portrait's lashes (``lt``): LID_HOLD px per px of the deepest travel (a small blink
            # takes only the skin next to the lashes), under a rounded arc along the eye (its top
            # edge follows the eye's shape, never the kinks of the landmark polyline).
            arc = np.sqrt(max(np.sin(np.pi * min(max(a / length, 0.0), 1.0)), 0.0))
            lt = lift_per_travel * max_travel * arc
            top_s = min(lt + LID_HOLD * max_travel * arc + 1.0, reach)
            lt = min(lt, 0.5 * top_s)
            start = tb - top_s  # the lid's top edge, px along the normal
            if travel > 0.3 and d_up < below and b > start:
                # The lid is the skin above the eye pulled down: that band, stretched from where it
                # begins (continuous with the unmoved skin: no seam) to the closed margin, where a
                # lash line is drawn. The portrait's own lashes stay behind the lid.
                a_s = a * k_src
                sb, _, _ = contour_at(s_upper, a_s)
                u = min(max((b - start) / max(ub - start, 1e-3), 0.0), 1.0)
                b_s = sb - top_s * k_src + u * (top_s - lt) * k_src
                sample(src, s_origin[0] + a_s * s_axis[0] + b_s * s_normal[0],
                       s_origin[1] + a_s * s_axis[1] + b_s * s_normal[1], tex)  # fmt: skip
                # Deeper in the lid, held near the lid's tone: a crease shadow, spectacle frames or
                # a painted outline pulled down must not read as an open eye. None at the top.
                held = min(u / 0.4, 1.0) * min(travel / 3.0, 1.0)
                held = held * held * (3.0 - 2.0 * held)
                shade = 1.0 - LID_SHADOW * u * u  # darker toward the lashes
                for c in range(3):
                    robust = lid_rgb[c] + LID_SPREAD * np.tanh((tex[c] - lid_rgb[c]) / LID_SPREAD)
                    rgb[c] = (tex[c] + held * (robust - tex[c])) * shade
                    if ub - b < lash_band:  # the lashes' shadow: no lighter than the source there
                        rgb[c] = min(tex[c], rgb[c])
                # Blends into the unmoved skin over the upper part of the band, and fades out toward
                # the corners, where little travel meets the portrait's own lashes.
                w = min((b - start) / (1.5 + 0.6 * (top_s - lt)), 1.0)
                side = min(travel / (0.5 * max_travel + 1.0), 1.0)
                w = w * w * (3.0 - 2.0 * w) * side * side * (3.0 - 2.0 * side)
                w *= along * min(max(below - d_up, 0.0), 1.0)
                r = r * (1 - w) + rgb[0] * w
                g = g * (1 - w) + rgb[1] * w
                bl = bl * (1 - w) + rgb[2] * w
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
                w = alpha * min((closure - 0.6) / 0.3, 1.0)
                r = r * (1 - w) + lash_rgb[0] * w
                g = g * (1 - w) + lash_rgb[1] * w
                bl = bl * (1 - w) + lash_rgb[2] * w
            if closure > 0.0:
                # Lash line: a dark band centred just above the closing upper lid margin.
                w = closure * along * min(max(1.0 - abs(d_up + 0.4 * lash_w) / (0.7 * lash_w), 0.0), 1.0)
                r = r * (1 - w) + lash_rgb[0] * w
                g = g * (1 - w) + lash_rgb[1] * w
                bl = bl * (1 - w) + lash_rgb[2] * w
            frame[y, x, 0] = min(max(r + 0.5, 0.0), 255.0)
            frame[y, x, 1] = min(max(g + 0.5, 0.0), 255.0)
            frame[y, x, 2] = min(max(bl + 0.5, 0.0), 255.0)
