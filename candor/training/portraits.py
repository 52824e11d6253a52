"""Varied portraits made at run time from the two bundled public-domain photos.

skimage's astronaut and matplotlib's Grace Hopper, and renditions of them: painting-like
stylizations (OpenCV stylization, oil paint, a cartoon, a posterized print), eyeglasses and a beard
drawn on, a small face in a large frame, head turns and an open smile rendered by Candor's own
renderer, mirror images and off-centre crops. Used by ``benchmarks/render_fidelity.py`` (does the
renderer show what it is told) and by the detector's product dataset
(:mod:`candor.training.detector_product`), which needs many portraits the classifier has and has
not seen.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

# Landmarks used below (mediapipe indices): eye corners, forehead and chin.
RIGHT_CORNERS, LEFT_CORNERS = (33, 133), (263, 362)
FOREHEAD, CHIN = 10, 152


def photos() -> dict[str, np.ndarray]:
    import matplotlib.cbook as cbook
    from PIL import Image
    from skimage import data

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        grace = np.asarray(Image.open(fh).convert("RGB"))
    return {"astronaut": data.astronaut(), "grace": grace}


def _bgr(fn: Callable[[np.ndarray], np.ndarray], rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(fn(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), cv2.COLOR_BGR2RGB)


def stylized(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's non-photorealistic 'stylization' (watercolour-like, flat regions)."""
    return _bgr(lambda im: cv2.stylization(im, sigma_s=60, sigma_r=0.45), rgb)


def oil(rgb: np.ndarray) -> np.ndarray:
    """Oil painting (opencv-contrib xphoto); falls back to a strong edge-preserving filter."""
    if hasattr(cv2, "xphoto") and hasattr(cv2.xphoto, "oilPainting"):
        return _bgr(lambda im: cv2.xphoto.oilPainting(im, 7, 1), rgb)
    return _bgr(lambda im: cv2.edgePreservingFilter(im, flags=1, sigma_s=80, sigma_r=0.5), rgb)


def cartoon(rgb: np.ndarray) -> np.ndarray:
    """Flat colour (edge-preserving smoothing, 6 levels a channel) with dark ink outlines."""
    flat = cv2.edgePreservingFilter(rgb, flags=1, sigma_s=60, sigma_r=0.4)
    flat = (flat // 43) * 43 + 21
    gray = cv2.medianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 5)
    edges = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 5)
    return np.where(edges[:, :, None] > 0, flat, (flat * 0.25).astype(np.uint8)).astype(np.uint8)


def posterize(rgb: np.ndarray, levels: int = 4) -> np.ndarray:
    """A screen-print look: each channel quantized to ``levels`` values."""
    step = 256 // levels
    return ((rgb // step) * step + step // 2).astype(np.uint8)


def grayscale(rgb: np.ndarray) -> np.ndarray:
    """A black-and-white print (three equal channels)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return np.repeat(gray[:, :, None], 3, axis=2)


def old_photo(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    """A faded sepia print: low contrast, a warm tone, the print's own fixed grain."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    gray = 0.15 + 0.7 * gray + np.random.default_rng(seed).normal(0, 0.02, gray.shape)
    tone = np.float32([1.07, 0.95, 0.78])
    return np.clip(gray[:, :, None] * tone[None, None, :] * 255.0, 0, 255).astype(np.uint8)


def relit(
    rgb: np.ndarray, gain: float = 0.6, gamma: float = 1.3, cast: tuple[float, float, float] = (0.95, 1.0, 1.1)
) -> np.ndarray:
    """Exposure, contrast curve and colour cast changed (an underexposed, cool room by default)."""
    x = (rgb.astype(np.float32) / 255.0) ** gamma * gain * np.float32(cast)[None, None, :]
    return np.clip(x * 255.0, 0, 255).astype(np.uint8)


def soft_jpeg(rgb: np.ndarray, sigma: float = 1.6, quality: int = 35) -> np.ndarray:
    """An out-of-focus photo saved as a low-quality JPEG (blocking on a soft face)."""
    blurred = cv2.GaussianBlur(rgb, (0, 0), sigma)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(blurred, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) if ok else blurred


def low_resolution(rgb: np.ndarray, side: int = 128) -> np.ndarray:
    """The photo reduced to ``side`` pixels and enlarged back (a web thumbnail blown up)."""
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (side, round(side * h / w)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def stretched(rgb: np.ndarray, sx: float = 1.0, sy: float = 1.0) -> np.ndarray:
    """The photo scaled unevenly (a wider or longer face), then cropped back to its own size."""
    h, w = rgb.shape[:2]
    big = cv2.resize(rgb, (round(w * sx), round(h * sy)), interpolation=cv2.INTER_CUBIC)
    y0, x0 = max(0, (big.shape[0] - h) // 2), max(0, (big.shape[1] - w) // 2)
    out = big[y0 : y0 + h, x0 : x0 + w]
    return np.ascontiguousarray(cv2.resize(out, (w, h)) if out.shape[:2] != (h, w) else out)


def _landmarks(rgb: np.ndarray) -> np.ndarray:
    from candor.generator.face import detect_landmarks

    found = detect_landmarks(rgb)
    if not found:
        raise RuntimeError("no face in a base photo")
    return found[0]


def eyeglasses(rgb: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
    """Dark rectangular frames with rounded corners drawn over the eyes, a bridge and the temples.

    Sized as real ones: lenses ~50 x 31 mm (eye corners ~90 mm apart), the pupils a little above the
    lens centres, rims ~4 mm; the lenses get a faint cool tint. ``landmarks``: where the eyes are
    (default: found on ``rgb``).
    """
    pts = (_landmarks(rgb) if landmarks is None else landmarks)[:, :2]
    out = rgb.copy()
    width = float(np.linalg.norm(pts[263] - pts[33]))
    thick = max(2, round(0.035 * width))
    colour = (25, 20, 20)
    inner_tops = []
    for corners in (RIGHT_CORNERS, LEFT_CORNERS):
        a, b = pts[corners[0]], pts[corners[1]]
        half_w = 0.28 * width
        half_h = 0.62 * half_w
        centre = (a + b) / 2 + np.array([0.0, 0.15 * half_h])
        angle = np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0]))
        box = cv2.boxPoints(((float(centre[0]), float(centre[1])), (2 * half_w, 2 * half_h), angle))
        # A lens: a faint cool tint and a soft highlight, as real glasses add.
        lens = np.zeros(rgb.shape[:2], np.uint8)
        cv2.fillConvexPoly(lens, np.round(box).astype(np.int32), 1)
        tint = lens.astype(bool)
        out[tint] = (out[tint] * 0.9 + np.array([200, 215, 230]) * 0.1).astype(np.uint8)
        cv2.polylines(out, [np.round(box).astype(np.int32)], True, colour, thick, cv2.LINE_AA)
        inner_tops.append(centre + np.array([-half_w if corners[0] == 263 else half_w, -0.3 * half_h]))
        temple_from = centre + np.array([half_w if corners[0] == 263 else -half_w, -0.5 * half_h])
        side = pts[454] if corners[0] == 263 else pts[234]
        cv2.line(out, tuple(np.round(temple_from).astype(int)), tuple(np.round(side).astype(int)), colour, thick,
                 cv2.LINE_AA)  # fmt: skip
    cv2.line(out, tuple(np.round(inner_tops[0]).astype(int)), tuple(np.round(inner_tops[1]).astype(int)), colour,
             thick, cv2.LINE_AA)  # fmt: skip
    return out


def beard(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    """A full dark beard and moustache painted as thousands of short hair strokes over the lower face
    (jaw, chin, upper lip), leaving the lips bare."""
    from candor.generator import landmarks as lm

    pts = _landmarks(rgb)[:, :2]
    rng = np.random.default_rng(seed)
    face_h = float(np.linalg.norm(pts[CHIN] - pts[FOREHEAD]))
    oval = pts[list(lm.FACE_OVAL)]
    lower = oval[oval[:, 1] > pts[2, 1] - 0.02 * face_h]  # the oval below the nose base
    region = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillPoly(region, [np.round(cv2.convexHull(np.concatenate([lower, pts[[2]]]).astype(np.float32))).astype(
        np.int32)], 1)  # fmt: skip
    # Not on the cheeks above the mouth line except near the jaw, and never on the lips.
    lips = np.zeros_like(region)
    cv2.fillPoly(lips, [np.round(pts[list(lm.LIPS_OUTER)]).astype(np.int32)], 1)
    lips = cv2.dilate(lips, np.ones((3, 3), np.uint8))
    region[lips > 0] = 0
    nose = np.zeros_like(region)
    cv2.fillPoly(nose, [np.round(cv2.convexHull(pts[[2, 98, 327, 64, 294, 4]].astype(np.float32))).astype(np.int32)], 1)
    region[nose > 0] = 0
    ys, xs = np.nonzero(region)
    out = rgb.astype(np.float32)
    layer = np.zeros_like(out)
    alpha = np.zeros(rgb.shape[:2], np.float32)
    length = 0.035 * face_h
    for _ in range(int(len(xs) * 0.6)):
        k = rng.integers(len(xs))
        x, y = float(xs[k]), float(ys[k])
        angle = np.pi / 2 + rng.normal(0, 0.35) + 0.6 * (x - pts[CHIN, 0]) / face_h  # down, fanning out
        dx, dy = np.cos(angle) * length * rng.uniform(0.5, 1.2), np.sin(angle) * length * rng.uniform(0.5, 1.2)
        shade = rng.uniform(25, 70)
        colour = (shade * 1.15, shade * 0.9, shade * 0.7)
        cv2.line(layer, (round(x), round(y)), (round(x + dx), round(y + dy)), colour, 1, cv2.LINE_AA)
        cv2.line(alpha, (round(x), round(y)), (round(x + dx), round(y + dy)), 1.0, 1, cv2.LINE_AA)
    soft = cv2.GaussianBlur(region.astype(np.float32), (0, 0), 0.01 * face_h + 1)
    a = np.clip(alpha, 0, 1)[:, :, None] * 0.9 * soft[:, :, None]
    colour = layer / np.maximum(alpha[:, :, None], 1e-3)
    return np.clip(out * (1 - a) + colour * a, 0, 255).astype(np.uint8)


def small_face(rgb: np.ndarray, shrink: float = 0.4) -> np.ndarray:
    """The photo shrunk into the middle of a same-size canvas of plain wall (a soft vertical
    gradient of the photo's mean colour, with a little grain): a face ~45 px tall, which the
    default framing enlarges ~5x (a soft, low-detail face)."""
    h, w = rgb.shape[:2]
    mean = rgb.reshape(-1, 3).mean(axis=0)
    ramp = np.linspace(0.85, 1.1, h)[:, None, None]
    grain = np.random.default_rng(1).normal(0, 3, (h, w, 1))
    canvas = np.clip(mean[None, None, :] * ramp + grain, 0, 255).astype(np.uint8)
    small = cv2.resize(rgb, (round(w * shrink), round(h * shrink)), interpolation=cv2.INTER_AREA)
    y0, x0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return canvas


def rerendered(rgb: np.ndarray, **fields: float) -> np.ndarray:
    """The photo rendered by Candor's renderer with some motion fields offset from the portrait's own
    (e.g. yaw=20), used as a new portrait."""
    from candor.generator import motion
    from candor.generator.animator import Animator
    from candor.generator.face import analyze_image

    source = analyze_image(rgb)
    v = source.baseline.astype(np.float32).copy()
    for name, value in fields.items():
        v[motion.index(name)] += value
    return Animator(source).frame(v)


def portrait_set(only: list[str] | None = None) -> dict[str, tuple[np.ndarray, bool, str]]:
    """name -> (RGB image, keep_framing, how it was made)."""
    p = photos()
    a, g = p["astronaut"], p["grace"]
    makers: dict[str, tuple[Callable[[], np.ndarray], bool, str]] = {
        "astronaut": (lambda: a, False, "photo (skimage)"),
        "grace": (lambda: g, False, "photo (matplotlib), real eyeglasses"),
        "astronaut-stylized": (lambda: stylized(a), False, "cv2.stylization"),
        "grace-stylized": (lambda: stylized(g), False, "cv2.stylization (lipsync_e2e's Grace Hopper cartoon)"),
        "grace-oil": (lambda: oil(g), False, "cv2.xphoto.oilPainting"),
        "astronaut-cartoon": (lambda: cartoon(a), False, "edge-preserving + 6 levels + ink edges"),
        "grace-poster": (lambda: posterize(g), False, "posterized, 4 levels a channel"),
        "astronaut-glasses": (lambda: eyeglasses(a), False, "frames drawn on"),
        "astronaut-beard": (lambda: beard(a), False, "beard strokes drawn on"),
        "astronaut-small": (lambda: small_face(a), False, "shrunk 0.4 on a wall, face 45 px"),
        "grace-yaw20": (lambda: rerendered(g, yaw=20.0), False, "rendered at yaw +20"),
        "astronaut-yaw-20": (lambda: rerendered(a, yaw=-20.0), False, "rendered at yaw -20"),
        "grace-smile-open": (
            lambda: rerendered(g, jawOpen=0.35, mouthSmileLeft=0.8, mouthSmileRight=0.8),
            False,
            "rendered smiling, jaw 0.35",
        ),
    }
    names = only or list(makers)
    return {n: (makers[n][0](), makers[n][1], makers[n][2]) for n in names}


def mirrored(rgb: np.ndarray) -> np.ndarray:
    """The mirror image (left-right)."""
    return np.ascontiguousarray(rgb[:, ::-1])


def off_centre_crop(rgb: np.ndarray, keep: float = 0.8, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """A crop keeping ``keep`` of each side, shifted by ``dx``, ``dy`` (shares of the slack, -1..1)."""
    h, w = rgb.shape[:2]
    ch, cw = round(h * keep), round(w * keep)
    y0 = round((h - ch) / 2 * (1 + dy))
    x0 = round((w - cw) / 2 * (1 + dx))
    return np.ascontiguousarray(rgb[y0 : y0 + ch, x0 : x0 + cw])
