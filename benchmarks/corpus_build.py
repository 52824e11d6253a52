"""Corpus builder figures: build speed (x real time) and label statistics.

    python benchmarks/corpus_build.py [--hours 0.1] [--workers 2] [--corpus DIR]

Builds a fresh corpus of ``--hours`` into a temporary directory (or measures an existing
``--corpus``) and prints: audio seconds per wall second, blink rate per minute, blink duration,
lip closure at bilabials, pose range and mean per-frame change, split/engine counts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from candor.generator import motion as M
from candor.generator.controls import SAMPLE_RATE, Controls
from candor.training.corpus.build import build_corpus, read_manifest, summarize
from candor.training.corpus.visemes import lip_aperture, lip_gap_per_unit


def blink_events(lid: np.ndarray, fps: float, threshold: float = 0.5) -> list[float]:
    """Durations (s) of closures above half-closed, counting each blink once."""
    above = lid > threshold
    edges = np.flatnonzero(np.diff(above.astype(int)))
    starts = edges[::2] if above[0] == 0 else edges[1::2]
    events = []
    for s in starts:
        e = s + 1
        while e < len(lid) and above[e]:
            e += 1
        events.append((e - s) / fps)
    return events


def label_stats(corpus: Path) -> dict:
    entries = read_manifest(corpus)
    full_open = lip_gap_per_unit()["jawOpen"]
    minutes, blinks, durations, closes, opens, deltas, poses = 0.0, 0, [], [], [], [], []
    speak_speed: list[np.ndarray] = []
    pause_speed: list[np.ndarray] = []
    for e in entries:
        with np.load(corpus / e["file"]) as z:
            m, phon, fps = z["motion"], json.loads(str(z["phonemes"])), e["fps"]
        minutes += len(m) / fps / 60
        ev = blink_events(m[:, M.index("eyeBlinkLeft")], fps)
        blinks += len(ev)
        # duration at half closure ~ half the full blink duration for a raised-cosine blink
        durations += ev
        aperture = lip_aperture(m) / full_open
        for s, t, p in phon:
            if p in ("p", "b", "m"):
                i = min(len(m) - 1, int((s + t) / 2 * fps))
                closes.append(aperture[i])
                opens.append(m[i, M.index("jawOpen")])
        pose = m[:, :3]
        poses.append(pose)
        # Head speed while speaking vs in pauses (frame centres inside a non-silence phoneme).
        tc = (np.arange(len(m)) + 0.5) / fps
        talking = np.zeros(len(m), bool)
        for s, t, p in phon:
            if p != "_":
                talking |= (tc >= s) & (tc < t)
        speed = np.abs(np.diff(pose, axis=0)).sum(axis=1)
        speak_speed.append(speed[talking[1:]])
        pause_speed.append(speed[~talking[1:]])
        deltas.append(np.abs(np.diff(pose, axis=0)).mean(axis=0))
    pose = np.concatenate(poses)
    return {
        "minutes": round(minutes, 2),
        "blinks_per_min": round(blinks / minutes, 1),
        "blink_frames_over_half_ms": round(1000 * float(np.mean(durations)), 0) if durations else None,
        "bilabials": len(closes),
        # lip gap in jawOpen units (1 = the gap of jawOpen 1.0 alone); <= 0: lips closed
        "bilabial_lip_gap_mean": round(float(np.mean(closes)), 3) if closes else None,
        "bilabial_lip_gap_p95": round(float(np.percentile(closes, 95)), 3) if closes else None,
        "bilabials_closed_fraction": round(float(np.mean(np.array(closes) <= 0.02)), 3) if closes else None,
        "bilabial_jawOpen_mean": round(float(np.mean(opens)), 3) if opens else None,
        "pose_std_deg_yaw_pitch_roll": np.round(pose.std(axis=0), 2).tolist(),
        "pose_p5_p95_deg": np.round(np.percentile(pose, [5, 95], axis=0), 1).tolist(),
        "mean_abs_frame_delta_deg": np.round(np.mean(deltas, axis=0), 3).tolist(),
        "head_speed_deg_per_frame_speaking_vs_pause": [
            round(float(np.concatenate(speak_speed).mean()), 3),
            round(float(np.concatenate(pause_speed).mean()), 3),
        ],
    }


def onset_alignment(corpus: Path) -> dict:
    """Median ms from the first labelled phoneme to the audio's acoustic onset, per engine.

    Only utterances starting with a vowel, n or l (voiced onsets whose sound begins with the
    phoneme); negative: the label precedes the sound. Onset: 5 ms RMS above a tenth of the
    typical speech level.
    """
    from candor.training.corpus.visemes import alphabet_of, viseme_sequence

    diffs: dict[str, list[float]] = {}
    for e in read_manifest(corpus):
        with np.load(corpus / e["file"]) as z:
            a, ph = z["audio"].astype(np.float32) / 32768, json.loads(str(z["phonemes"]))
        start, sym = next(((s, p) for s, _, p in ph if p != "_"), (None, None))
        if sym is None:
            continue
        first = viseme_sequence(sym, alphabet_of(e["engine"]))[0]
        if first not in ("AA", "EE", "II", "OO", "UU", "SCHWA") and sym not in ("n", "l"):
            continue
        env = np.sqrt(np.convolve(a**2, np.ones(80) / 80, mode="same"))
        level = np.median(env[env > env.max() * 0.05])
        onset = np.argmax(env > 0.1 * level) / SAMPLE_RATE
        diffs.setdefault(e["engine"], []).append(1000 * (start - onset))
    return {k: {"n": len(v), "median_ms": round(float(np.median(v)), 1)} for k, v in diffs.items()}


def engine_speed(n: int = 6) -> dict:
    """Single-process speed (audio seconds per wall second) of synthesis and labelling per engine."""
    from candor.training.corpus import tts
    from candor.training.corpus.build import plan_utterance, synthesize
    from candor.training.corpus.labels import motion_labels
    from candor.training.corpus.nonverbal import Style
    from candor.training.corpus.visemes import alphabet_of

    by_engine: dict[str, list] = {}
    i = 0
    voices = tts.festival_voices()
    while any(len(by_engine.get(e, [])) < n for e in ("espeak", "flite", "festival")) and i < 5000:
        spec = plan_utterance(123, i, voices)
        i += 1
        if len(by_engine.setdefault(spec.voice.engine, [])) < n:
            by_engine[spec.voice.engine].append(spec)
    motion_labels(np.zeros(SAMPLE_RATE, np.float32), [], Controls(), Style.for_speaker("x"), np.random.default_rng(0))
    out = {}
    for engine, specs in by_engine.items():
        audio_s = synth_s = label_s = 0.0
        for spec in specs:
            t0 = time.perf_counter()
            speech = synthesize(spec)
            t1 = time.perf_counter()
            motion_labels(
                speech.audio,
                speech.phonemes,
                spec.controls,
                Style.for_speaker(spec.voice.id),
                np.random.default_rng(0),
                alphabet_of(engine),
            )
            t2 = time.perf_counter()
            audio_s, synth_s, label_s = audio_s + speech.duration, synth_s + t1 - t0, label_s + t2 - t1
        out[engine] = {
            "synth_x_realtime": round(audio_s / synth_s, 1),
            "label_x_realtime": round(audio_s / label_s, 1),
            "voices": sorted({s.voice.name for s in specs}),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=0.1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--corpus", type=Path, default=None, help="measure an existing corpus instead")
    ap.add_argument("--engines", action="store_true", help="also time each engine in this process")
    args = ap.parse_args()
    if args.engines:
        print(json.dumps(engine_speed()))
    if args.corpus is None:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            info = build_corpus(Path(tmp), args.hours, seed=7, workers=args.workers)
            print(
                f"build: {info['hours']:.3f} h audio in {time.perf_counter() - t0:.1f} s wall "
                f"= {info['speed_x_realtime']}x real time with {args.workers} workers"
            )
            print(json.dumps(summarize(read_manifest(Path(tmp)))))
            print(json.dumps(label_stats(Path(tmp))))
    else:
        print(json.dumps(summarize(read_manifest(args.corpus))))
        print(json.dumps(label_stats(args.corpus)))
        print("phoneme onset vs acoustic onset:", json.dumps(onset_alignment(args.corpus)))


if __name__ == "__main__":
    main()
