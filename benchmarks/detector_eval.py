"""Detector evaluation on held-out identities and motion seeds (the dataset's test/ videos).

Prints, per variant (``wm_crf18`` as released, ``wm_crf28``, ``wm_crf35``, ``wm_resized`` to 320 px,
``nowm_crf23`` never watermarked): video-level ROC AUC and TPR at 1 % FPR of the classifier alone,
the fractions of synthetic and real clips flagged at the shipped threshold, the watermark recovery
rate, and synthetic clips caught by either the watermark or the classifier; then the false-positive
rate on all held-out real clips.

With ``--product`` it scans the held-out product set instead (``candor detector dataset --product``:
the audio-driven pipeline at 512x512 without watermark, on portraits, voices and seeds never in
training, against filmed stills and the real videos that ship here) and prints, per channel variant,
the AUC, the share of synthetic clips flagged at the shipped threshold (as ``candor detect`` rules:
the video mean or a decisive segment), and every real clip flagged, by name.

Build the data first (``candor detector dataset``). Usage:
``python benchmarks/detector_eval.py [--data data/detector] [--checkpoint PATH] [--json out.json]``
``python benchmarks/detector_eval.py --product [--data data/product] [--checkpoint PATH]``
"""

from __future__ import annotations

import argparse
import json
import time

from candor.detector.model import load_classifier
from candor.training.detector_eval import evaluate, evaluate_product, warm_feature_cache


def print_product(results: dict) -> None:
    head = f"{'variant':10s} {'fake':>4s} {'real':>4s} {'AUC':>7s} {'flagged fake':>12s} {'(mean only)':>11s}"
    print(head + "  real flagged")
    for name, row in results["variants"].items():
        print(
            f"{name:10s} {row['fake_videos']:4d} {row['real_videos']:4d} {row['auc']:7.4f} "
            f"{row['fake_flagged']:12.3f} {row['fake_flagged_mean_only']:11.3f}  "
            f"{', '.join(row['real_flagged']) or '-'}"
            + (f"  (no face: {', '.join(row['no_face'])})" if row["no_face"] else "")
        )
    print(
        f"synthetic flagged over all variants: {results['fake_flagged_all']:.3f}; false positives on real clips: "
        f"{len(results['real_false_positives'])} of {results['real_videos']} "
        f"({results['real_false_positive_rate']:.4f}): {', '.join(results['real_false_positives']) or 'none'}"
    )
    print("per generator version (its synthetic clips against every real clip of the variant): AUC / flagged")
    for gen, by_variant in results["generators"].items():
        cells = "  ".join(f"{v} {row['auc']:.4f}/{row['fake_flagged']:.3f}" for v, row in by_variant.items())
        n = max(row["fake_videos"] for row in by_variant.values())
        print(f"  {gen:10s} ({n:2d} clips)  {cells}")
    print(
        "trivial baseline, one cue (log face/background pixel change, video mean), AUC: "
        + ", ".join(f"{v} {auc:.4f}" for v, auc in results["baseline_auc"].items())
    )
    print("which cues carry the score (mean logit share; appearance: the crop alone against the boundary):")
    for label, shares in results["cue_shares"].items():
        print(f"  {label}: " + ", ".join(f"{cue} {v:+.2f}" for cue, v in sorted(shares.items(), key=lambda kv: -kv[1])))


def print_validation(data: str, classifier) -> None:
    """The validation split's clips (what chooses the epoch and the threshold), scored by this
    checkpoint: AUC, the share of synthetic clips over all real clips but the highest 1 % (what a
    threshold refitted there would catch), and TPR / FPR at the checkpoint's own threshold."""
    from pathlib import Path

    from candor.training.detector_trainer import clip_logits, load_split, roc_auc, tpr_at_max_fpr

    if not list(Path(data, "val").glob("*/*.npz")):
        return
    val = load_split(data, "val")
    logits = clip_logits(classifier, val)
    flagged = classifier.calibration.probability(logits) >= classifier.calibration.threshold
    fake, real = val.labels == 1, val.labels == 0
    print(
        f"validation ({int(fake.sum())} synthetic, {int(real.sum())} real clips): "
        f"AUC {roc_auc(val.labels, logits):.4f}, "
        f"caught at the 1 % false-positive rank {tpr_at_max_fpr(val.labels, logits, 0.01):.3f}; "
        f"at this threshold TPR {flagged[fake].mean():.3f} / FPR {flagged[real].mean():.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="default: data/detector, or data/product with --product")
    parser.add_argument("--product", action="store_true", help="the held-out product set (see the docstring)")
    parser.add_argument(
        "--checkpoint", action="append", default=None, help="repeat to compare checkpoints on the same clips"
    )
    parser.add_argument("--json", default=None, help="also write the full results (every video) here")
    parser.add_argument(
        "--workers", type=int, default=1, help="with --product: featurise uncached test videos in N processes first"
    )
    args = parser.parse_args()

    checkpoints = args.checkpoint or [None]
    if args.product:
        if args.workers > 1:
            started = time.perf_counter()
            n = warm_feature_cache(args.data or "data/product", load_classifier(checkpoints[0]).sample_fps,
                                   workers=args.workers)  # fmt: skip
            print(f"features of {n} test videos ready in {time.perf_counter() - started:.0f} s")
        everything = []
        for checkpoint in checkpoints:
            classifier = load_classifier(checkpoint)
            started = time.perf_counter()
            results = evaluate_product(args.data or "data/product", classifier)
            seconds = time.perf_counter() - started
            print(f"\ncheckpoint {classifier.path}; threshold {results['threshold']:.3f}; {seconds:.0f} s")
            print_product(results)
            print_validation(args.data or "data/product", classifier)
            everything.append(results)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(everything if len(everything) > 1 else everything[0], fh, indent=1)
        return
    classifier = load_classifier(checkpoints[0])
    started = time.perf_counter()
    results = evaluate(args.data or "data/detector", classifier)
    print(f"checkpoint {classifier.path}; threshold {results['threshold']:.3f}; {time.perf_counter() - started:.0f} s")
    header = f"{'variant':12s} {'fake':>4s} {'real':>4s} {'AUC':>7s} {'TPR@1%':>7s} {'flag fake':>9s} "
    print(header + f"{'flag real':>9s} {'wm found':>8s} {'wm|clf':>7s}")
    for name, row in results["variants"].items():
        print(
            f"{name:12s} {row['fake_videos']:4d} {row['real_videos']:4d} {row['auc']:7.4f} "
            f"{row['tpr_at_1pct_fpr']:7.3f} {row['fake_flagged']:9.3f} {row['real_flagged']:9.3f} "
            f"{row['watermark_found']:8.3f} {row['fake_detected_any']:7.3f}"
        )
    print(
        f"false-positive rate on held-out real clips: {results['real_false_positive_rate']:.4f} "
        f"({results['real_videos']} clips, all variants)"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
