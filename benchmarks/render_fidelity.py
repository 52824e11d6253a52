"""Does the renderer show what it is told? Blinks and mouth opening, re-tracked on the output pixels.

Builds a set of portraits at run time from the two bundled photos (skimage's astronaut, matplotlib's
Grace Hopper): the photos themselves, five painting/stylized versions (OpenCV stylization of each, oil paint,
a cartoon, a posterized print), eyeglasses and a beard drawn on, a small face in a large frame, a
20-degree yaw and an open-mouth smile (both rendered by this renderer and then used as portraits).
Each is driven by a scripted motion (jawOpen sweeps, blinks shaped like the motion model's at known
frames, a mild head sway) or, with ``--motion model``, by 41 s of the shipped motion model on
espeak-ng speech; every rendered frame is re-tracked by mediapipe's face mesh (tracking mode, a
fresh tracker per clip). Per portrait it prints:

- r: Pearson correlation of the commanded opening (the rig's target inner-lip gap / face height) with
  the tracked one;
- blinks: share of the commanded blinks during which the tracked eye opening (lid gap / eye width,
  both eyes averaged) dips by >= 40 % of its open value, and the mean dip;
- shut: a bilabial over an open jaw as the labels command it (jawOpen 0.3 above the portrait's
  own, mouthClose closing the gap that opens): the tracked inner-lip gap above the portrait's rest
  gap, which must stay within ``CLOSED_MARGIN`` (the margin ``lipsync_e2e.py`` counts a bilabial
  closed by), beside the jaw alone's.

A contact sheet (portrait, a blink's closed frame, both eyes zoomed, the widest mouth, the lips
shut over the open jaw) goes to
``out/render_fidelity.png``.

    .venv/bin/python benchmarks/render_fidelity.py [--only NAME ...] [--motion model] [--out PNG]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np

from candor.training.portraits import eyeglasses, photos, portrait_set, stylized

FPS = 25
FRAMES = 150
BLINK_FRAMES = (18, 46, 74, 102, 130)  # the frames where the commanded blinks peak
# Peaks and shape as the motion model makes them (its blinks on 41 s of speech: peaks 0.57-1.0, a
# one-frame close, one or two frames shut, a three-frame release at 25 fps).
BLINK_PEAKS = (1.0, 0.9, 0.6, 0.85, 0.7)
BLINK_SHAPE = {-1: 0.3, 0: 1.0, 1: 0.85, 2: 0.45, 3: 0.1}  # share of the peak by frame from it
DIP = 0.40  # a blink is visible when the tracked opening falls by this share of its open value
R_MIN = 0.90
CLOSED_MARGIN = 0.012  # face heights above the rest gap that still read as closed lips
SHUT_JAW = 0.3  # jawOpen above the portrait's own under the closed lips
SPEECH = (
    "Good morning. This is a longer test of the talking face. We measure how often the eyes blink while "
    "the model speaks, and whether the renderer shows every one of those blinks on the pixels. The weather "
    "today is calm and bright, with a gentle breeze from the west."
)

# Lid contours without their corners, outer corner -> inner corner (mediapipe indices).
RIGHT_UPPER = (246, 161, 160, 159, 158, 157, 173)
RIGHT_LOWER = (7, 163, 144, 145, 153, 154, 155)
LEFT_UPPER = (466, 388, 387, 386, 385, 384, 398)
LEFT_LOWER = (249, 390, 373, 374, 380, 381, 382)
RIGHT_CORNERS, LEFT_CORNERS = (33, 133), (263, 362)
LIP_TOP, LIP_BOTTOM, FOREHEAD, CHIN = 13, 14, 10, 152


# ----------------------------------------------------------------------------- the portraits


# ----------------------------------------------------------------------------- the motion


def _bump(t: np.ndarray, centre: float, width: float) -> np.ndarray:
    x = np.clip((t - centre) / width * 2, -1, 1)
    return 0.5 * (1 + np.cos(np.pi * x))


def scripted_motion(baseline: np.ndarray, frames: int = FRAMES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(frames, DIM) absolute motion and (frames,) commanded blink: syllable-like jawOpen bumps of
    varied height over a slow sweep, blinks shaped like the motion model's at BLINK_FRAMES, a mild
    head sway."""
    from candor.generator import motion

    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    v = np.tile(baseline.astype(np.float32), (frames, 1))
    jaw = 0.25 + 0.2 * np.sin(2 * np.pi * t / 2.3)
    s = 0.1
    while s < t[-1]:
        dur = rng.uniform(0.16, 0.32)
        jaw += rng.uniform(-0.2, 0.55) * _bump(t, s + dur / 2, dur)
        s += dur
    v[:, motion.index("jawOpen")] = np.clip(jaw, 0.0, 1.0)
    blink = np.zeros(frames)
    for c, peak in zip(BLINK_FRAMES, BLINK_PEAKS, strict=True):
        for k, share in BLINK_SHAPE.items():
            if 0 <= c + k < frames:
                blink[c + k] = max(blink[c + k], peak * share)
    for side in ("Left", "Right"):
        col = motion.index(f"eyeBlink{side}")
        v[:, col] = np.maximum(v[:, col], blink)
    v[:, motion.index("yaw")] += 5 * np.sin(2 * np.pi * t / 4.1)
    v[:, motion.index("pitch")] += 3 * np.sin(2 * np.pi * t / 3.3 + 1)
    v[:, motion.index("roll")] += 2 * np.sin(2 * np.pi * t / 5.0)
    return v, blink


# ----------------------------------------------------------------------------- the tracker


class Tracker:
    """mediapipe FaceMesh in tracking mode (refined irises): one per clip, like a video tracker."""

    def __init__(self) -> None:
        import mediapipe as mp

        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3
        )

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        result = self.mesh.process(rgb)
        if not result.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        pts = np.array([[p.x, p.y] for p in result.multi_face_landmarks[0].landmark], np.float64)
        return pts * np.array([w, h])

    def close(self) -> None:
        self.mesh.close()


def eye_opening(pts: np.ndarray) -> float:
    """Mean lid gap over eye width, both eyes averaged."""
    out = []
    for upper, lower, corners in ((RIGHT_UPPER, RIGHT_LOWER, RIGHT_CORNERS), (LEFT_UPPER, LEFT_LOWER, LEFT_CORNERS)):
        width = np.linalg.norm(pts[corners[0]] - pts[corners[1]])
        gap = np.linalg.norm(pts[list(upper)] - pts[list(lower)], axis=1).mean()
        out.append(gap / max(width, 1e-6))
    return float(np.mean(out))


def mouth_opening(pts: np.ndarray) -> float:
    """Inner-lip gap at the centre over face height (forehead 10 -> chin 152)."""
    return float(np.linalg.norm(pts[LIP_BOTTOM] - pts[LIP_TOP]) / max(np.linalg.norm(pts[CHIN] - pts[FOREHEAD]), 1e-6))


def blink_dips(eye: np.ndarray, blink: np.ndarray) -> list[float]:
    """Per commanded blink (a run of frames with commanded closure > 0.5): 1 - min tracked opening
    in the run / the open value (median tracked opening over the frames with no blink: the command
    within 0.05 of its resting level, the portrait's own)."""
    open_value = np.nanmedian(eye[blink < blink.min() + 0.05])
    dips = []
    on = blink > 0.5
    starts = np.flatnonzero(on & ~np.r_[False, on[:-1]])
    for s in starts:
        e = s
        while e < len(on) and on[e]:
            e += 1
        window = eye[s:e]
        dips.append(float(1.0 - np.nanmin(window) / open_value) if np.isfinite(window).any() else 0.0)
    return dips


# ----------------------------------------------------------------------------- the run


def model_motion(seed: int = 1, repeats: int = 3) -> np.ndarray:
    """(T, DIM) relative motion from the shipped motion model for SPEECH spoken by espeak-ng
    (``repeats`` times, ~14 s each): blinks, head motion and lips as the model really makes them."""
    import subprocess
    import tempfile

    import soundfile as sf

    from candor.generator.motion_generator import MotionGenerator

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), SPEECH], check=True, capture_output=True)
        audio, sr = sf.read(wav, dtype="float32")
    audio = np.concatenate([audio] * repeats)
    return MotionGenerator.from_checkpoint().generate(audio, sr=sr, seed=seed).values


def measure(
    name: str,
    image: np.ndarray,
    keep_framing: bool,
    overlay: Callable[[np.ndarray], np.ndarray] | None = None,
    relative: np.ndarray | None = None,
) -> dict:
    """Render a motion on ``image`` and re-track every frame. The motion: ``relative`` (T, DIM)
    offsets around the portrait's own (e.g. :func:`model_motion`), default :func:`scripted_motion`.
    ``overlay``: drawn on every rendered frame before tracking (a control: what the tracker reads
    through it with the renderer unchanged). The commanded opening is the rig's target inner-lip
    gap over face height (what the renderer is told: jawOpen, and mouthClose, press, smile...)."""
    from candor.generator.animator import Animator
    from candor.generator.face import analyze_image
    from candor.generator.motion import MotionSequence, index

    source = analyze_image(image, keep_framing=keep_framing)
    animator = Animator(source)
    # The portrait's own motion must give back the portrait (a check on the whole path).
    err = animator.frame(source.baseline).astype(np.float64) - source.image
    identity_psnr = float(10 * np.log10(255.0**2 / max(np.mean(err**2), 1e-12)))
    if relative is None:
        values, blink = scripted_motion(source.baseline)
    else:
        from candor.generator.motion import to_absolute  # the model's scale is a ratio, not an offset

        values = to_absolute(source.baseline, relative)
        blink = (values[:, index("eyeBlinkLeft")] + values[:, index("eyeBlinkRight")]) / 2
    jaw = values[:, index("jawOpen")]
    # Frames kept for the contact sheet: a blink's deepest, 12 frames before it, the widest mouth.
    first = int(np.argmax(blink > 0.5)) if (blink > 0.5).any() else int(np.argmax(blink))
    closed = first + int(np.argmax(blink[first : first + 4]))
    keep = {closed, max(closed - 12, 0), int(np.argmax(jaw))}
    tracker = Tracker()
    eye, mouth, told, frames = [], [], [], {}
    render_s = 0.0
    for i, v in enumerate(MotionSequence(values, FPS).values):
        t0 = time.perf_counter()
        target = animator.rig.target(v)
        frame = animator.renderer.render(target)
        render_s += time.perf_counter() - t0
        if overlay is not None:
            frame = overlay(frame)
        told.append(mouth_opening(target.landmarks[:, :2].astype(np.float64)))
        pts = tracker(frame)
        eye.append(eye_opening(pts) if pts is not None else np.nan)
        mouth.append(mouth_opening(pts) if pts is not None else np.nan)
        if i in keep:
            frames[i] = frame
    tracker.close()
    eye_a, mouth_a, told_a = np.array(eye), np.array(mouth), np.array(told)
    ok = np.isfinite(mouth_a)
    r = float(np.corrcoef(told_a[ok], mouth_a[ok])[0, 1]) if ok.sum() > 3 else float("nan")
    dips = blink_dips(eye_a, blink)
    return {
        "name": name,
        "source": source,
        "frames": frames,
        "closed": closed,
        "widest": int(np.argmax(jaw)),
        "r": r,
        "dips": dips,
        "visible": float(np.mean([d >= DIP for d in dips])),
        "lost": int((~ok).sum()),
        "render_ms": 1e3 * render_s / len(values),
        "identity_psnr": identity_psnr,
        "jaw": jaw,
        "eye": eye_a,
        "lips": lips_shut(animator),
    }


def lips_shut(animator) -> dict:
    """Rest, jaw opened by SHUT_JAW, and the same jaw with mouthClose shutting the gap it opens (as
    the labels do, ``visemes.close_lips``), each held for a few frames of one video tracker. Returns the
    tracked gap above rest of the open and the shut mouth (face heights) and the shut frame."""
    from candor.generator.motion import index
    from candor.training.corpus.visemes import close_lips

    base = animator.source.baseline
    opened = base.copy()
    opened[index("jawOpen")] += SHUT_JAW
    shut = opened.copy()
    shut[index("mouthClose")] += float(close_lips(np.array([1.0]), {"jawOpen": np.array([SHUT_JAW])})[0])
    tracker = Tracker()
    gaps, frame = [], None
    try:
        for v in (base, opened, shut):
            frame = animator.renderer.render(animator.rig.target(v))
            # Held for 8 frames, the last 5 read: the tracker settles on a new mouth in a few frames.
            tracked = [tracker(frame) for _ in range(8)][3:]
            gaps.append(np.nanmean([mouth_opening(p) if p is not None else np.nan for p in tracked]))
    finally:
        tracker.close()
    return {"open": float(gaps[1] - gaps[0]), "shut": float(gaps[2] - gaps[0]), "frame": frame}


def eyes_zoom(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Both eyes of a frame (at the portrait's eye positions) enlarged and stacked: to see the lids."""
    crops = []
    for corners in (RIGHT_CORNERS, LEFT_CORNERS):
        a, b = landmarks[corners[0], :2], landmarks[corners[1], :2]
        cx, cy = (a + b) / 2
        half = 0.8 * float(np.linalg.norm(b - a))
        x0, x1 = int(max(cx - half, 0)), int(min(cx + half, 512))
        y0, y1 = int(max(cy - half / 2, 0)), int(min(cy + half / 2, 512))
        crops.append(cv2.resize(frame[y0:y1, x0:x1], (512, 256), interpolation=cv2.INTER_CUBIC))
    return np.concatenate(crops, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="portrait names (default: all)")
    parser.add_argument("--out", type=Path, default=Path("out/render_fidelity.png"))
    parser.add_argument(
        "--motion", choices=["scripted", "model"], default="scripted",
        help="scripted: 6 s, 5 blinks at known frames; model: 41 s of the shipped motion model on espeak-ng speech",
    )  # fmt: skip
    args = parser.parse_args()

    from candor.generator.contact import save_contact_sheet

    cv2.setNumThreads(1)
    relative = model_motion() if args.motion == "model" else None
    sheet, labels, failed = [], [], []
    for name, (image, keep, how) in portrait_set(args.only).items():
        res = measure(name, image, keep, relative=relative)
        dips = np.array(res["dips"])
        lips = res["lips"]
        ok = res["r"] >= R_MIN and res["visible"] == 1.0 and res["identity_psnr"] >= 30.0
        ok &= bool(lips["shut"] <= CLOSED_MARGIN)
        failed += [] if ok else [name]
        print(
            f"{name:20s} r {res['r']:.3f}  blinks visible {res['visible'] * 100:3.0f}% of {len(dips)} "
            f"(mean dip {dips.mean() * 100:4.1f}%, min {dips.min() * 100:4.1f}%)  "
            f"shut {lips['shut']:+.3f} (open {lips['open']:+.3f})  lost {res['lost']:3d} frames  "
            f"identity {res['identity_psnr']:.1f} dB  render {res['render_ms']:.1f} ms  "
            f"{'ok' if ok else 'FAIL'}  [{how}]",
            flush=True,
        )
        closed, widest = res["closed"], res["widest"]
        lmk = res["source"].landmarks
        sheet += [
            res["source"].image,
            res["frames"][closed],
            eyes_zoom(res["frames"][closed], lmk),
            eyes_zoom(res["frames"][closed - 12], lmk),
            res["frames"][widest],
            lips["frame"],
        ]
        labels += [
            f"{name}",
            f"blink dip {dips[0] * 100:.0f}%",
            "closed (zoom)",
            "open (zoom)",
            f"jaw {res['jaw'][widest]:.2f} r {res['r']:.2f}",
            f"lips shut {lips['shut']:+.3f}",
        ]
    if not args.only or "astronaut-glasses" in args.only:
        # Control: the plain astronaut rendered, the same frames drawn on each output frame where the
        # portrait has its eyes (glasses stay put). What the tracker reads through frames on eyes the
        # renderer draws exactly as on the plain portrait.
        from candor.generator.face import analyze_image

        a = photos()["astronaut"]
        where = analyze_image(a).landmarks  # the framed portrait's, as the renders are framed
        res = measure("glasses-after", a, False, overlay=lambda f: eyeglasses(f, where), relative=relative)
        dips = np.array(res["dips"])
        print(
            f"{'control':20s} astronaut rendered, frames drawn on the output: blinks visible "
            f"{res['visible'] * 100:3.0f}% (mean dip {dips.mean() * 100:4.1f}%, min {dips.min() * 100:4.1f}%)",
            flush=True,
        )
    if not args.only or "astronaut-stylized" in args.only:
        # Control: the plain astronaut rendered, cv2.stylization applied to each output frame. What the
        # tracker reads of mouths and lids through that filter when the renderer works on a photo.
        res = measure("stylized-after", photos()["astronaut"], False, overlay=stylized, relative=relative)
        dips = np.array(res["dips"])
        print(
            f"{'control':20s} astronaut rendered, stylized on the output: r {res['r']:.3f}  blinks visible "
            f"{res['visible'] * 100:3.0f}% (mean dip {dips.mean() * 100:4.1f}%, min {dips.min() * 100:4.1f}%)",
            flush=True,
        )
    path = save_contact_sheet(args.out, sheet, labels, columns=6, tile=256)
    print(f"contact sheet: {path}")
    print("all portraits hold" if not failed else f"FAILING: {', '.join(failed)}")


if __name__ == "__main__":
    main()
