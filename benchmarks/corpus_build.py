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
from candor.generator.corpus.build import build_corpus, read_manifest, summarize


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
    minutes, blinks, durations, closes, opens, deltas, poses = 0.0, 0, [], [], [], [], []
    for e in entries:
        with np.load(corpus / e["file"]) as z:
            m, phon, fps = z["motion"], json.loads(str(z["phonemes"])), e["fps"]
        minutes += len(m) / fps / 60
        ev = blink_events(m[:, M.index("eyeBlinkLeft")], fps)
        blinks += len(ev)
        # duration at half closure ~ half the full blink duration for a raised-cosine blink
        durations += ev
        for s, t, p in phon:
            if p in ("p", "b", "m"):
                i = min(len(m) - 1, int((s + t) / 2 * fps))
                closes.append(m[i, M.index("mouthClose")])
                opens.append(m[i, M.index("jawOpen")])
        pose = m[:, :3]
        poses.append(pose)
        deltas.append(np.abs(np.diff(pose, axis=0)).mean(axis=0))
    pose = np.concatenate(poses)
    return {
        "minutes": round(minutes, 2),
        "blinks_per_min": round(blinks / minutes, 1),
        "blink_frames_over_half_ms": round(1000 * float(np.mean(durations)), 0) if durations else None,
        "bilabials": len(closes),
        "bilabial_mouthClose_mean": round(float(np.mean(closes)), 3) if closes else None,
        "bilabial_jawOpen_mean": round(float(np.mean(opens)), 3) if opens else None,
        "pose_std_deg_yaw_pitch_roll": np.round(pose.std(axis=0), 2).tolist(),
        "pose_p5_p95_deg": np.round(np.percentile(pose, [5, 95], axis=0), 1).tolist(),
        "mean_abs_frame_delta_deg": np.round(np.mean(deltas, axis=0), 3).tolist(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=0.1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--corpus", type=Path, default=None, help="measure an existing corpus instead")
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
