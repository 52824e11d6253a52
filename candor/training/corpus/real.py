"""A motion corpus from real recorded speech that Debian packages ship (nothing is downloaded).

Sources, read from their install locations (``make real-speech`` installs them)::

    asterisk-core-sounds-{en,es,fr,it,ru}-wav  /usr/share/asterisk/sounds/<ll>_<CC>_<f|m>_<Name>/
        studio prompts, 8 kHz, one speaker per language; the English prompt texts are in
        asterisk-core-sounds-en's core-sounds-en.txt.gz (the other languages use the same names)
    pocketsphinx-testdata                      /usr/share/pocketsphinx/test/data/librivox/
        LibriVox read speech, 16 kHz, with transcripts
    codec2-examples                            /usr/share/codec2/raw/*.raw (8 kHz), wav/
        a dozen speakers, some over HF radio; no transcripts

Labels use the TTS corpus's own pipeline (``labels.motion_labels`` with the ARPAbet viseme map);
only the phone timing differs. English with a transcript is force-aligned (``align``); every
other recording gets phones from an en-US phone loop, whose fidelity is measured on the English
recordings where both exist (``label_check`` in build.json). Whole speakers are held out: the
``val`` split is speakers never trained on, for the end-to-end benchmark.
"""

from __future__ import annotations

import gzip
import json
import re
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from candor.errors import InvalidInput
from candor.files import atomic_write_text
from candor.generator.audio import to_mono_16k
from candor.generator.controls import EMOTIONS, Controls
from candor.training.corpus import labels
from candor.training.corpus.align import AlignmentError, PhoneTimer, transcript_words
from candor.training.corpus.build import ManifestWriter, read_manifest, summarize, write_utterance
from candor.training.corpus.nonverbal import Style
from candor.training.corpus.tts import SAMPLE_RATE, SILENCE
from candor.training.corpus.visemes import CHANNELS, mouth_curves, viseme_sequence

APT_PACKAGES = (
    "asterisk-core-sounds-en",
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-es-wav",
    "asterisk-core-sounds-fr-wav",
    "asterisk-core-sounds-it-wav",
    "asterisk-core-sounds-ru-wav",
    "pocketsphinx-testdata",
    "codec2-examples",
)
INSTALL_HINT = f"install the recordings first: make real-speech (apt-get install {' '.join(APT_PACKAGES)})"
ASTERISK = Path("/usr/share/asterisk/sounds")
ASTERISK_EN_TEXT = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
CODEC2 = Path("/usr/share/codec2")
# codec2's speech files (the rest are modem signals and tones); hts1/hts2/hts1a/hts2a repeat hts.
CODEC2_SPEECH = ("hts", "morig", "forig", "mmt1", "kristoff", "big_dog", "cross", "cq_ref", "g3plx", "vk5qi", "ve9qrp")
# Held out by speaker: two languages without a transcript and the English reader with one.
HELD_OUT = ("asterisk-Carlo", "asterisk-IvrvoiceRU", "librivox-austen")
MIN_SECONDS = 0.5


@dataclass(frozen=True)
class Recording:
    """One source file and what is known about it."""

    id: str
    path: Path
    speaker: str
    language: str
    source: str  # "asterisk" | "librivox" | "codec2"
    text: str | None  # the spoken text where known
    english: bool  # the text can be force-aligned with the en-US dictionary
    raw_rate: int | None = None  # headerless 16-bit PCM at this rate; None: a WAV file


def _prompt_texts(path: Path) -> dict[str, str]:
    """name -> prompt text of an asterisk core-sounds-<ll>.txt(.gz) (lines ``name: text``)."""
    if not path.is_file():
        return {}
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    out = {}
    for line in lines:
        name, sep, text = line.partition(":")
        if sep and not line.startswith(";") and " " not in name.strip():
            out[name.strip()] = text.strip()
    return out


def discover(
    asterisk: Path = ASTERISK, librivox: Path = LIBRIVOX, codec2: Path = CODEC2, en_text: Path = ASTERISK_EN_TEXT
) -> list[Recording]:
    """Every usable recording under the install locations, in a stable order."""
    recs: list[Recording] = []
    en_texts = _prompt_texts(en_text)
    if asterisk.is_dir():
        # The voice directories (ll_CC_g_Name); the short names beside them are alternatives links.
        for voice_dir in sorted(p for p in asterisk.iterdir() if re.fullmatch(r"[a-z]{2}_[A-Z]{2}_[fm]_\w+", p.name)):
            lang, _country, _sex, name = voice_dir.name.split("_", 3)
            for wav in sorted(voice_dir.rglob("*.wav")):
                key = wav.relative_to(voice_dir).with_suffix("").as_posix()
                text = en_texts.get(key)
                if text is not None and "[" in text:
                    continue  # a tone or sound effect, in every language
                recs.append(
                    Recording(
                        id=f"asterisk-{lang}-{key.replace('/', '-')}",
                        path=wav,
                        speaker=f"asterisk-{name}",
                        language=lang,
                        source="asterisk",
                        text=text if lang == "en" else None,
                        english=lang == "en" and text is not None,
                    )
                )
    transcription = librivox / "transcription"
    if transcription.is_file():
        for line in transcription.read_text().splitlines():
            m = re.fullmatch(r"\s*(.*?)\s*\((\S+)\)\s*", line)
            if m and (librivox / f"{m.group(2)}.wav").is_file():
                text = re.sub(r"</?s>", "", m.group(1)).strip()
                recs.append(
                    Recording(
                        f"librivox-{m.group(2)[-4:]}", librivox / f"{m.group(2)}.wav", "librivox-austen", "en",
                        "librivox", text, True,
                    )
                )  # fmt: skip
    for stem in CODEC2_SPEECH:
        raw = codec2 / "raw" / f"{stem}.raw"
        if raw.is_file():
            recs.append(Recording(f"codec2-{stem}", raw, f"codec2-{stem}", "en", "codec2", None, False, 8000))
    return recs


def load(rec: Recording) -> np.ndarray:
    """16 kHz mono float32 samples of a recording (8 kHz sources are resampled, not re-banded)."""
    if rec.raw_rate is not None:
        pcm = np.fromfile(rec.path, dtype="<i2").astype(np.float32) / 32768.0
        return to_mono_16k(pcm, rec.raw_rate)
    import soundfile as sf

    data, sr = sf.read(str(rec.path), dtype="float32", always_2d=True)
    if len(data) == 0:  # a few prompts are empty files; the builder skips them as too short
        return np.zeros(0, np.float32)
    return to_mono_16k(data, sr)


def phone_timing(timer: PhoneTimer, rec: Recording, audio: np.ndarray) -> tuple[list[tuple[float, float, str]], str]:
    """(phone segments, how: "aligned" | "phone-loop"); English falls back to the loop on OOV words."""
    if rec.english and rec.text:
        words = transcript_words(rec.text)
        if words:
            try:
                return timer.align(audio, words), "aligned"
            except AlignmentError:
                pass  # an out-of-dictionary word: the phone loop labels it like any other language
    return timer.recognize(audio), "phone-loop"


def _controls(rng: np.random.Generator) -> Controls:
    """Neutral half the time, else a random emotion; gaze and distance as the TTS corpus draws them."""
    emotion = "neutral" if rng.random() < 0.5 else EMOTIONS[int(rng.integers(1, len(EMOTIONS)))]
    centred = rng.random() < 0.4
    return Controls(
        gaze_yaw=0.0 if centred else float(rng.uniform(-25, 25)),
        gaze_pitch=0.0 if centred else float(rng.uniform(-15, 15)),
        distance=1.0 if rng.random() < 0.4 else float(np.exp(rng.uniform(np.log(0.6), np.log(1.6)))),
        emotion=emotion,
        intensity=0.0 if emotion == "neutral" else float(rng.uniform(0.3, 1.0)),
    )


def make_utterance(timer: PhoneTimer, rec: Recording, out: Path, split: str, seed: int) -> dict | None:
    """Label one recording and write ``utts/<id>.npz``; its manifest entry, or None if too short."""
    audio = load(rec)
    if len(audio) < MIN_SECONDS * SAMPLE_RATE or float(np.abs(audio).max()) < 1e-3:
        return None
    # Dither: the TTS corpus's noise floor, so digitally silent gaps give finite log-mel features.
    rng = np.random.default_rng([seed, zlib.crc32(rec.id.encode())])
    audio = (audio + rng.normal(0, 10 ** (-70 / 20), len(audio))).astype(np.float32)
    phonemes, how = phone_timing(timer, rec, audio)
    if not any(sym != SILENCE for _, _, sym in phonemes):
        return None
    controls = _controls(rng)
    motion, mouth_open = labels.motion_labels(audio, phonemes, controls, Style.for_speaker(rec.speaker), rng, "arpa")
    rel = f"utts/{rec.id}.npz"
    write_utterance(out / rel, audio=audio, motion=motion, controls=controls, phonemes=phonemes, mouth_open=mouth_open)
    return {
        "id": rec.id,
        "split": split,
        "engine": "real",
        "voice": rec.speaker,
        "language": rec.language,
        "text": rec.text or "",
        "duration_s": round(len(audio) / SAMPLE_RATE, 7),
        "fps": labels.FPS,
        "emotion": controls.emotion,
        "intensity": round(controls.intensity, 4),
        "gaze_yaw": round(controls.gaze_yaw, 3),
        "gaze_pitch": round(controls.gaze_pitch, 3),
        "distance": round(controls.distance, 4),
        "file": rel,
        "source": rec.source,
        "labels": how,
        "band_hz": 8000 if rec.source == "librivox" else 4000,  # telephone-band sources are 8 kHz
    }


def build_real_corpus(
    out: Path,
    *,
    recordings: list[Recording] | None = None,
    held_out: tuple[str, ...] = HELD_OUT,
    seed: int = 0,
    max_utterances: int | None = None,
    on_progress: Callable[[float, dict], None] | None = None,
) -> dict:
    """Build (or resume) a real-speech corpus in ``out``; returns the summary written to build.json.

    ``recordings`` defaults to :func:`discover`; InvalidInput (with the install line) when none exist.
    """
    recs = discover() if recordings is None else recordings
    if not recs:
        raise InvalidInput(f"no real speech recordings found; {INSTALL_HINT}")
    out = Path(out)
    (out / "utts").mkdir(parents=True, exist_ok=True)
    entries = read_manifest(out)
    done = {e["id"] for e in entries}
    skipped_path = out / "skipped.json"
    skipped = set(json.loads(skipped_path.read_text())) if skipped_path.is_file() else set()
    timer = PhoneTimer()
    writer = ManifestWriter(out, entries)
    started, made = time.perf_counter(), 0
    try:
        for rec in recs:
            if rec.id in done or rec.id in skipped:
                continue
            if max_utterances is not None and made >= max_utterances:
                break
            split = "val" if rec.speaker in held_out else "train"
            entry = make_utterance(timer, rec, out, split, seed)
            if entry is None:
                skipped.add(rec.id)
                continue
            writer.append(entry)
            entries.append(entry)
            made += 1
            if on_progress:
                on_progress(entry["duration_s"], entry)
    finally:
        writer.close()
        skipped_path.write_text(json.dumps(sorted(skipped)))
    summary = summarize(entries)
    summary.update(
        seed=seed,
        wall_s=round(time.perf_counter() - started, 1),
        skipped=len(skipped),
        held_out={"speakers": list(held_out)},  # replaces the TTS corpus's engine/voice hold-out
        per_labels={k: sum(1 for e in entries if e.get("labels") == k) for k in ("aligned", "phone-loop")},
        speakers_per_split={s: sorted({e["voice"] for e in entries if e["split"] == s}) for s in ("train", "val")},
        label_check=label_check(out, [e for e in entries if e.get("labels") == "aligned"], timer),
    )
    atomic_write_text(out / "build.json", json.dumps(summary, indent=2))
    return summary


def _frames(phonemes: list[tuple[float, float, str]], n: int) -> np.ndarray:
    return mouth_curves(phonemes, (np.arange(n) + 0.5) / labels.FPS, "arpa")


def label_check(corpus: Path, aligned: list[dict], timer: PhoneTimer, limit: int = 200) -> dict:
    """How well the language-independent labels (phone loop) match aligned ones on English.

    Per utterance: Pearson r of the jawOpen curves, and the share of aligned bilabial frames
    (/p b m/) on which the phone-loop labels close the lips (lipClosure > 0.5). The acoustic
    alternative, jaw opening = log energy, is scored beside it with the same r.
    """
    jaw, close_share, energy_r = [], [], []
    i_jaw, i_close = CHANNELS.index("jawOpen"), CHANNELS.index("lipClosure")
    for e in aligned[:limit]:
        with np.load(corpus / e["file"]) as z:
            audio = z["audio"].astype(np.float32) / 32768.0
            truth_ph = [tuple(p) for p in json.loads(str(z["phonemes"]))]
        n = labels.frame_count(len(audio))
        truth = _frames(truth_ph, n)
        loop_ph = timer.recognize(audio)
        loop = _frames(loop_ph, n)
        if truth[:, i_jaw].std() < 1e-6 or loop[:, i_jaw].std() < 1e-6:
            continue
        jaw.append(float(np.corrcoef(truth[:, i_jaw], loop[:, i_jaw])[0, 1]))
        hop = SAMPLE_RATE // labels.FPS
        frames = np.pad(audio, (0, n * hop - len(audio)))[: n * hop].reshape(n, hop)
        log_e = np.log(np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) + 1e-5)
        energy_r.append(float(np.corrcoef(truth[:, i_jaw], log_e)[0, 1]))
        bil = bilabial_frames(truth_ph, n)
        if bil.any():
            close_share.append(float((loop[bil, i_close] > 0.5).mean()))
    return {
        "utterances": len(jaw),
        "jaw_r_phone_loop_vs_aligned": round(float(np.mean(jaw)), 3) if jaw else None,
        "jaw_r_log_energy_vs_aligned": round(float(np.mean(energy_r)), 3) if energy_r else None,
        "bilabials_closed_phone_loop": round(float(np.mean(close_share)), 3) if close_share else None,
    }


def bilabial_frames(phonemes: list[tuple[float, float, str]], n: int, fps: int = labels.FPS) -> np.ndarray:
    """(n,) bool: frames whose centre falls inside a /p b m/ segment (ARPAbet phones)."""
    t = (np.arange(n) + 0.5) / fps
    out = np.zeros(n, bool)
    for s, e, sym in phonemes:
        if sym != SILENCE and viseme_sequence(sym, "arpa") == ["PP"]:
            out |= (t >= s) & (t < e)
    return out


def iter_rows(corpus: Path, split: str | None = None, aligned_only: bool = False) -> Iterator[dict]:
    """Manifest rows of a real corpus, filtered by split and by whether an alignment exists."""
    for row in read_manifest(Path(corpus)):
        if (split is None or row["split"] == split) and (not aligned_only or row.get("labels") == "aligned"):
            yield row
