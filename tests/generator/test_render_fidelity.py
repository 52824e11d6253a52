"""The renderer shows what it is told: blinks and mouth opening re-tracked by mediapipe on the pixels.

An independent read-back: mediapipe's face mesh runs on each rendered frame (as it would on any
video), and its eye and mouth openings must follow the commanded eyeBlink and jawOpen, on a bundled
photo and on painted versions of the bundled photos (see ``benchmarks/render_fidelity.py`` for the
full portrait set).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from candor.generator import motion
from candor.generator.animator import Animator
from candor.generator.face import analyze_image, detect_landmarks

# Lid contours without their corners (outer -> inner) and the corners, per eye (mediapipe indices).
EYES = (
    ((246, 161, 160, 159, 158, 157, 173), (7, 163, 144, 145, 153, 154, 155), (33, 133)),
    ((466, 388, 387, 386, 385, 384, 398), (249, 390, 373, 374, 380, 381, 382), (263, 362)),
)


def tracked(frame: np.ndarray) -> np.ndarray:
    """(478, 2) mediapipe landmarks of the rendered frame."""
    found = detect_landmarks(frame)
    assert found, "the tracker lost the face"
    return found[0][:, :2]


def eye_opening(pts: np.ndarray) -> float:
    """Mean lid gap over eye width, both eyes averaged."""
    out = []
    for upper, lower, (c0, c1) in EYES:
        gap = np.linalg.norm(pts[list(upper)] - pts[list(lower)], axis=1).mean()
        out.append(gap / np.linalg.norm(pts[c0] - pts[c1]))
    return float(np.mean(out))


def mouth_opening(pts: np.ndarray) -> float:
    """Inner-lip gap at the centre over face height."""
    return float(np.linalg.norm(pts[14] - pts[13]) / np.linalg.norm(pts[152] - pts[10]))


def stylization(rgb: np.ndarray) -> np.ndarray:
    bgr = cv2.stylization(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), sigma_s=60, sigma_r=0.45)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def with_fields(source, **fields: float) -> np.ndarray:
    v = source.baseline.astype(np.float32).copy()
    for name, value in fields.items():
        v[motion.index(name)] = value
    return v


@pytest.fixture(scope="module")
def stylized_face(astronaut):
    return analyze_image(stylization(astronaut))


# A blink as the motion model makes them (its blinks on 41 s of speech): share of the peak by frame
# from it at 25 fps; their peaks run 0.57-1.0.
BLINK_SHAPE = {-1: 0.3, 0: 1.0, 1: 0.85, 2: 0.45, 3: 0.1}


def blink_clip(source, peaks: tuple[float, ...], every: int = 20) -> tuple[np.ndarray, list[slice]]:
    """(T, DIM) motion: the portrait's own with a mild head sway and a blink every ``every`` frames;
    and each blink's frames above half its peak."""
    n = every * (len(peaks) + 1)
    t = np.arange(n) / 25.0
    v = np.tile(source.baseline.astype(np.float32), (n, 1))
    v[:, motion.index("yaw")] += 4 * np.sin(2 * np.pi * t / 3.0)
    v[:, motion.index("pitch")] += 2 * np.sin(2 * np.pi * t / 2.3)
    blink = np.zeros(n)
    windows = []
    for k, peak in enumerate(peaks):
        centre = every * (k + 1)
        for offset, share in BLINK_SHAPE.items():
            blink[centre + offset] = peak * share
        on = [centre + o for o, share in BLINK_SHAPE.items() if share > 0.5]
        windows.append(slice(min(on), max(on) + 1))
    for side in ("Left", "Right"):
        col = motion.index(f"eyeBlink{side}")
        v[:, col] = np.maximum(v[:, col], blink)
    return v, windows


@pytest.mark.parametrize("portrait", ["grace", "stylized"])
def test_every_commanded_blink_shows_to_a_video_tracker(portrait, grace_face, stylized_face):
    """Blinks as the motion model makes them (peaks 0.6-1.0, two frames above half) on a clip
    re-tracked by mediapipe in video mode: during each, the tracked eye opening falls by at least
    40% of its open value."""
    import mediapipe as mp

    source = {"grace": grace_face, "stylized": stylized_face}[portrait]
    animator = Animator(source)
    values, windows = blink_clip(source, (0.6, 0.85, 1.0))
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True)
    try:
        eye = []
        for v in values:
            result = mesh.process(animator.frame(v))
            assert result.multi_face_landmarks, "the tracker lost the face"
            pts = np.array([[p.x, p.y] for p in result.multi_face_landmarks[0].landmark]) * 512
            eye.append(eye_opening(pts))
    finally:
        mesh.close()
    eye = np.array(eye)
    blinking = np.zeros(len(eye), bool)
    for w in windows:
        blinking[max(w.start - 3, 0) : w.stop + 3] = True
    open_ = np.median(eye[~blinking])
    dips = [1.0 - eye[w].min() / open_ for w in windows]
    assert open_ > 0.12, "the open eye should read open"
    assert min(dips) >= 0.4, f"tracked dips {np.round(dips, 2)} (open {open_:.3f})"


def test_commanded_jaw_opening_follows_on_a_stylized_portrait(stylized_face):
    """jawOpen swept 0..1 on a cv2.stylization painting: the tracked inner-lip gap correlates >= 0.9
    with the command, and the mouth at 1.0 reads clearly wider than at 0."""
    animator = Animator(stylized_face)
    jaw = np.linspace(0.0, 1.0, 9)
    measured = np.array([mouth_opening(tracked(animator.frame(with_fields(stylized_face, jawOpen=j)))) for j in jaw])
    r = float(np.corrcoef(jaw, measured)[0, 1])
    assert r >= 0.9, f"r {r:.3f}; tracked {np.round(measured, 3)}"
    assert measured[-1] > 1.8 * measured[0]


def oil_painting(rgb: np.ndarray) -> np.ndarray:
    bgr = cv2.xphoto.oilPainting(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), 3, 1)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("style", ["photo", "oil"])
def test_lips_shown_closed_over_an_open_jaw(style, grace_hopper, grace_face):
    """A bilabial over an open jaw, as the labels command it (jawOpen 0.3 above the portrait's own,
    mouthClose closing the gap it opens) on a portrait whose mouth is shut at rest: the tracker
    reads the lips closed (within 0.012 face heights of the rest gap, the margin of
    ``benchmarks/lipsync_e2e.py``), while the jaw alone reads clearly open."""
    from candor.training.corpus.visemes import close_lips

    source = grace_face if style == "photo" else analyze_image(oil_painting(grace_hopper))
    animator = Animator(source)
    jaw = float(source.baseline[motion.index("jawOpen")]) + 0.3
    close = float(close_lips(np.array([1.0]), {"jawOpen": np.array([0.3])})[0])
    rest = mouth_opening(tracked(animator.frame(source.baseline)))
    opened = mouth_opening(tracked(animator.frame(with_fields(source, jawOpen=jaw))))
    shut = mouth_opening(tracked(animator.frame(with_fields(source, jawOpen=jaw, mouthClose=close))))
    assert opened > rest + 0.03, f"jaw alone: {opened:.3f} vs rest {rest:.3f}"
    assert shut <= rest + 0.012, f"lips closed over the open jaw read {shut - rest:+.3f} face heights open"
