"""Held-out generator versions for the product evaluation: Candor output the classifier never trained on.

The product dataset's synthetic clips all come from the packaged motion checkpoint through the
offline path. An analyst also meets output of other versions: an older motion checkpoint (from git
history: ``git show 595fb18:candor/generator/checkpoints/motion_dit.pt``) or the live path
(:class:`candor.generator.live.MotionStream`: audio pushed in 20 ms chunks, 4 DDIM steps a window;
the packaged checkpoint since 2026-12-06, before that motion v2, ``git show
b236c52:candor/generator/checkpoints/motion_dit_live.pt``, which the shipped classifier's live clips
came from).
:func:`build_generator_tests` renders each held-out portrait once per such version, with a held-out
voice and a motion seed no other clip uses, and writes every channel variant to
``test/fake/<portrait>--<version>_0__<variant>`` beside the rest of the test split, so
:func:`candor.training.detector_eval.evaluate_product` scores them with the same real clips and
reports them per version (:func:`generator_of`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from candor.errors import CandorError, InvalidInput

LIVE = "live"  # the version name of the live path (the packaged checkpoint, streamed)
PACKAGED = "packaged"  # what generator_of answers for the product set's own synthetic clips
_SEP = "--"


def generator_of(clip: str) -> str:
    """``<portrait>--<version>_<k>`` -> version; any other clip name -> :data:`PACKAGED`."""
    stem = clip.rsplit("_", 1)[0]
    return stem.split(_SEP, 1)[1] if _SEP in stem else PACKAGED


def parse_versions(specs: list[str]) -> dict[str, Path | None]:
    """``["motion-v1=/path/ckpt.pt", "live"]`` -> {name: checkpoint or None for the live path}.
    Raises InvalidInput for a missing checkpoint file or a malformed name."""
    versions: dict[str, Path | None] = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if not name or _SEP in name or "_" in name or name == PACKAGED:
            raise InvalidInput(f"bad generator version name {name!r} (no '_' or '--'; not {PACKAGED!r})")
        if name == LIVE and not path:
            versions[name] = None
            continue
        if not path or not Path(path).is_file():
            raise InvalidInput(f"{spec!r}: give NAME=CHECKPOINT with an existing motion checkpoint, or 'live'")
        versions[name] = Path(path)
    return versions


def _live_motion(pipeline, wav: Path, controls, seed: int) -> np.ndarray:
    """Motion as a live session makes it: 20 ms chunks pushed as they would arrive, then finish()."""
    from candor.generator.audio import load_audio
    from candor.generator.live import stream_clip

    return stream_clip(pipeline.generator, load_audio(wav, max_seconds=None), controls, seed)


def build_version_clip(portrait, version: str, checkpoint: Path | None, out_dir: Path, fps: int = 25) -> dict:
    """One clip of ``portrait`` by ``version``: a test portrait's in every channel variant
    (``test/fake/<portrait>--<version>_0__<variant>``), a training or validation portrait's through
    the random channel (``<split>/fake/<portrait>_<version>0``, the portrait stays its identity);
    with the voices and a seed range of the portrait's split. Returns a summary."""
    import cv2
    import torch

    from candor.generator.face import analyze_image
    from candor.generator.motion_generator import DEFAULT_CHECKPOINT
    from candor.generator.pipeline import TalkingFacePipeline
    from candor.training.detector_product import (
        _SEED_BASE,
        SENTENCES,
        VOICES,
        _seed,
        portrait_image,
        random_channel,
        random_controls,
        speak,
        write_variants,
    )

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        source = analyze_image(portrait_image(portrait))
    except CandorError as exc:
        return {"portrait": portrait.name, "split": portrait.split, "version": version, "skipped": exc.detail}
    pipeline = TalkingFacePipeline.for_portrait(source, checkpoint or DEFAULT_CHECKPOINT)
    split = portrait.split
    rng = np.random.default_rng(_seed("generator-version", portrait.name, version))
    engine, voice, lang = VOICES[split][int(rng.integers(len(VOICES[split])))]
    text = SENTENCES[lang][int(rng.integers(len(SENTENCES[lang])))]
    # The split's seeds, offset past the 90,000 the product set's own clips draw from.
    seed = _SEED_BASE[split] + 90_000 + _seed(portrait.name, version) % 9_000
    controls = random_controls(rng)
    with tempfile.TemporaryDirectory(prefix="candor-version-") as tmp:
        wav = speak(engine, voice, text, Path(tmp) / "speech.wav")
        if checkpoint is None:
            frames = [pipeline.render(v) for v in _live_motion(pipeline, wav, controls, seed)]
        else:
            frames = list(pipeline.frames(wav, controls, seed=seed))
    if split == "test":
        stem = out_dir / "test" / "fake" / f"{portrait.name}{_SEP}{version}_0"
        stem.parent.mkdir(parents=True, exist_ok=True)
        paths = write_variants(frames, stem, rng, fps)
    else:
        path = out_dir / split / "fake" / f"{portrait.name}_{version.replace('-', '')}0.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        paths = [random_channel(frames, rng, path, fps)[0]]
    return {
        "portrait": portrait.name,
        "split": split,
        "version": version,
        "checkpoint": str(checkpoint) if checkpoint else f"{DEFAULT_CHECKPOINT.name}, live path",
        "voice": f"{engine}:{voice}",
        "seed": seed,
        "written": [str(p.relative_to(out_dir)) for p in paths],
    }


def build_generator_tests(
    out_dir: str | Path,
    versions: dict[str, Path | None],
    *,
    workers: int = 1,
    limit: int | None = None,
    splits: tuple[str, ...] = ("test",),
    on_clip: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Every portrait of ``splits`` by every version (:func:`build_version_clip`); ``limit``: the
    first N portraits of each split only. Adds to an existing product dataset in ``out_dir``."""
    from concurrent.futures import ProcessPoolExecutor

    from candor.training.detector_product import ProductConfig, portraits

    out = Path(out_dir)
    every = portraits(ProductConfig())
    chosen = [p for split in splits for p in [q for q in every if q.split == split][:limit]]
    jobs = [(p, name, ckpt) for p in chosen for name, ckpt in versions.items()]
    summaries = []
    if workers <= 1:
        for p, name, ckpt in jobs:
            summaries.append(build_version_clip(p, name, ckpt, out))
            if on_clip:
                on_clip(summaries[-1])
        return summaries
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for summary in pool.map(build_version_clip, *zip(*jobs, strict=True), [out] * len(jobs)):
            summaries.append(summary)
            if on_clip:
                on_clip(summary)
    return summaries
