"""``candor detector dataset``: labelled training features and held-out test videos.

Synthetic clips are Candor's own decoder (``Animator``) driven by randomly windowed, rescaled
scripted performances, rendered WITHOUT the watermark and without credentials (the strongest
removal there is), then put through the same camera-and-channel augmentations as the real clips.
Real clips are the same framed portraits (the bundled public-domain photos and skimage's LFW faces)
filmed by a simulated camera: handheld jitter or a tripod, slow zoom, exposure drift, sensor noise.
Both classes are then randomly cropped, resized and H.264-encoded at CRF 18-35, and read back
through :func:`candor.detector.features.extract_video`, the same code that scans uploads.

Splits are by identity (each LFW image, each photo with its flips, is one identity) and the motion
seeds of each split are disjoint, so no test face or performance was seen in training. Train and
validation clips are stored as features (``<split>/<label>/<clip>.npz``); test clips are kept as
videos (``test/<label>/<identity>_<variant>.mp4``) for ``benchmarks/detector_eval.py``, in variants:
``wm_crf18`` (as released: watermarked), ``wm_crf28``, ``wm_crf35``, ``wm_resized`` (to 320 px) and
``nowm_crf23`` (watermark never embedded); real clips in the same variants without a watermark.

An external dataset in a plain folder layout (``real/`` and ``fake/`` holding videos) is featurised
into the same layout, split by file name hash (the folder carries no identities).

(Over 400 lines on purpose: both classes, the augmentations they share and the held-out variants
must stay side by side, or the classifier learns the difference between two code paths.)
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from candor.detector.features import DEFAULT_SAMPLE_FPS, ClipFeatures, extract_video
from candor.errors import CandorError, InvalidInput
from candor.files import atomic_output

LABELS = {"real": 0, "fake": 1}
SPLITS = ("train", "val", "test")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".avi", ".mkv")
# The scripted test variants and their encodes; ``audio_crf23`` is made apart (build_audio_driven_tests).
SCRIPTED_VARIANT_CRF = {"wm_crf18": 18, "wm_crf28": 28, "wm_crf35": 35, "wm_resized": 23, "nowm_crf23": 23}
TEST_VARIANTS = (*SCRIPTED_VARIANT_CRF, "audio_crf23")
# What a classifier trained on the built-in dataset has and has not seen; the trainer records it in
# the checkpoint and `candor detect` repeats it in every report.
BUILT_IN_CONTENTS = (
    "real: two public-domain photos and skimage's 25x25 LFW thumbnails filmed by a simulated camera "
    "(no real video of people talking); synthetic: Candor's decoder animating the same faces with scripted "
    "performances, no watermark, H.264 CRF 18-35. Not trained or tested on real talking video, other "
    "generators, paintings or cartoons"
)
# Test-only: the audio-driven pipeline (diffusion motion from espeak-ng speech), never in training.
_SENTENCES = (
    "The weather today is bright and calm.",
    "Please remember to bring the documents tomorrow.",
    "We walked along the river until sunset.",
    "Numbers like seven and twelve are easy to say.",
    "Could you tell me where the station is?",
    "This report was prepared for the committee.",
)
_VOICES = ("en-us", "en-us+f3", "en-gb", "en-us+m3", "en-gb+f2")
# Training/validation speech: sentences disjoint from the test ones above (split by audio too).
_TRAIN_SENTENCES = (
    "I think the garden needs more water this week.",
    "Our meeting moved to Thursday afternoon.",
    "She opened the window and looked outside.",
    "Bring a coat, it may rain later on.",
    "The library closes early on Sundays.",
    "He fixed the old bicycle in an hour.",
    "Thank you for waiting, we can start now.",
    "The music was louder than we expected.",
)
_TRAIN_VOICES = ("en-us+m1", "en-us+f1", "en-gb+m2", "en-us+f4")
EVAL_WATERMARK_SECRET = b"candor-detector-eval-key"  # the test videos' own key, not the service's
# Disjoint motion-seed ranges per split (no test performance is a training performance).
_SEED_BASE = {"train": 0, "val": 100_000, "test": 200_000}


@dataclass(frozen=True)
class DatasetConfig:
    """Sizes of the built-in dataset. Clip length in seconds at ``fps`` frames per second."""

    seconds: float = 2.4
    fps: int = 25
    lfw_faces: int = 100  # the first 100 images of skimage.data.lfw_subset() are faces
    clips_per_identity: int = 2  # per label, for train/val identities
    # extra real-only clips per validation identity: the verdict threshold is set on the validation
    # real clips' scores, and a 1 % false-positive target needs ~100 of them, not ~20
    calibration_real_clips: int = 10
    sample_fps: float = DEFAULT_SAMPLE_FPS
    val_fraction: float = 0.15
    test_fraction: float = 0.25
    seed: int = 0


@dataclass(frozen=True)
class Identity:
    name: str  # unique per image
    group: str  # images of one person share a group (the split unit)
    split: str
    source: str  # "photo" or "lfw"


def _split_of(group: str, cfg: DatasetConfig) -> str:
    fixed = {"astronaut": "train", "grace_hopper": "test"}  # one high-resolution face on each side
    if group in fixed:
        return fixed[group]
    u = int(hashlib.sha256(f"{cfg.seed}:{group}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if u < cfg.test_fraction else "val" if u < cfg.test_fraction + cfg.val_fraction else "train"


def identities(cfg: DatasetConfig) -> list[Identity]:
    """The bundled faces: two public-domain photos (and their mirror images) and LFW thumbnails."""
    out = []
    for group in ("astronaut", "grace_hopper"):
        for flip in (False, True):
            out.append(Identity(f"{group}{'_flip' if flip else ''}", group, _split_of(group, cfg), "photo"))
    for i in range(cfg.lfw_faces):
        out.append(Identity(f"lfw{i:03d}", f"lfw{i:03d}", _split_of(f"lfw{i:03d}", cfg), "lfw"))
    return out


def load_identity_image(identity: Identity) -> np.ndarray:
    """(H, W, 3) uint8 RGB portrait of an identity (LFW's 25x25 greyscale upscaled to 200 px)."""
    import cv2

    if identity.source == "lfw":
        from skimage.data import lfw_subset

        grey = (lfw_subset()[int(identity.name[3:])] * 255).astype(np.uint8)
        big = cv2.resize(grey, (200, 200), interpolation=cv2.INTER_CUBIC)
        image = np.repeat(big[..., None], 3, axis=2)
    elif identity.group == "astronaut":
        from skimage.data import astronaut

        image = astronaut()
    else:
        import matplotlib.cbook
        from PIL import Image

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
            image = np.asarray(Image.open(fh).convert("RGB"))
    return np.ascontiguousarray(image[:, ::-1]) if identity.name.endswith("_flip") else image


# --- the two kinds of footage ---------------------------------------------------------------------


def synthetic_frames(animator, rng: np.random.Generator, seconds: float, fps: int) -> list[np.ndarray]:
    """Candor frames for a random window of a scripted performance with randomly rescaled channels."""
    from candor.generator import motion
    from candor.generator.animator import relative_to_source
    from candor.generator.performance import scripted_offsets

    n = round(seconds * fps)
    offsets = scripted_offsets(seconds=8.0, fps=fps, seed=int(rng.integers(2**31)))
    start = int(rng.integers(0, len(offsets) - n))
    window = offsets[start : start + n].copy()
    window[:, motion.POSE_SLICE] *= rng.uniform(0.4, 1.5)  # calmer or livelier heads
    window[:, motion.BLENDSHAPE_SLICE] *= rng.uniform(0.5, 1.3)  # subtler or broader expressions
    window[:, motion.GAZE_SLICE] *= rng.uniform(0.0, 1.2)
    absolute = relative_to_source(animator.source, window)
    return [animator.frame(v) for v in np.clip(absolute, motion.LOWER, motion.UPPER)]


def camera_frames(still: np.ndarray, rng: np.random.Generator, seconds: float, fps: int) -> list[np.ndarray]:
    """A still (the framed portrait) as a camera films it; the camera itself comes from :func:`augment`."""
    return [still.copy() for _ in range(round(seconds * fps))]


def _random_walk(n: int, rng: np.random.Generator, sigma: float, smooth: int = 6) -> np.ndarray:
    """A smooth zero-mean wander of ``n`` steps, ~``sigma`` in amplitude (handheld drift)."""
    steps = rng.normal(0, 1, n + smooth)
    walk = np.convolve(np.cumsum(steps), np.ones(smooth) / smooth, mode="valid")[:n]
    walk -= walk.mean()
    return walk / max(walk.std(), 1e-6) * sigma


def augment(frames: list[np.ndarray], rng: np.random.Generator, *, handheld_p: float) -> list[np.ndarray]:
    """Camera and channel: handheld jitter or a tripod, slow zoom, exposure drift, sensor noise,
    then a random crop (up to 10 %) and a resize to 320-640 px (even sizes for H.264 4:2:0)."""
    import cv2

    n = len(frames)
    h, w = frames[0].shape[:2]
    handheld = rng.random() < handheld_p
    amp = rng.uniform(1.0, 5.0) if handheld else 0.0  # pixels at 512
    tx, ty = _random_walk(n, rng, amp), _random_walk(n, rng, amp)
    angle = _random_walk(n, rng, rng.uniform(0.2, 1.2) if handheld else 0.0)  # degrees
    zoom = 1.0 + np.linspace(0, rng.uniform(-0.04, 0.06), n) if rng.random() < 0.5 else np.ones(n)
    gain = 1.0 + _random_walk(n, rng, rng.uniform(0.0, 0.04), smooth=12) + rng.uniform(-0.1, 0.1)
    noise = rng.uniform(0.5, 4.0) if rng.random() < 0.7 else 0.0
    crop = rng.uniform(0.0, 0.1)
    x0, y0 = rng.uniform(0, crop) * w, rng.uniform(0, crop) * h
    cw, ch = w * (1 - crop), h * (1 - crop)
    side = int(rng.choice([320, 384, 448, 512, 576, 640]))
    out = []
    for i, frame in enumerate(frames):
        M = cv2.getRotationMatrix2D((w / 2, h / 2), float(angle[i]), float(zoom[i]))
        M[:, 2] += (tx[i], ty[i])
        img = cv2.warpAffine(frame, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        img = img.astype(np.float32) * gain[i]
        if noise:
            img += rng.normal(0, noise, img.shape).astype(np.float32)
        img = np.clip(img, 0, 255).astype(np.uint8)[int(y0) : int(y0 + ch), int(x0) : int(x0 + cw)]
        out.append(cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA))
    return out


def encode(frames: list[np.ndarray], path: Path, *, fps: int, crf: int, size: int | None = None) -> Path:
    """H.264 MP4 of ``frames`` at ``crf``; ``size`` resizes square frames to that many pixels first."""
    import cv2

    from candor.generator.video import VideoWriter

    if size is not None:
        frames = [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames]
    h, w = frames[0].shape[:2]
    with VideoWriter(path, fps=fps, crf=crf, size=(w, h)) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def save_features(features: ClipFeatures, path: Path, *, label: int, identity: str, meta: dict) -> None:
    """Write one clip's features as a compressed .npz, atomically."""
    with atomic_output(path) as tmp:  # the temp name keeps ".npz", so numpy adds no second one
        np.savez_compressed(
            tmp,
            crops=features.crops,
            temporal=features.temporal,
            times=features.times,
            label=np.int64(label),
            identity=np.str_(identity),
            meta=np.str_(json.dumps(meta)),
        )


# --- one identity, in a worker process ------------------------------------------------------------


def _build_identity(identity: Identity, cfg: DatasetConfig, out_dir: Path) -> dict:
    """Render, film, augment, encode and featurise every clip of one identity; returns a summary."""
    import cv2

    from candor.generator.animator import Animator
    from candor.generator.face import analyze_image

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    cv2.setNumThreads(1)
    try:
        source = analyze_image(load_identity_image(identity))
    except CandorError as exc:
        return {"identity": identity.name, "skipped": exc.detail}
    animator = Animator(source)
    seed_base = _SEED_BASE[identity.split] + cfg.seed * 10_000
    rng = np.random.default_rng(seed_base + int(hashlib.sha256(identity.name.encode()).hexdigest()[:6], 16))
    written: list[str] = []
    with tempfile.TemporaryDirectory(prefix="candor-det-") as tmp:
        tmp_dir = Path(tmp)
        if identity.split != "test":
            for k in range(cfg.clips_per_identity):
                for label, make, handheld_p in (
                    ("fake", lambda: synthetic_frames(animator, rng, cfg.seconds, cfg.fps), 0.4),
                    ("real", lambda: camera_frames(source.image, rng, cfg.seconds, cfg.fps), 0.7),
                ):
                    frames = augment(make(), rng, handheld_p=handheld_p)
                    crf = int(rng.integers(18, 36))
                    video = encode(frames, tmp_dir / f"{label}{k}.mp4", fps=cfg.fps, crf=crf)
                    features = extract_video(video, sample_fps=cfg.sample_fps)
                    if features.n == 0:
                        continue
                    path = out_dir / identity.split / label / f"{identity.name}_{k}.npz"
                    meta = {"crf": crf, "size": frames[0].shape[0], "source": identity.source}
                    save_features(features, path, label=LABELS[label], identity=identity.group, meta=meta)
                    written.append(str(path.relative_to(out_dir)))
            if identity.split == "val":
                written += _calibration_reals(identity, source.image, rng, cfg, out_dir, tmp_dir)
        else:
            written += _build_test_videos(identity, animator, source.image, rng, cfg, out_dir)
    return {"identity": identity.name, "split": identity.split, "written": written}


def _calibration_reals(identity: Identity, still: np.ndarray, rng, cfg: DatasetConfig, out_dir: Path, tmp_dir: Path):
    """Real-only validation clips (``<name>_cal<k>.npz``) for setting the verdict threshold."""
    written = []
    for k in range(cfg.calibration_real_clips):
        frames = augment(camera_frames(still, rng, cfg.seconds, cfg.fps), rng, handheld_p=0.7)
        crf = int(rng.integers(18, 36))
        features = extract_video(
            encode(frames, tmp_dir / f"cal{k}.mp4", fps=cfg.fps, crf=crf), sample_fps=cfg.sample_fps
        )
        if features.n == 0:
            continue
        path = out_dir / "val" / "real" / f"{identity.name}_cal{k}.npz"
        meta = {"crf": crf, "size": frames[0].shape[0], "source": identity.source, "calibration": True}
        save_features(features, path, label=0, identity=identity.group, meta=meta)
        written.append(str(path.relative_to(out_dir)))
    return written


def build_calibration_reals(out_dir: str | Path, cfg: DatasetConfig | None = None, *, workers: int = 1) -> list[str]:
    """Add the real-only calibration clips to an existing dataset's validation identities."""
    cfg = cfg or DatasetConfig()
    chosen = [i for i in identities(cfg) if i.split == "val"]
    with ProcessPoolExecutor(max_workers=max(workers, 1)) as pool:
        results = pool.map(_calibration_job, chosen, [cfg] * len(chosen), [Path(out_dir)] * len(chosen))
        return [p for written in results for p in written]


def _calibration_job(identity: Identity, cfg: DatasetConfig, out_dir: Path) -> list[str]:
    from candor.generator.face import analyze_image

    try:
        still = analyze_image(load_identity_image(identity)).image
    except CandorError:
        return []
    seed = _SEED_BASE["val"] + 50_000 + int(hashlib.sha256(identity.name.encode()).hexdigest()[:6], 16)
    with tempfile.TemporaryDirectory(prefix="candor-cal-") as tmp:
        return _calibration_reals(identity, still, np.random.default_rng(seed), cfg, out_dir, Path(tmp))


def _build_test_videos(identity, animator, still, rng, cfg: DatasetConfig, out_dir: Path) -> list[str]:
    from candor.provenance.watermark import WatermarkEmbedder, WatermarkKey

    key = WatermarkKey.from_bytes(EVAL_WATERMARK_SECRET)
    serial = int(hashlib.sha256(identity.name.encode()).hexdigest()[:7], 16)
    fake = synthetic_frames(animator, rng, cfg.seconds, cfg.fps)
    embedder = WatermarkEmbedder(key, serial)
    marked = [embedder.embed(f) for f in fake]
    real = augment(camera_frames(still, rng, cfg.seconds, cfg.fps), rng, handheld_p=0.7)
    written = []
    for variant, crf in SCRIPTED_VARIANT_CRF.items():
        size = 320 if variant == "wm_resized" else None
        for label, frames in (("fake", fake if variant.startswith("nowm") else marked), ("real", real)):
            path = out_dir / "test" / label / f"{identity.name}_{variant}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            encode(frames, path, fps=cfg.fps, crf=crf, size=size)
            written.append(str(path.relative_to(out_dir)))
    with (out_dir / "test" / "serials.jsonl").open("a") as fh:  # one short line per identity
        fh.write(json.dumps({"identity": identity.name, "serial": serial}) + "\n")
    return written


def build_dataset(
    out_dir: str | Path,
    cfg: DatasetConfig | None = None,
    *,
    workers: int = 1,
    limit: int | None = None,
    on_identity: Callable[[dict], None] | None = None,
) -> dict:
    """Build the built-in dataset into ``out_dir`` (see the module docstring); returns its index.

    ``limit`` keeps only the first identities of each split (quick builds for tests).
    """
    cfg = cfg or DatasetConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "test" / "serials.jsonl").unlink(missing_ok=True)
    chosen = identities(cfg)
    if limit is not None:
        chosen = [i for split in SPLITS for i in [x for x in chosen if x.split == split][:limit]]
    summaries = []
    if workers <= 1:
        for identity in chosen:
            summaries.append(_build_identity(identity, cfg, out))
            if on_identity:
                on_identity(summaries[-1])
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_build_identity, identity, cfg, out) for identity in chosen]
            for future in as_completed(futures):
                summaries.append(future.result())
                if on_identity:
                    on_identity(summaries[-1])
    index = {
        "contents": BUILT_IN_CONTENTS,
        "config": asdict(cfg),
        "identities": {i.name: {"group": i.group, "split": i.split, "source": i.source} for i in chosen},
        "summaries": sorted(summaries, key=lambda s: s["identity"]),
    }
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return index


def import_external(
    src_dir: str | Path,
    out_dir: str | Path,
    *,
    sample_fps: float = DEFAULT_SAMPLE_FPS,
    cfg: DatasetConfig | None = None,
    on_video: Callable[[str], None] | None = None,
) -> dict:
    """Featurise ``src_dir/real/*`` and ``src_dir/fake/*`` videos (FaceForensics++-style) into
    ``out_dir`` train/val splits; test videos are linked (not copied) under ``out_dir/test``."""
    cfg = cfg or DatasetConfig()
    src = Path(src_dir)
    if not (src / "real").is_dir() or not (src / "fake").is_dir():
        raise InvalidInput(f"{src} must hold real/ and fake/ folders of videos")
    out = Path(out_dir)
    counts: dict[str, int] = {}
    for label in LABELS:
        for video in sorted(p for p in (src / label).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES):
            group = video.stem
            split = _split_of(group, cfg)
            if split == "test":
                dst = out / "test" / label / video.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                if not dst.exists():
                    dst.symlink_to(video.resolve())
            else:
                features = extract_video(video, sample_fps=sample_fps)
                if features.n == 0:
                    continue
                meta = {"external": str(video)}
                save_features(
                    features, out / split / label / f"{video.stem}.npz", label=LABELS[label], identity=group, meta=meta
                )
            counts[f"{split}/{label}"] = counts.get(f"{split}/{label}", 0) + 1
            if on_video:
                on_video(str(video))
    return counts


def build_audio_driven_tests(out_dir: str | Path, cfg: DatasetConfig | None = None) -> list[str]:
    """Add ``test/fake/<identity>_audio_crf23.mp4``: the audio-driven pipeline (packaged motion
    checkpoint, espeak-ng speech, no watermark) on every test identity, for evaluation only; they are
    scored against the real test clips of the ``nowm_crf23`` variant (the same encode)."""
    import shutil
    import subprocess

    from candor.generator.face import analyze_image
    from candor.generator.pipeline import TalkingFacePipeline

    if shutil.which("espeak-ng") is None:
        raise InvalidInput("espeak-ng is needed for the audio-driven test clips (the Makefile installs it)")
    cfg = cfg or DatasetConfig()
    written = []
    with tempfile.TemporaryDirectory(prefix="candor-audio-") as tmp:
        for k, identity in enumerate(i for i in identities(cfg) if i.split == "test"):
            try:
                source = analyze_image(load_identity_image(identity))
            except CandorError:
                continue
            wav = Path(tmp) / f"{identity.name}.wav"
            text, voice = _SENTENCES[k % len(_SENTENCES)], _VOICES[k % len(_VOICES)]
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, capture_output=True)
            pipeline = TalkingFacePipeline.for_portrait(source)
            frames = list(pipeline.frames(wav, seed=_SEED_BASE["test"] + k))
            path = Path(out_dir) / "test" / "fake" / f"{identity.name}_audio_crf23.mp4"
            encode(frames, path, fps=cfg.fps, crf=23)
            written.append(str(path))
    return written


def build_audio_driven_training(
    out_dir: str | Path, cfg: DatasetConfig | None = None, *, workers: int = 1
) -> list[str]:
    """Add ``<split>/fake/<identity>_audio.npz`` for train and validation identities: the audio-driven
    pipeline on training-only sentences and voices, through the same augmentations and encodes."""
    cfg = cfg or DatasetConfig()
    chosen = [i for i in identities(cfg) if i.split in ("train", "val")]
    with ProcessPoolExecutor(max_workers=max(workers, 1)) as pool:
        results = pool.map(
            _audio_training_job, chosen, range(len(chosen)), [cfg] * len(chosen), [Path(out_dir)] * len(chosen)
        )
        return [p for p in results if p]


def _audio_training_job(identity: Identity, k: int, cfg: DatasetConfig, out_dir: Path) -> str | None:
    import subprocess

    from candor.generator.face import analyze_image
    from candor.generator.pipeline import TalkingFacePipeline

    try:
        source = analyze_image(load_identity_image(identity))
    except CandorError:
        return None
    seed = _SEED_BASE[identity.split] + 70_000 + k
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="candor-audio-") as tmp:
        wav = Path(tmp) / "speech.wav"
        text, voice = _TRAIN_SENTENCES[k % len(_TRAIN_SENTENCES)], _TRAIN_VOICES[k % len(_TRAIN_VOICES)]
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, capture_output=True)
        frames = list(TalkingFacePipeline.for_portrait(source).frames(wav, seed=seed))
        frames = augment(frames[: round(cfg.seconds * cfg.fps) + 25], rng, handheld_p=0.4)
        crf = int(rng.integers(18, 36))
        features = extract_video(encode(frames, Path(tmp) / "a.mp4", fps=cfg.fps, crf=crf), sample_fps=cfg.sample_fps)
    if features.n == 0:
        return None
    path = out_dir / identity.split / "fake" / f"{identity.name}_audio.npz"
    meta = {"crf": crf, "size": frames[0].shape[0], "source": identity.source, "audio_driven": True}
    save_features(features, path, label=1, identity=identity.group, meta=meta)
    return str(path.relative_to(out_dir))
