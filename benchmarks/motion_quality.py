"""Motion quality of the audio-driven model on held-out voices (the corpus's ``val`` split).

Prints, for generated motion next to the corpus's own labels on the same utterances:
- lip sync: Pearson correlation of generated jawOpen with the ground-truth viseme mouth-opening
  curve (goal >= 0.8), and the audio-visual offset at peak cross-correlation (goal |lag| <= 1 frame);
  the same correlation through the streaming path, next to offline;
- liveliness: blink rate, head-pose range and mean per-frame change (VASA-1's delta-P), jitter;
- control effectiveness: requested vs produced gaze, distance (scale) and emotion expression.

The r above grades against the corpus's stored labels, i.e. the label rules the corpus was built
with (``visemes.DEFAULT_RULES`` at build time). A model trained on other rules is then graded
against rules it never saw, so ``by_rules`` also prints r against the labels each rule set in
``visemes.RULES`` makes from the stored phonemes (same speaker style), and r of the generated lip
aperture against the rule-independent phonetic table (``openness.opening_truth``) on the
utterances whose engine reports ARPAbet (flite, festival): the figure that favours no rule set.

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


def rule_labels(row: dict, phonemes: list, frames: int, rules) -> np.ndarray:
    """(frames,) the jawOpen label (``mouth_open``) that ``rules`` make from the stored phonemes."""
    from candor.training.corpus.labels import frame_times
    from candor.training.corpus.nonverbal import Style
    from candor.training.corpus.visemes import CHANNELS, alphabet_of, mouth_curves

    times = frame_times(row["duration_s"])[:frames]
    if len(times) < frames:
        times = (np.arange(frames) + 0.5) / row.get("fps", 25)
    jaw = mouth_curves(phonemes, times, alphabet_of(row["engine"]), rules)[:, CHANNELS.index("jawOpen")]
    return np.clip(jaw * Style.for_speaker(row["voice"]).articulation, 0, 1)


def by_rules(gen: MotionGenerator, corpus: Path, rows: list[dict], seed: int) -> dict:
    """Generated jawOpen r against the labels of every rule set in ``visemes.RULES`` (mean over
    utterances), and generated lip aperture r against the phonetic table where the engine reports
    ARPAbet; the stored labels' r against each too (a check that the stored rules are recognised)."""
    from candor.training.corpus.openness import opening_truth
    from candor.training.corpus.visemes import RULES, alphabet_of, lip_aperture

    out: dict[str, list[float]] = {f"vs_{name}": [] for name in RULES}
    out |= {f"stored_vs_{name}": [] for name in RULES}
    truth_r: list[float] = []
    for i, row in enumerate(rows):
        with np.load(corpus / row["file"]) as z:
            audio = z["audio"].astype(np.float32) / 32768.0
            stored = z["mouth_open"].astype(np.float32)
            phonemes = [tuple(p) for p in json.loads(str(z["phonemes"]))]
            controls = Controls(**{name: row[name] for name in CONTROL_NAMES})
        out_m = gen.generate(audio, controls, seed=seed + i).values
        n = min(len(out_m), len(stored))
        jaw = out_m[:n, M.index("jawOpen")]
        for name, rules in RULES.items():
            label = rule_labels(row, phonemes, n, rules)
            out[f"vs_{name}"].append(float(np.corrcoef(jaw, label)[0, 1]))
            out[f"stored_vs_{name}"].append(float(np.corrcoef(stored[:n], label)[0, 1]))
        if alphabet_of(row["engine"]) == "arpa":
            truth = opening_truth(phonemes, (np.arange(n) + 0.5) / gen.fps)
            if truth.std() > 0:
                truth_r.append(float(np.corrcoef(lip_aperture(out_m[:n]), truth)[0, 1]))
    res = {k: float(np.nanmean(v)) for k, v in out.items()}
    return res | {"aperture_vs_table": float(np.mean(truth_r)) if truth_r else None, "table_utts": len(truth_r)}


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
    parser.add_argument(
        "--no-blink-floor", action="store_true", help="the model's own blinks only (no generator.blink_floor)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    corpus = args.corpus
    if corpus is None:
        from candor.training.corpus.build import build_corpus

        corpus = Path("out/bench-corpus")
        print(f"no --corpus: synthesizing a small corpus in {corpus} (seed 2) ...", flush=True)
        build_corpus(corpus, 0.25, seed=2, workers=1)
    gen = MotionGenerator.from_checkpoint(args.checkpoint)
    gen.blink_floor = not args.no_blink_floor
    rows = held_out(corpus, args.max_utts)
    t0 = time.time()
    sync = lip_sync(gen, corpus, rows, args.seed)
    with np.load(corpus / rows[0]["file"]) as z:
        control_audio = z["audio"].astype(np.float32) / 32768.0
    controls = control_effect(gen, control_audio, args.seed)
    streaming = streaming_sync(gen, corpus, rows, args.seed, min_window=args.stream_window)
    rules = by_rules(gen, corpus, rows, args.seed)
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
    names = [k[3:] for k in rules if k.startswith("vs_")]
    print(
        "  jawOpen r vs the labels of each rule set (mean): "
        + ", ".join(f"{n} {rules['vs_' + n]:.3f}" for n in names)
        + "  (stored labels vs each: "
        + ", ".join(f"{n} {rules['stored_vs_' + n]:.3f}" for n in names)
        + ")"
    )
    if rules["aperture_vs_table"] is not None:
        print(
            f"  lip aperture r vs the phonetic table (rule-independent; {rules['table_utts']} ARPAbet-engine "
            f"utterances): {rules['aperture_vs_table']:.3f}"
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
    print(f"\n({seconds:.0f} s on a shared 2-core CPU; checkpoint step {gen.loaded.step}; "
          f"blink floor {'on' if gen.blink_floor else 'off'})")  # fmt: skip
    if args.json:
        args.json.write_text(
            json.dumps({"lip_sync": sync, "by_rules": rules, "streaming": streaming, "controls": controls}, indent=2)
        )


if __name__ == "__main__":
    main()
