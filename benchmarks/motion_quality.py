"""Motion quality of the audio-driven model on held-out voices (the corpus's ``val`` split).

Prints, for generated motion next to the corpus's own labels on the same utterances:
- lip sync: Pearson correlation of generated jawOpen with the ground-truth viseme mouth-opening
  curve (goal >= 0.8), and the audio-visual offset at peak cross-correlation (goal |lag| <= 1 frame);
  the same correlation through the streaming path, next to offline;
- liveliness: blink rate, head-pose range and mean per-frame change (VASA-1's delta-P), jitter;
- control effectiveness: requested vs produced gaze, distance (scale) and emotion expression.

Usage: python benchmarks/motion_quality.py [--corpus DIR] [--checkpoint PT] [--max-utts N] [--stream-window N]
Without --corpus, a small corpus is synthesized first (seed 2; the shipped model was trained on seed 3's
train split; the split is by voice and engine, so only voices never trained on are scored).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from candor.generator import motion as M
from candor.generator.controls import CONTROL_NAMES, EMOTIONS, Controls
from candor.generator.motion_generator import MotionGenerator

ANGLES = ("yaw", "pitch", "roll")
MAX_LAG = 6  # frames searched each way for the audio-visual offset


def held_out(corpus: Path, max_utts: int) -> list[dict]:
    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines() if line.strip()]
    val = [r for r in rows if r["split"] == "val" and (corpus / r["file"]).is_file()]
    # Spread over engines and voices rather than taking the first N.
    val.sort(key=lambda r: (r["voice"], r["id"]))
    step = max(1, len(val) // max_utts)
    return val[::step][:max_utts]


def best_lag(x: np.ndarray, y: np.ndarray) -> int:
    """Lag (frames) maximizing corr(x[t + lag], y[t]); > 0 means x (generated) is late."""
    best, best_c = 0, -2.0
    for lag in range(-MAX_LAG, MAX_LAG + 1):
        a = x[lag:] if lag >= 0 else x[:lag]
        b = y[: len(y) - lag] if lag >= 0 else y[-lag:]
        if a.std() < 1e-6 or b.std() < 1e-6:
            continue
        c = np.corrcoef(a, b)[0, 1]
        if c > best_c:
            best, best_c = lag, c
    return best


def blinks_per_minute(m: np.ndarray, fps: float) -> float:
    closed = (m[:, M.index("eyeBlinkLeft")] + m[:, M.index("eyeBlinkRight")]) / 2 > 0.5
    onsets = np.count_nonzero(closed[1:] & ~closed[:-1]) + int(closed[0])
    return onsets / (len(m) / fps / 60)


def pose_stats(m: np.ndarray) -> dict[str, float]:
    angles = m[:, [M.index(a) for a in ANGLES]]
    jaw = m[:, M.index("jawOpen")]
    return {
        "range_deg": float(np.mean(np.percentile(angles, 95, axis=0) - np.percentile(angles, 5, axis=0))),
        "delta_p_deg": float(np.abs(np.diff(angles, axis=0)).mean()),
        "jitter_pose_deg": float(np.abs(np.diff(angles, n=2, axis=0)).mean()),
        "jitter_jaw": float(np.abs(np.diff(jaw, n=2)).mean()),
    }


def lip_sync(gen: MotionGenerator, corpus: Path, rows: list[dict], seed: int) -> dict:
    corrs, lags, gen_stats, gt_stats, gen_blinks, gt_blinks = [], [], [], [], [], []
    pooled_gen, pooled_gt = [], []
    for i, row in enumerate(rows):
        with np.load(corpus / row["file"]) as z:
            audio = z["audio"].astype(np.float32) / 32768.0
            truth = z["motion"].astype(np.float32)
            mouth = z["mouth_open"].astype(np.float32)
            controls = Controls(**{name: row[name] for name in CONTROL_NAMES})
        out = gen.generate(audio, controls, seed=seed + i).values
        n = min(len(out), len(mouth))
        jaw = out[:n, M.index("jawOpen")]
        corrs.append(np.corrcoef(jaw, mouth[:n])[0, 1])
        lags.append(best_lag(jaw, mouth[:n]))
        pooled_gen.append(jaw)
        pooled_gt.append(mouth[:n])
        gen_stats.append(pose_stats(out))
        gt_stats.append(pose_stats(truth))
        gen_blinks.append((blinks_per_minute(out, gen.fps), len(out)))
        gt_blinks.append((blinks_per_minute(truth, gen.fps), len(truth)))

    def weighted(blinks: list[tuple[float, int]]) -> float:
        return float(sum(b * n for b, n in blinks) / sum(n for _, n in blinks))

    lags_arr = np.array(lags)
    return {
        "utterances": len(rows),
        "voices": sorted({r["voice"] for r in rows}),
        "jaw_corr_mean": float(np.mean(corrs)),
        "jaw_corr_median": float(np.median(corrs)),
        "jaw_corr_pooled": float(np.corrcoef(np.concatenate(pooled_gen), np.concatenate(pooled_gt))[0, 1]),
        "av_lag_median_frames": float(np.median(lags_arr)),
        "av_lag_within_1_frame": float(np.mean(np.abs(lags_arr) <= 1)),
        "blinks_per_min": {"generated": weighted(gen_blinks), "corpus": weighted(gt_blinks)},
        "pose": {
            k: {
                "generated": float(np.mean([s[k] for s in gen_stats])),
                "corpus": float(np.mean([s[k] for s in gt_stats])),
            }
            for k in gen_stats[0]
        },
    }


def streaming_sync(
    gen: MotionGenerator, corpus: Path, rows: list[dict], seed: int, min_window: int = 8, chunk_s: float = 0.04
) -> dict:
    """jawOpen r of the streaming path (40 ms audio chunks, running feature statistics) vs offline,
    over whole clips and after the first second, on the same utterances."""
    from candor.generator.audio import iter_chunks
    from candor.generator.controls import SAMPLE_RATE

    out: dict[str, list[float]] = {"offline": [], "stream": [], "offline_after_1s": [], "stream_after_1s": []}
    for i, row in enumerate(rows):
        with np.load(corpus / row["file"]) as z:
            audio = z["audio"].astype(np.float32) / 32768.0
            mouth = z["mouth_open"].astype(np.float32)
        if len(audio) < 3 * SAMPLE_RATE:
            continue
        controls = Controls(**{name: row[name] for name in CONTROL_NAMES})
        offline = gen.generate(audio, controls, seed=seed + i).values[:, M.index("jawOpen")]
        stream = np.array(
            [
                f[M.index("jawOpen")]
                for f in gen.stream(
                    iter_chunks(audio, chunk_s), controls=controls, seed=seed + i, min_window=min_window
                )
            ]
        )
        n = min(len(offline), len(stream), len(mouth))
        skip = int(gen.fps)
        for name, jaw in (("offline", offline), ("stream", stream)):
            out[name].append(float(np.corrcoef(jaw[:n], mouth[:n])[0, 1]))
            out[f"{name}_after_1s"].append(float(np.corrcoef(jaw[skip:n], mouth[skip:n])[0, 1]))
    return {k: float(np.mean(v)) for k, v in out.items()} | {"clips": len(out["offline"])}


EMOTION_FIELDS = {
    "happy": ("mouthSmileLeft", "mouthSmileRight"),
    "sad": ("mouthFrownLeft", "mouthFrownRight", "browInnerUp"),
    "angry": ("browDownLeft", "browDownRight", "mouthPress"),
    "surprised": ("eyeWideLeft", "eyeWideRight", "browOuterUpLeft", "browOuterUpRight"),
}


def control_effect(gen: MotionGenerator, audio: np.ndarray, seed: int) -> dict:
    feats = gen.features(audio)

    def run(c: Controls) -> np.ndarray:
        return gen.generate(feats, c, seed=seed).values

    out: dict = {"gaze_yaw": [], "gaze_pitch": [], "distance": [], "emotion": {}}
    for yaw in (-20, -10, 0, 10, 20):
        out["gaze_yaw"].append((yaw, float(run(Controls(gaze_yaw=yaw))[:, M.index("gazeYaw")].mean())))
    for pitch in (-15, 0, 15):
        out["gaze_pitch"].append((pitch, float(run(Controls(gaze_pitch=pitch))[:, M.index("gazePitch")].mean())))
    for d in (0.6, 0.8, 1.0, 1.25, 1.6):
        out["distance"].append((d, 1 / d, float(run(Controls(distance=d))[:, M.index("scale")].mean())))
    neutral = run(Controls())
    for emotion in EMOTIONS[1:]:
        fields = [M.index(f) for f in EMOTION_FIELDS[emotion]]
        row = {}
        for intensity in (0.5, 1.0):
            m = run(Controls(emotion=emotion, intensity=intensity))
            row[intensity] = float(m[:, fields].mean() - neutral[:, fields].mean())
        out["emotion"][emotion] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--max-utts", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures as JSON.")
    parser.add_argument("--stream-window", type=int, default=8, help="Frames per streaming window (latency).")
    args = parser.parse_args()
    torch.set_num_threads(1)

    corpus = args.corpus
    if corpus is None:
        from candor.training.corpus.build import build_corpus

        corpus = Path("out/bench-corpus")
        print(f"no --corpus: synthesizing a small corpus in {corpus} (seed 2) ...", flush=True)
        build_corpus(corpus, 0.25, seed=2, workers=1)
    gen = MotionGenerator.from_checkpoint(args.checkpoint)
    rows = held_out(corpus, args.max_utts)
    t0 = time.time()
    sync = lip_sync(gen, corpus, rows, args.seed)
    with np.load(corpus / rows[0]["file"]) as z:
        control_audio = z["audio"].astype(np.float32) / 32768.0
    controls = control_effect(gen, control_audio, args.seed)
    streaming = streaming_sync(gen, corpus, rows, args.seed, min_window=args.stream_window)
    seconds = time.time() - t0

    print(f"\nMotion quality on {sync['utterances']} held-out utterances ({len(sync['voices'])} held-out voices)")
    print(
        f"  jawOpen vs ground-truth mouth opening: r = {sync['jaw_corr_mean']:.3f} mean per utterance, "
        f"{sync['jaw_corr_median']:.3f} median, {sync['jaw_corr_pooled']:.3f} pooled   (goal >= 0.8)"
    )
    print(
        f"  audio-visual offset at peak cross-correlation: median {sync['av_lag_median_frames']:+.1f} frames, "
        f"{100 * sync['av_lag_within_1_frame']:.0f}% of utterances within +-1 frame   (goal |lag| <= 1)"
    )
    b = sync["blinks_per_min"]
    print(f"  blinks per minute: generated {b['generated']:.1f}, corpus {b['corpus']:.1f}")
    print("  head pose (mean over yaw/pitch/roll)      generated    corpus")
    for k, v in sync["pose"].items():
        print(f"    {k:36s} {v['generated']:9.3f} {v['corpus']:9.3f}")
    print(
        f"  streaming ({args.stream_window}-frame windows, 40 ms chunks) vs offline, "
        f"{streaming['clips']} clips of >= 3 s: "
        f"r {streaming['stream']:.3f} vs {streaming['offline']:.3f} over whole clips, "
        f"{streaming['stream_after_1s']:.3f} vs {streaming['offline_after_1s']:.3f} after the first second"
    )
    print("\nControl effectiveness (requested -> produced, one held-out utterance)")
    print("  gaze yaw (deg):   " + ", ".join(f"{r:+d} -> {p:+.1f}" for r, p in controls["gaze_yaw"]))
    print("  gaze pitch (deg): " + ", ".join(f"{r:+d} -> {p:+.1f}" for r, p in controls["gaze_pitch"]))
    print(
        "  distance -> scale (expected 1/d): "
        + ", ".join(f"{d:g} -> {s:.2f} ({e:.2f})" for d, e, s in controls["distance"])
    )
    for emotion, row in controls["emotion"].items():
        fields = "+".join(EMOTION_FIELDS[emotion])
        print(
            f"  {emotion:9s} mean {fields} vs neutral: "
            + ", ".join(f"intensity {i:g}: {v:+.3f}" for i, v in row.items())
        )
    print(f"\n({seconds:.0f} s on a shared 2-core CPU; checkpoint step {gen.loaded.step})")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"lip_sync": sync, "streaming": streaming, "controls": controls}, indent=2))


if __name__ == "__main__":
    main()
