"""Semantic blendshapes as displacement fields on mediapipe's 478-point topology.

Each blendshape is defined from the face's anatomy (lips, jaw, lids, brows, cheeks) in the
canonical frontal frame, in face-height units (forehead 10 -> chin 152 = 1), and evaluated on a
given subject's identity shape so it scales with that face. ``basis(shape)`` returns a
(K, 478, 3) array: the displacement of every landmark at coefficient 1.0 for each of the
``motion.BLENDSHAPES`` in order. Coefficients combine linearly (jaw rotation is linearised).
"""

from __future__ import annotations

import numpy as np

from candor.generator import landmarks as L
from candor.generator import motion
from candor.generator.canonical import load_template

# Inner-lip gap (face heights) that jawOpen = 1.0 produces at the lip centre: a wide-open mouth.
JAW_OPEN_GAP = 0.16
_JAW_ANGLE = np.radians(24.0)  # rotation of the lower face at jawOpen = 1 (linearised)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _gauss(points: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    d2 = ((points[:, :2] - centre[:2]) ** 2).sum(1)
    return np.exp(-d2 / (2 * radius**2))


def _region_weights(template: np.ndarray) -> dict[str, np.ndarray]:
    """Soft masks over the 478 points computed once on the canonical template."""
    y = template[:, 1]
    x = template[:, 0]
    mouth_y = (template[L.UPPER_LIP_INNER, 1] + template[L.LOWER_LIP_INNER, 1]) / 2
    chin_y = template[L.CHIN, 1]
    nose_y = template[2, 1]  # subnasale
    half_width = abs(template[L.CHEEK_LEFT, 0])
    # Lower jaw: everything below the lip line, fading above it, and toward the jaw angle. Beside
    # the mouth the skin stretches over a taller band (cheeks), so the transition widens and
    # moves down with the distance from the mouth: no vertical streaks at the corners.
    corner_x = abs(template[L.MOUTH_CORNER_LEFT, 0])
    excess = np.maximum(np.abs(x) - 0.6 * corner_x, 0.0)
    band = 0.03 + 1.2 * excess
    lower = _smoothstep((y - mouth_y - 0.3 * excess + band / 2) / band)
    lateral = 1.0 - _smoothstep((np.abs(x) - 0.55 * half_width) / (0.45 * half_width))
    jaw = lower * np.maximum(lateral, _smoothstep((y - mouth_y) / (chin_y - mouth_y)))
    lip_pts = list(set(L.LIPS_OUTER) | set(L.LIPS_INNER))
    lip_c = template[lip_pts].mean(0)
    mouth_zone = _gauss(template, lip_c, 0.12) * (y > nose_y - 0.02)
    upper_lip = np.zeros(len(template))
    upper_lip[list(L.UPPER_LIP + L.UPPER_LIP_MIDDLE)] = 1.0
    lower_lip = np.zeros(len(template))
    lower_lip[list(L.LOWER_LIP + L.LOWER_LIP_MIDDLE)] = 1.0
    # Soft versions spread a little into the skin around the lips.
    upper_soft = np.maximum(upper_lip, _gauss(template, template[L.UPPER_LIP_OUTER], 0.05) * (y < mouth_y))
    lower_soft = np.maximum(lower_lip, _gauss(template, template[L.LOWER_LIP_OUTER], 0.05) * (y > mouth_y))
    centre_weight = 1.0 - _smoothstep(np.abs(x) / np.abs(template[L.MOUTH_CORNER_LEFT, 0]))
    return {
        "jaw": jaw,
        "mouth": mouth_zone,
        "upper_lip": upper_lip,
        "lower_lip": lower_lip,
        "upper_soft": upper_soft,
        "lower_soft": lower_soft,
        "lip_centre": centre_weight,
    }


def _jaw_gap_profile(shape: np.ndarray, jaw: np.ndarray) -> np.ndarray:
    """(n,) the inner-lip gap ``jaw`` (n, 3) opens at each point's x, as a share of the gap at the
    lip centre: 1 in the middle, 0 at the mouth corners (interpolated between inner-lip columns)."""
    upper, lower = np.array(L.UPPER_LIP[9:]), np.array(L.LOWER_LIP[9:])  # inner contours, paired by column
    x = (shape[upper, 0] + shape[lower, 0]) / 2
    gap = jaw[lower, 1] - jaw[upper, 1]
    centre = max(float(jaw[L.LOWER_LIP_INNER, 1] - jaw[L.UPPER_LIP_INNER, 1]), 1e-6)
    corners = shape[[L.MOUTH_CORNER_RIGHT, L.MOUTH_CORNER_LEFT], 0]
    xs = np.concatenate([[corners.min()], x, [corners.max()]])
    share = np.concatenate([[0.0], np.clip(gap / centre, 0.0, 1.0), [0.0]])
    order = np.argsort(xs)
    return np.interp(shape[:, 0], xs[order], share[order], left=0.0, right=0.0)


def _lid_pairs(upper: tuple[int, ...], lower: tuple[int, ...]) -> list[tuple[int, int]]:
    return list(zip(upper[1:-1], lower[1:-1], strict=True))


def basis(shape: np.ndarray, baseline: np.ndarray | None = None) -> np.ndarray:
    """Displacement fields (K, 478, 3) for ``shape`` (478, 3) in canonical face-height units.

    ``baseline`` is the shape's own motion vector: lid closing is sized from the lids' fully open
    gap, recovered from the observed gap and the baseline eyeBlink.
    """
    template, _ = load_template()
    w = _region_weights(template)
    n = len(shape)
    B = {name: np.zeros((n, 3), np.float32) for name in motion.BLENDSHAPES}
    base = motion.neutral_vector() if baseline is None else baseline

    # jawOpen: the lower face rotates about a hinge in front of the ears, behind the face plane.
    hinge = np.array([0.0, shape[L.NASION, 1] + 0.05, 0.45])
    rel = shape - hinge
    # Linearised rotation about x (chin moves down and slightly back).
    d_rot = np.stack([np.zeros(n), rel[:, 2], -rel[:, 1]], 1) * _JAW_ANGLE
    d_rot *= -1  # opening moves the chin down (+y)
    d_rot[:, 1] = np.abs(d_rot[:, 1])
    jaw_disp = d_rot * w["jaw"][:, None]
    # Scale so the inner-lip gap at 1.0 equals JAW_OPEN_GAP.
    gap = jaw_disp[L.LOWER_LIP_INNER, 1] - jaw_disp[L.UPPER_LIP_INNER, 1]
    B["jawOpen"] = jaw_disp * (JAW_OPEN_GAP / max(gap, 1e-6))

    up = np.array([0.0, -1.0, 0.0])
    fwd = np.array([0.0, 0.0, -1.0])
    # mouthClose: lips meet although the jaw is open (pairs with jawOpen). Each lip moves as a
    # whole, by the share of the jaw's opening at its column (the jaw opens the middle far more
    # than the corners), so at any coefficient the lips close evenly along the mouth instead of
    # crossing near the corners while the middle is still open.
    reach = _jaw_gap_profile(shape, B["jawOpen"])
    B["mouthClose"] = (
        (w["upper_lip"][:, None] * 0.5 - w["lower_lip"][:, None] * 0.5) * reach[:, None] * (-up) * JAW_OPEN_GAP * 0.8
    )
    inward = -np.sign(shape[:, 0])[:, None] * np.array([1.0, 0.0, 0.0])
    mouth = w["mouth"][:, None]
    # Funnel: corners in, lips forward and flared open.
    B["mouthFunnel"] = mouth * (0.035 * inward * (1 - w["lip_centre"][:, None]) + 0.03 * fwd) + 0.012 * (
        w["upper_soft"][:, None] * up - w["lower_soft"][:, None] * up
    )
    # Pucker: corners further in, lips forward and pressed together.
    B["mouthPucker"] = mouth * (0.055 * inward * (1 - w["lip_centre"][:, None]) + 0.04 * fwd) + 0.01 * (
        w["lower_soft"][:, None] * up - w["upper_soft"][:, None] * up
    )
    for side, corner in (("Left", L.MOUTH_CORNER_LEFT), ("Right", L.MOUTH_CORNER_RIGHT)):
        out_dir = np.array([np.sign(shape[corner, 0]), 0.0, 0.0])
        near = _gauss(shape, shape[corner], 0.07)[:, None]
        cheek = _gauss(shape, shape[corner] + np.array([0.04 * out_dir[0], -0.12, 0]), 0.09)[:, None]
        B[f"mouthSmile{side}"] = near * (0.045 * out_dir + 0.045 * up + 0.01 * fwd) + cheek * 0.02 * up
        B[f"mouthFrown{side}"] = near * (-0.04 * up + 0.005 * out_dir)
        B[f"mouthStretch{side}"] = near * (0.05 * out_dir - 0.012 * up)
    # Press: lips compressed and thinned.
    B["mouthPress"] = (w["upper_soft"][:, None] * -up + w["lower_soft"][:, None] * up) * 0.012
    B["mouthUpperUp"] = w["upper_soft"][:, None] * w["lip_centre"][:, None] * 0.035 * up
    B["mouthLowerDown"] = w["lower_soft"][:, None] * w["lip_centre"][:, None] * -0.035 * up

    for side, upper, lower, brow in (
        ("Right", L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER, L.RIGHT_BROW),
        ("Left", L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER, L.LEFT_BROW),
    ):
        closed_before = float(base[motion.index(f"eyeBlink{side}")])
        blink = np.zeros((n, 3))
        wide = np.zeros((n, 3))
        for u, lo in _lid_pairs(upper, lower):
            gap_vec = (shape[lo] - shape[u]) / max(1.0 - closed_before, 0.1)  # fully open gap
            blink[u] = 0.8 * gap_vec
            blink[lo] = -0.2 * gap_vec
            wide[u] = -0.25 * gap_vec
        B[f"eyeBlink{side}"] = blink
        B[f"eyeWide{side}"] = wide
        brow_pts = np.array(brow)
        inner = brow_pts[[4, 9]]
        outer = brow_pts[[0, 5]]
        brow_c = shape[brow_pts].mean(0)
        brow_zone = _gauss(shape, brow_c, 0.09)[:, None] * (shape[:, 1] < brow_c[1] + 0.04)[:, None]
        inner_zone = _gauss(shape, shape[inner].mean(0), 0.06)[:, None] * (shape[:, 1] < brow_c[1] + 0.04)[:, None]
        outer_zone = _gauss(shape, shape[outer].mean(0), 0.06)[:, None] * (shape[:, 1] < brow_c[1] + 0.04)[:, None]
        toward_mid = np.array([-np.sign(brow_c[0]), 0.0, 0.0])
        B[f"browDown{side}"] = brow_zone * (-0.03 * up + 0.01 * toward_mid)
        B[f"browOuterUp{side}"] = outer_zone * 0.04 * up
        B["browInnerUp"] = B["browInnerUp"] + inner_zone * 0.04 * up
    cheek_zone = np.zeros(n)
    for corner in (L.MOUTH_CORNER_LEFT, L.MOUTH_CORNER_RIGHT):
        c = shape[corner] + np.array([np.sign(shape[corner, 0]) * 0.08, -0.05, 0])
        cheek_zone = np.maximum(cheek_zone, _gauss(shape, c, 0.08))
    B["cheekPuff"] = cheek_zone[:, None] * (0.03 * -inward + 0.02 * fwd)

    out = np.stack([B[name] for name in motion.BLENDSHAPES]).astype(np.float32)
    out[:, L.N_SURFACE :] = 0.0  # irises follow their eyes in the rig, not the blendshapes
    out[:, list(L.RIGID)] = 0.0  # expressions never move the points the head pose is fitted to
    return out
