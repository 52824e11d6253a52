"""Build a TTS-bootstrapped motion corpus: plan, synthesise, label, write (resumable, atomic).

Utterance ``i`` of a build is fully determined by ``(seed, i)``, so an interrupted build resumes
by skipping the ids already in the manifest and going on with the next indices. Workers (an
:class:`~candor.executors.Executor`: serial, at most two local processes, or Ray tasks) synthesise,
label and write each ``.npz``; only the parent writes the manifest, one line per finished
utterance, after its ``.npz`` is in place.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from candor.errors import InvalidInput
from candor.executors import Executor, executor_for
from candor.files import atomic_output, atomic_write_text
from candor.generator.controls import EMOTIONS, Controls
from candor.training.corpus import labels, text, tts
from candor.training.corpus.nonverbal import Style
from candor.training.corpus.visemes import alphabet_of
from candor.training.corpus.voices import (
    F0_MEAN,
    VAL_ENGINE,
    VAL_ESPEAK_VARIANTS,
    VAL_FLITE_VOICES,
    Voice,
    sample_voice,
)

MAX_WORKERS = 2
MANIFEST = "manifest.jsonl"
BUILD_INFO = "build.json"


@dataclass(frozen=True)
class UtteranceSpec:
    """Everything that decides one utterance. Rates: espeak words/min, others a duration stretch."""

    id: str
    index: int
    seed: int
    voice: Voice
    text: str
    rate: float
    pitch: float
    pitch_range: float
    controls: Controls
    pad_start: float  # seconds of silence before the speech
    pad_end: float
    gain_db: float


def plan_utterance(seed: int, index: int, festival_voices: list[str]) -> UtteranceSpec:
    """The spec of utterance ``index`` of a build with ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, index])
    voice = sample_voice(rng, festival_voices)
    long_form = rng.random() < 0.1  # a few long utterances for long-window statistics
    sentence = text.sentence(voice.language, rng, int(rng.integers(5, 9)) if long_form else None)
    if voice.engine == "espeak":
        rate, pitch, pitch_range = rng.uniform(130, 230), rng.uniform(25, 75), rng.uniform(20, 90)
    else:
        base = F0_MEAN.get(voice.name, 105.0)
        rate, pitch, pitch_range = rng.uniform(0.8, 1.3), base * rng.uniform(0.8, 1.25), 0.0
    emotion = "neutral" if rng.random() < 0.35 else EMOTIONS[int(rng.integers(1, len(EMOTIONS)))]
    centred = rng.random() < 0.4
    controls = Controls(
        gaze_yaw=0.0 if centred else float(rng.uniform(-25, 25)),
        gaze_pitch=0.0 if centred else float(rng.uniform(-15, 15)),
        distance=1.0 if rng.random() < 0.4 else float(np.exp(rng.uniform(np.log(0.6), np.log(1.6)))),
        emotion=emotion,
        intensity=0.0 if emotion == "neutral" else float(rng.uniform(0.3, 1.0)),
    )
    return UtteranceSpec(
        id=f"u{index:06d}",
        index=index,
        seed=seed,
        voice=voice,
        text=sentence,
        rate=float(rate),
        pitch=float(pitch),
        pitch_range=float(pitch_range),
        controls=controls,
        pad_start=float(rng.uniform(0.05, 0.6)),
        pad_end=float(rng.uniform(0.1, 0.8)),
        gain_db=float(rng.uniform(-12, 0)),
    )


def synthesize(spec: UtteranceSpec) -> tts.Speech:
    """Run the spec's engine; the result includes the silence padding and gain."""
    v = spec.voice
    if v.engine == "espeak":
        speech = tts.Espeak.shared().synth(spec.text, v.name, int(spec.rate), int(spec.pitch), int(spec.pitch_range))
    elif v.engine == "flite":
        speech = tts.flite(spec.text, v.name, spec.rate, spec.pitch)
    else:
        f0 = spec.pitch if v.name.endswith("_diphone") else None  # HTS voices ignore int_lr_params
        speech = tts.festival(spec.text, v.name, spec.rate, f0)
    rng = np.random.default_rng([spec.seed, spec.index, 1])
    peak = float(np.abs(speech.audio).max()) or 1.0
    audio = speech.audio / peak * 0.9 * 10 ** (spec.gain_db / 20)
    pre, post = int(spec.pad_start * tts.SAMPLE_RATE), int(spec.pad_end * tts.SAMPLE_RATE)
    audio = np.concatenate([np.zeros(pre, np.float32), audio, np.zeros(post, np.float32)])
    # Dither keeps log-mel features finite in the padded silence, like a real recording's noise floor.
    audio = audio + rng.normal(0, 10 ** (-70 / 20), len(audio)).astype(np.float32)
    shift = pre / tts.SAMPLE_RATE
    phonemes = [(s + shift, e + shift, p) for s, e, p in speech.phonemes]
    phonemes = tts.segments_from_onsets([(s, p) for s, _, p in phonemes], len(audio) / tts.SAMPLE_RATE)
    return tts.Speech(audio.astype(np.float32), phonemes)


def make_utterance(spec: UtteranceSpec, out_dir: Path) -> dict:
    """Synthesise, label and atomically write ``utts/<id>.npz``; returns its manifest entry."""
    speech = synthesize(spec)
    rng = np.random.default_rng([spec.seed, spec.index, 2])
    style = Style.for_speaker(spec.voice.id)
    motion, mouth_open = labels.motion_labels(
        speech.audio, speech.phonemes, spec.controls, style, rng, alphabet_of(spec.voice.engine)
    )
    rel = f"utts/{spec.id}.npz"
    write_utterance(
        out_dir / rel,
        audio=speech.audio,
        motion=motion,
        controls=spec.controls,
        phonemes=speech.phonemes,
        mouth_open=mouth_open,
    )
    c = spec.controls
    return {
        "id": spec.id,
        "split": spec.voice.split,
        "engine": spec.voice.engine,
        "voice": spec.voice.id,
        "language": spec.voice.language,
        "text": spec.text,
        "duration_s": round(len(speech.audio) / tts.SAMPLE_RATE, 7),  # exact: samples / 16000
        "fps": labels.FPS,
        "emotion": c.emotion,
        "intensity": round(c.intensity, 4),
        "gaze_yaw": round(c.gaze_yaw, 3),
        "gaze_pitch": round(c.gaze_pitch, 3),
        "distance": round(c.distance, 4),
        "file": rel,
        "rate": round(spec.rate, 3),
        "pitch": round(spec.pitch, 2),
    }


def write_utterance(
    path: Path,
    *,
    audio: np.ndarray,
    motion: np.ndarray,
    controls: Controls,
    phonemes: list[tuple[float, float, str]],
    mouth_open: np.ndarray,
) -> None:
    """Write one corpus ``.npz`` (format in /work/notes/corpus-format.md) via temp file + rename."""
    pcm = np.clip(np.round(np.asarray(audio, np.float32) * 32767), -32768, 32767).astype(np.int16)
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            audio=pcm,
            sr=np.int32(tts.SAMPLE_RATE),
            motion=np.asarray(motion, np.float32),
            controls=controls.to_vector(),
            phonemes=np.array(json.dumps([[round(s, 4), round(e, 4), p] for s, e, p in phonemes])),
            mouth_open=np.asarray(mouth_open, np.float32),
        )


def read_manifest(corpus: Path) -> list[dict]:
    """Manifest entries of a corpus directory whose file exists (a torn last line is skipped)."""
    path = Path(corpus) / MANIFEST
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and (Path(corpus) / entry.get("file", "")).is_file():
            entries.append(entry)
    return entries


class ManifestWriter:
    """Appends manifest lines durably; on open, rewrites the manifest without torn lines."""

    def __init__(self, corpus: Path, entries: list[dict]) -> None:
        self.path = corpus / MANIFEST
        atomic_write_text(self.path, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries))
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, entry: dict) -> None:
        self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _worker_setup() -> None:
    """Worker initializer (pool or Ray): espeak-ng runs in-process inside this single-purpose worker."""
    tts.use_in_process_engine()


def _work(spec: UtteranceSpec, out_dir: str) -> dict:
    """One utterance, or ``{"failed": id, "reason": ...}`` when its engine cannot speak it."""
    try:
        return make_utterance(spec, Path(out_dir))
    except tts.TTSError as exc:
        return {"failed": spec.id, "reason": exc.detail}


def build_corpus(
    out: Path,
    hours: float,
    *,
    seed: int = 0,
    workers: int = MAX_WORKERS,
    max_utterances: int | None = None,
    on_progress: Callable[[float, dict], None] | None = None,
    executor: Executor | None = None,
) -> dict:
    """Build (or resume) a corpus in ``out`` until it holds ``hours`` of audio.

    Utterances are made by ``executor`` (default: serial for ``workers`` 1, else a pool of
    ``workers`` processes; a Ray executor fans them out on a cluster, whose workers write into
    ``out``: a folder every node sees). Only this process writes the manifest.

    ``on_progress(seconds_added, entry)`` is called per finished utterance. Returns the summary
    also written to ``build.json``: utterances, hours, per-split/engine counts, wall seconds and
    speed (audio seconds per wall second).
    """
    if hours <= 0:
        raise InvalidInput("--hours must be positive")
    if executor is None and not 1 <= workers <= MAX_WORKERS:
        raise InvalidInput(f"--workers must be 1-{MAX_WORKERS} (the machine is shared)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "utts").mkdir(exist_ok=True)
    info_path = out / BUILD_INFO
    if info_path.is_file():
        try:
            previous = json.loads(info_path.read_text())
        except json.JSONDecodeError:
            raise InvalidInput(f"{info_path} is not valid JSON; remove it to rebuild the build summary") from None
        if previous.get("seed") != seed:
            raise InvalidInput(f"{out} was built with seed {previous.get('seed')}; resume with that seed")
    else:  # recorded up front so an interrupted build is resumed with the same seed
        _write_json(info_path, {"seed": seed, "target_hours": hours, "complete": False})
    for stale in (out / "utts").glob(".*.npz"):  # temp files of a build that was killed mid-write
        stale.unlink()
    entries = read_manifest(out)
    done_ids = {e["id"] for e in entries}
    have = sum(e["duration_s"] for e in entries)
    target = hours * 3600.0
    festival_voices = tts.festival_voices()
    writer = ManifestWriter(out, entries)
    started, made_seconds = time.perf_counter(), 0.0

    budget = max_utterances if max_utterances is not None else 10**9
    submitted, resumed = 0, len(entries)
    avg = 4.0  # seconds per utterance, refined as results come in

    def specs() -> Iterator[UtteranceSpec]:
        """The next utterances to make, while the finished ones plus those in flight (at their
        average length) fall short of the target."""
        nonlocal budget, submitted
        index = 0
        while budget > 0 and have + avg * (submitted - (len(entries) - resumed) - len(failures)) < target:
            if f"u{index:06d}" not in done_ids:
                budget -= 1
                submitted += 1
                yield plan_utterance(seed, index, festival_voices)
            index += 1

    failures: list[dict] = []

    def finish(entry: dict) -> None:
        nonlocal have, made_seconds
        if "failed" in entry:
            failures.append(entry)
            # A few odd sentences may fail; an engine that fails most of the time is a broken setup.
            if len(failures) >= 20 and len(failures) > 0.2 * (len(entries) + len(failures)):
                raise tts.TTSError(f"too many synthesis failures, last: {entry['reason']}")
            return
        writer.append(entry)
        entries.append(entry)
        have += entry["duration_s"]
        made_seconds += entry["duration_s"]
        if on_progress:
            on_progress(entry["duration_s"], entry)

    own = executor is None
    executor = executor or executor_for(workers=workers)
    try:
        work = functools.partial(_work, out_dir=str(out))
        for done in executor.map_unordered(work, specs(), initializer=_worker_setup):
            finish(done.value if done.error is None else {"failed": done.item.id, "reason": done.error})
            avg = have / max(1, len(entries))
    finally:
        writer.close()
        if own:
            executor.close()
    wall = time.perf_counter() - started
    summary = summarize(entries)
    summary.update(
        seed=seed,
        target_hours=hours,
        wall_s=round(wall, 1),
        speed_x_realtime=round(made_seconds / wall, 1) if wall > 0 and made_seconds else None,
        workers=executor.workers,
        executor=executor.describe(),
        failed=len(failures),
        festival_voices=festival_voices,
    )
    summary["complete"] = have >= target
    _write_json(info_path, summary)
    return summary


def _write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2))


def summarize(entries: list[dict]) -> dict:
    """Counts and hours per split, engine, language and voice of manifest entries."""
    hours = Counter()
    for e in entries:
        hours[e["split"]] += e["duration_s"] / 3600
    return {
        "utterances": len(entries),
        "hours": round(sum(e["duration_s"] for e in entries) / 3600, 3),
        "hours_per_split": {k: round(v, 3) for k, v in hours.items()},
        "per_split": dict(Counter(e["split"] for e in entries)),
        "per_engine": dict(Counter(e["engine"] for e in entries)),
        "per_language": dict(Counter(e["language"] for e in entries)),
        "voices": len({e["voice"] for e in entries}),
        "voices_per_split": {
            split: len({e["voice"] for e in entries if e["split"] == split}) for split in ("train", "val")
        },
        "engines_per_split": {
            split: sorted({e["engine"] for e in entries if e["split"] == split}) for split in ("train", "val")
        },
        "held_out": {
            "engine": VAL_ENGINE,
            "espeak_variants": list(VAL_ESPEAK_VARIANTS),
            "flite_voices": list(VAL_FLITE_VOICES),
        },
        "per_emotion": dict(Counter(e["emotion"] for e in entries)),
    }
