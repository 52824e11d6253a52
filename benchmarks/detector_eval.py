"""Detector evaluation on held-out identities and motion seeds (the dataset's test/ videos).

Prints, per variant (``wm_crf18`` as released, ``wm_crf28``, ``wm_crf35``, ``wm_resized`` to 320 px,
``nowm_crf23`` never watermarked): video-level ROC AUC and TPR at 1 % FPR of the classifier alone,
the fractions of synthetic and real clips flagged at the shipped threshold, the watermark recovery
rate, and synthetic clips caught by either the watermark or the classifier; then the false-positive
rate on all held-out real clips.

Build the data first (``candor detector dataset``). Usage:
``python benchmarks/detector_eval.py [--data data/detector] [--checkpoint PATH] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import time

from candor.detector.model import load_classifier
from candor.training.detector_eval import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/detector")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--json", default=None, help="also write the full results (every video) here")
    args = parser.parse_args()

    classifier = load_classifier(args.checkpoint)
    started = time.perf_counter()
    results = evaluate(args.data, classifier)
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
