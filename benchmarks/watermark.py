"""Watermark benchmark: robustness grid, invisibility, speed and false alarms.

Prints, for each attack on each test clip: per-frame bit accuracy (mean over frames, at the clip's
alignment), clip-level exact recovery (yes/no) and confidence; then PSNR, embed/decode ms per
512x512 frame on one core, and the false-positive measurement on clean clips with the analytic bound.

Test clips (25 fps, 512x512, marked then encoded with libx264 CRF 18 as Candor delivers them):
Candor's own renderer animating real portraits with a scripted performance (generated faces), and
real portraits (skimage astronaut, matplotlib grace_hopper, skimage chelsea and coffee) with smooth
head-like motion (a feathered face ellipse moves over a still background); ``--camera`` adds a
whole-frame motion clip. Usage: ``python benchmarks/watermark.py [--seconds 5] [--clean-clips 1000]``.
"""

from __future__ import annotations

import argparse
import io
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the budget says

import cv2
import numpy as np

cv2.setNumThreads(1)

FPS = 25
SIZE = 512


def portraits() -> dict[str, np.ndarray]:
    """Real 512x512 RGB test images."""
    import matplotlib.cbook as cbook
    from PIL import Image
    from skimage import data

    def square(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        return cv2.resize(img[y0 : y0 + s, x0 : x0 + s], (SIZE, SIZE), interpolation=cv2.INTER_AREA)

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = np.asarray(Image.open(fh).convert("RGB"))
    return {
        "astronaut": square(data.astronaut()),
        "grace_hopper": square(hopper),
        "chelsea": square(data.chelsea()),
        "coffee": square(data.coffee()),
    }


def moving_clip(
    image: np.ndarray, n_frames: int, seed: int = 0, size: int = SIZE, motion: str = "head"
) -> list[np.ndarray]:
    """Smooth motion, RGB frames: slow zoom, small rotation and translation jitter.

    ``motion="head"`` moves only a feathered ellipse around the centre (a talking head over a still
    background, like the generator's mesh warp); ``"camera"`` moves the whole frame (harder: H.264
    motion compensation drags a still pattern along with moving content).
    """
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    ellipse = ((xx - w / 2) / (0.30 * w)) ** 2 + ((yy - 0.45 * h) / (0.40 * h)) ** 2
    mask = cv2.GaussianBlur((ellipse < 1).astype(np.float32), (0, 0), 12)[..., None]
    phase = rng.uniform(0, 2 * np.pi, 4)
    frames = []
    for t in range(n_frames):
        s = t / FPS
        angle = 1.5 * np.sin(2 * np.pi * 0.3 * s + phase[0])  # degrees
        zoom = 1.04 + 0.03 * np.sin(2 * np.pi * 0.1 * s + phase[1])
        dx = 5.0 * np.sin(2 * np.pi * 0.4 * s + phase[2])  # pixels
        dy = 4.0 * np.sin(2 * np.pi * 0.25 * s + phase[3])
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, zoom)
        m[:, 2] += (dx, dy)
        frame = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if motion == "head":
            frame = np.rint(mask * frame + (1 - mask) * image).astype(np.uint8)
        if frame.shape[:2] != (size, size):
            frame = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
        frames.append(frame)
    return frames


def generated_clip(image: np.ndarray, seconds: float, seed: int = 0) -> list[np.ndarray]:
    """A clip from Candor's own renderer: the portrait analysed, then a scripted performance (speech
    jaw motion, blinks, a nod, a look aside, a smile, head drift) rendered by the mesh-warp decoder."""
    from candor.generator.animator import Animator, relative_to_source
    from candor.generator.face import analyze_image
    from candor.generator.performance import scripted_offsets

    source = analyze_image(image)
    animator = Animator(source)
    values = relative_to_source(source, scripted_offsets(seconds, FPS, seed=seed))
    return [animator.frame(v) for v in values]


def encode(frames: list[np.ndarray], crf: int, fps: int = FPS) -> bytes:
    """RGB frames -> H.264 MP4 bytes (libx264, yuv420p)."""
    import av

    buf = io.BytesIO()
    h, w = frames[0].shape[:2]
    with av.open(buf, "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        st.options = {"crf": str(crf), "preset": "veryfast"}
        for f in frames:
            out.mux(st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: h - h % 2, : w - w % 2]))))
        out.mux(st.encode(None))
    return buf.getvalue()


def decode(data: bytes) -> list[np.ndarray]:
    import av

    with av.open(io.BytesIO(data)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


# -- attacks: each takes the delivered frames and returns (frames, true (scale, (dy, dx))) ----------


def _resize(frames: list[np.ndarray], w: int, h: int, interp: int = cv2.INTER_LINEAR) -> list[np.ndarray]:
    return [cv2.resize(f, (w, h), interpolation=interp) for f in frames]


def _crop(frames: list[np.ndarray], y0: int, x0: int, h: int, w: int) -> list[np.ndarray]:
    return [f[y0 : y0 + h, x0 : x0 + w] for f in frames]


def _jpeg(frames: list[np.ndarray], quality: int) -> list[np.ndarray]:
    out = []
    for f in frames:
        _ok, buf = cv2.imencode(".jpg", f[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out


def _gain(frames: list[np.ndarray], g: float) -> list[np.ndarray]:
    return [np.clip(f.astype(np.float32) * g, 0, 255).astype(np.uint8) for f in frames]


def _noise(frames: list[np.ndarray], sigma: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8) for f in frames]


def _center_crop_resize(frames: list[np.ndarray], keep: float) -> tuple[list[np.ndarray], tuple]:
    h, w = frames[0].shape[:2]
    ch, cw = round(h * keep), round(w * keep)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return _resize(_crop(frames, y0, x0, ch, cw), w, h), (w / cw, (y0 % 128, x0 % 128))


def attacks() -> dict:
    """name -> f(frames) -> (attacked frames, fps, (true scale, true grid offset))."""
    ident = (1.0, (0, 0))
    return {
        "none (CRF 18 delivery)": lambda f: (f, FPS, ident),
        "H.264 CRF 23": lambda f: (decode(encode(f, 23)), FPS, ident),
        "H.264 CRF 28": lambda f: (decode(encode(f, 28)), FPS, ident),
        "H.264 CRF 32": lambda f: (decode(encode(f, 32)), FPS, ident),
        "H.264 CRF 35 (report)": lambda f: (decode(encode(f, 35)), FPS, ident),
        "down to 256 and back": lambda f: (
            _resize(_resize(f, 256, 256, cv2.INTER_AREA), SIZE, SIZE),
            FPS,
            ident,
        ),
        "center crop 10% + resize back": lambda f: (*_ccr(f, 0.9),),
        "off-center crop 400x380 @(40,70)": lambda f: (_crop(f, 40, 70, 400, 380), FPS, (1.0, (40, 70))),
        "JPEG 50 per frame": lambda f: (_jpeg(f, 50), FPS, ident),
        "brightness +20%": lambda f: (_gain(f, 1.2), FPS, ident),
        "brightness -20%": lambda f: (_gain(f, 0.8), FPS, ident),
        "gaussian noise sigma 5": lambda f: (_noise(f, 5.0), FPS, ident),
        "25 -> 15 fps (CRF 23)": lambda f: (
            decode(encode([f[round(i * FPS / 15)] for i in range(len(f) * 15 // FPS)], 23, fps=15)),
            15,
            ident,
        ),
        "first 2 s cut": lambda f: (f[2 * FPS :], FPS, ident),
        "CRF 28 + resize 0.75 + crop 5%": lambda f: _combo(f),
    }


def _ccr(frames: list[np.ndarray], keep: float):
    out, geom = _center_crop_resize(frames, keep)
    return out, FPS, geom


def _combo(frames: list[np.ndarray]):
    small = decode(encode(_resize(frames, 384, 384, cv2.INTER_AREA), 28))
    keep = round(384 * 0.95)
    y0 = x0 = (384 - keep) // 2
    # the crop origin in embedded pixels is y0 / 0.75
    return _crop(small, y0, x0, keep, keep), FPS, (0.75, (round(y0 / 0.75) % 128, round(x0 / 0.75) % 128))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def per_frame_accuracy(frames, key, serial, geometry) -> float:
    """Mean fraction of the 127 bits right in single frames, at the attack's true alignment."""
    from candor.provenance.watermark.detect import frame_bit_statistics
    from candor.provenance.watermark.pattern import luma
    from candor.provenance.watermark.payload import encode_payload

    expected = encode_payload(key, serial)
    scale, offset = geometry
    accs = [
        np.mean(np.sign(frame_bit_statistics(luma(f), key, (scale, scale), offset)) == expected) for f in frames[::5]
    ]
    return float(np.mean(accs))


def clip_accuracy_at_truth(frames, key, serial, geometry) -> float:
    """Clip-level bit accuracy at the attack's true alignment (shows how close a miss was)."""
    from candor.provenance.watermark.detect import frame_bit_statistics
    from candor.provenance.watermark.pattern import luma
    from candor.provenance.watermark.payload import encode_payload

    scale, offset = geometry
    mean = np.mean([luma(f) for f in frames], axis=0)
    z = frame_bit_statistics(mean, key, (scale, scale), offset)
    return float(np.mean(np.sign(z) == encode_payload(key, serial)))


def robustness_grid(key, seconds: float, clips: dict[str, list[np.ndarray]], only: str | None = None) -> None:
    from candor.provenance.watermark import WatermarkEmbedder, detect_frames

    print(f"\n## Robustness grid ({seconds:g} s clips at {FPS} fps, {SIZE}x{SIZE})")
    print(
        "per-frame = mean bit accuracy of single frames at the true alignment; @truth = clip-level\n"
        "accuracy at the true alignment; clip acc / exact / confidence = what the detector reports"
    )
    for c_i, (name, clip) in enumerate(clips.items()):
        serial = 0x5EED0000 + c_i
        emb = WatermarkEmbedder(key, serial)
        marked = [emb.embed(f) for f in clip]
        delivered = decode(encode(marked, 18))
        print(f"\n### {name}: PSNR {np.mean([psnr(m, c) for m, c in zip(marked, clip, strict=True)]):.2f} dB")
        print(
            f"{'attack':36s} {'per-frame':>9s} {'@truth':>6s} {'clip acc':>8s} {'exact':>5s} "
            f"{'confidence':>12s} {'s':>5s}"
        )
        for a_name, attack in attacks().items():
            if only and only not in a_name:
                continue
            t0 = time.perf_counter()
            frames, _fps, geom = attack(delivered)
            det = detect_frames(frames, key)
            dt = time.perf_counter() - t0
            exact = det.found and det.serial == serial
            pf = per_frame_accuracy(frames, key, serial, geom)
            truth = clip_accuracy_at_truth(frames, key, serial, geom)
            acc = f"{det.bit_accuracy:.3f}" if det.bit_accuracy is not None else "-"
            print(
                f"{a_name:36s} {pf:9.3f} {truth:6.3f} {acc:>8s} {'yes' if exact else 'NO':>5s} "
                f"{det.confidence:12.10f} {dt:5.1f}",
                flush=True,
            )


def _timed(fn, n: int) -> tuple[float, float]:
    """(wall ms, CPU ms) per call; CPU time is what one core spends, robust to a busy machine."""
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - w0) / n * 1e3, (time.process_time() - c0) / n * 1e3


def speed(key) -> None:
    from candor.provenance.watermark import WatermarkEmbedder
    from candor.provenance.watermark.detect import LumaAccumulator, _Folder, decode_mean_luma
    from candor.provenance.watermark.pattern import fold, luma

    frame = portraits()["grace_hopper"]
    emb = WatermarkEmbedder(key, 1234)
    emb.embed(frame)
    folder = _Folder(key)
    acc = LumaAccumulator()
    embed = _timed(lambda: emb.embed(frame), 300)
    decode_one = _timed(lambda: folder.z_of_tile(fold(luma(frame))), 300)
    accumulate = _timed(lambda: acc.add(luma(frame)), 300)
    search = _timed(lambda: decode_mean_luma(luma(frame).astype(np.float64), key, frames_used=1, folder=folder), 3)
    print("\n## Speed (one core, 512x512; wall / CPU time, the machine is shared with other work)")
    print(f"embed: {embed[0]:.2f} / {embed[1]:.2f} ms per frame")
    print(
        "decode one frame at a known alignment (luma, fold, ring statistics): "
        f"{decode_one[0]:.2f} / {decode_one[1]:.2f} ms"
    )
    print(f"clip detector, per frame (luma + accumulate): {accumulate[0]:.2f} / {accumulate[1]:.2f} ms")
    print(
        f"clip detector, once per clip, unmarked (worst case: every hypothesis searched): "
        f"{search[0] / 1e3:.2f} / {search[1] / 1e3:.2f} s"
    )


def clean_segments(n: int, seed: int = 0):
    """n varied unmarked segments: many real images, random crops/zooms, motion, noise, some H.264."""
    import matplotlib.cbook as cbook
    from PIL import Image
    from skimage import data

    names = [
        "astronaut", "camera", "coins", "chelsea", "coffee", "rocket", "hubble_deep_field", "page",
        "text", "moon", "brick", "grass", "gravel", "retina", "cat", "horse", "immunohistochemistry",
        "logo", "motorcycle_left", "colorwheel", "clock", "binary_blobs",
    ]  # fmt: skip
    images = []
    for nm in names:
        try:
            img = np.asarray(getattr(data, nm)())
        except (AttributeError, OSError, ValueError):
            continue
        if img.dtype != np.uint8:
            img = (255 * (img.astype(np.float64) / max(float(img.max()), 1e-9))).astype(np.uint8)
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        images.append(img[..., :3])
    for fname in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png"):
        try:
            with cbook.get_sample_data(fname) as fh:
                images.append(np.asarray(Image.open(fh).convert("RGB")))
        except (OSError, ValueError):
            continue
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = images[i % len(images)]
        h, w = img.shape[:2]
        side = int(rng.uniform(0.5, 1.0) * min(h, w))
        y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        size = int(rng.choice([256, 384, 512, 640]))
        base = cv2.resize(img[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)
        frames = moving_clip(base, 8, seed=i, size=size, motion=str(rng.choice(["head", "camera"])))
        if rng.random() < 0.3:
            frames = _noise(frames, float(rng.uniform(1, 8)), seed=i)
        if rng.random() < 0.25:
            frames = decode(encode(frames, int(rng.integers(18, 36))))
        yield frames


def false_positives(key, n: int, start: int = 0) -> None:
    from candor.provenance.watermark import detect_frames
    from candor.provenance.watermark.detect import MAX_WORDS
    from candor.provenance.watermark.payload import false_positive_bound

    print(f"\n## False positives on clean segments {start}..{n - 1} (varied real images, motion, noise, crops, H.264)")
    t0 = time.perf_counter()
    alarms = done = 0
    for i, frames in enumerate(clean_segments(n)):
        if i < start:
            continue
        alarms += detect_frames(frames, key).found
        done += 1
        if done % 50 == 0:
            print(f"  {done} segments, {alarms} alarms, {(time.perf_counter() - t0) / done:.2f} s each", flush=True)
    dt = time.perf_counter() - t0
    print(f"alarms: {alarms} / {done}  ({dt / max(done, 1):.2f} s per segment)")
    print(
        f"analytic bound per clip: {MAX_WORDS} words x 2^32 V(127,13) / 2^127 = "
        f"{false_positive_bound(words_tried=MAX_WORDS):.2e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clean-clips", type=int, default=1000)
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--camera", action="store_true", help="also a whole-frame (camera) motion clip")
    parser.add_argument("--only", help="run only the attacks whose name contains this text")
    parser.add_argument("--no-generated", action="store_true", help="skip the clips from Candor's renderer")
    parser.add_argument("--no-portraits", action="store_true", help="skip the moving-portrait clips")
    parser.add_argument("--clean-start", type=int, default=0, help="first clean segment (to shard the run)")
    args = parser.parse_args()

    from candor.provenance.watermark import WatermarkKey

    key = WatermarkKey.from_bytes(b"candor-benchmark-watermark-key-0")
    n_frames = int(args.seconds * FPS)
    imgs = portraits()
    clips = {}
    if not args.no_generated:
        for i, nm in enumerate(("grace_hopper", "astronaut")):
            clips[f"{nm} (generated: Candor renderer)"] = generated_clip(imgs[nm], args.seconds, seed=i)
    if not args.no_portraits:
        for i, (nm, img) in enumerate(imgs.items()):
            clips[f"{nm} (head motion)"] = moving_clip(img, n_frames, seed=i)
    if args.camera:
        clips["astronaut (camera motion)"] = moving_clip(imgs["astronaut"], n_frames, seed=9, motion="camera")
    speed(key)
    if not args.skip_grid:
        robustness_grid(key, args.seconds, clips, args.only)
    if args.clean_clips:
        false_positives(key, args.clean_clips, args.clean_start)


if __name__ == "__main__":
    main()
