"""Evaluation on the held-out test videos (identities and motion seeds never seen in training).

For each variant (``wm_crf18`` as released, ``wm_crf28``, ``wm_crf35``, ``wm_resized`` to 320 px,
``nowm_crf23`` never watermarked, ``audio_crf23`` the audio-driven pipeline, evaluation only) the
synthetic and real test clips are scanned exactly as uploads are
(:func:`candor.detector.features.extract_video`), and the watermark is decoded with the test videos'
own key; the audio-driven clips are scored against the ``nowm_crf23`` real clips (same encode).
Reported per variant: video-level ROC AUC of the classifier alone, its TPR at 1 %
FPR, the fractions flagged at the shipped threshold, and the watermark recovery rate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from candor.detector.features import TEMPORAL_NAMES, extract_video
from candor.errors import InvalidInput
from candor.training.detector_dataset import EVAL_WATERMARK_SECRET, TEST_VARIANTS, VIDEO_SUFFIXES


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float = 0.01) -> float:
    """The highest true-positive rate whose false-positive rate is at most ``max_fpr``."""
    from sklearn.metrics import roc_curve

    if len(set(labels.tolist())) < 2:
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(tpr[fpr <= max_fpr].max())


def _variant(path: Path) -> str:
    for name in TEST_VARIANTS:
        if path.stem.endswith(name):
            return name
    return "external"


def evaluate(
    data_dir: str | Path,
    classifier,  # candor.detector.model.Classifier
    *,
    watermark: bool = True,
    on_video: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Scan ``data_dir/test/{real,fake}/*`` and summarise per variant (see the module docstring)."""
    from candor.provenance.watermark import WatermarkKey, detect_video
    from candor.training.detector_trainer import roc_auc

    key = WatermarkKey.from_bytes(EVAL_WATERMARK_SECRET)
    rows = []
    for label_name, label in (("real", 0), ("fake", 1)):
        folder = Path(data_dir, "test", label_name)
        for path in sorted(p for p in folder.glob("*") if p.suffix.lower() in VIDEO_SUFFIXES):
            features = extract_video(path, sample_fps=classifier.sample_fps)
            if features.n == 0:
                prob, logit = float("nan"), float("nan")
            else:
                logits = classifier.sample_logits(features)
                logit, prob = float(logits.mean()), classifier.video_probability(logits)
            found = bool(detect_video(path, key).found) if watermark else False
            rows.append(
                {
                    "path": str(path),
                    "label": label,
                    "variant": _variant(path),
                    "logit": logit,
                    "prob": prob,
                    "watermark": found,
                }
            )
            if on_video:
                on_video(str(path))
    if not rows:
        raise InvalidInput(f"no test videos under {data_dir}/test (build them with `candor detector dataset`)")
    threshold = classifier.calibration.threshold
    out: dict[str, Any] = {
        "threshold": threshold, "checkpoint": classifier.path, "variants": {}, "baseline_auc": {}, "videos": rows
    }  # fmt: skip
    for variant in sorted({r["variant"] for r in rows}, key=lambda v: (*TEST_VARIANTS, "external").index(v)):
        sel = [r for r in rows if r["variant"] == variant and not np.isnan(r["logit"])]
        if not any(r["label"] == 0 for r in sel):  # audio-driven clips: compare with the same encode's reals
            sel += [r for r in rows if r["variant"] == "nowm_crf23" and r["label"] == 0 and not np.isnan(r["logit"])]
        labels = np.array([r["label"] for r in sel])
        scores = np.array([r["logit"] for r in sel])
        probs = np.array([r["prob"] for r in sel])
        fake, real = labels == 1, labels == 0
        wm = np.array([r["watermark"] for r in sel])
        out["variants"][variant] = {
            "fake_videos": int(fake.sum()),
            "real_videos": int(real.sum()),
            "no_face": sum(1 for r in rows if r["variant"] == variant and np.isnan(r["logit"])),
            "auc": roc_auc(labels, scores),
            "tpr_at_1pct_fpr": tpr_at_fpr(labels, scores),
            "fake_flagged": float((probs[fake] >= threshold).mean()) if fake.any() else float("nan"),
            "real_flagged": float((probs[real] >= threshold).mean()) if real.any() else float("nan"),
            "watermark_found": float(wm[fake].mean()) if fake.any() else float("nan"),
            "watermark_false_positives": int(wm[real].sum()),
            "fake_detected_any": float(((probs >= threshold) | wm)[fake].mean()) if fake.any() else float("nan"),
        }
    real_all = [r for r in rows if r["label"] == 0 and not np.isnan(r["prob"])]
    out["real_false_positive_rate"] = (
        float(np.mean([r["prob"] >= threshold for r in real_all])) if real_all else float("nan")
    )
    out["real_videos"] = len(real_all)
    return out


# --- the held-out product set (``candor detector dataset --product``) ------------------------------


def cached_features(video: Path, sample_fps: float):
    """:func:`extract_video` of ``video``, cached beside it (``<video>.features.npz``) and recomputed
    when the cues or the sampling rate change. Returns a ClipFeatures (no thumbnails or boxes)."""
    import json

    from candor.detector.features import TEMPORAL_NAMES, ClipFeatures
    from candor.detector.sampling import SAMPLING
    from candor.files import atomic_output

    cache = video.with_name(video.name + ".features.npz")
    stamp = json.dumps({"cues": list(TEMPORAL_NAMES), "sample_fps": sample_fps, "sampling": SAMPLING})
    if cache.is_file():
        with np.load(cache) as data:
            if str(data["stamp"]) == stamp:
                return ClipFeatures(
                    data["crops"], data["temporal"], data["times"], np.zeros((0, 4)), np.zeros(0),
                    int(data["frames"]), float(data["fps"]), 0, 0,
                )  # fmt: skip
    f = extract_video(video, sample_fps=sample_fps)
    with atomic_output(cache) as tmp:
        np.savez_compressed(
            tmp, crops=f.crops, temporal=f.temporal, times=f.times, frames=f.frames_decoded, fps=f.fps, stamp=stamp
        )
    return f


def warm_feature_cache(data_dir: str | Path, sample_fps: float, *, workers: int = 1) -> int:
    """Compute :func:`cached_features` of every test video of a product dataset in ``workers``
    processes (the evaluation then reads the caches); returns how many videos."""
    from concurrent.futures import ProcessPoolExecutor

    videos = [
        p for label in ("real", "fake") for p in sorted(Path(data_dir, "test", label).glob("*"))
        if p.suffix.lower() in VIDEO_SUFFIXES
    ]  # fmt: skip
    if workers <= 1:
        for video in videos:
            cached_features(video, sample_fps)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(cached_features, videos, [sample_fps] * len(videos), chunksize=4))
    return len(videos)


def product_clip_name(path: Path) -> tuple[str, str]:
    """``<portrait>_<k>__<variant>.<ext>`` -> (``<portrait>_<k>``, variant)."""
    stem, _, variant = path.stem.partition("__")
    return stem, variant or "released"


_BASELINE = TEMPORAL_NAMES.index("log_ratio_face_background")


def evaluate_product(
    data_dir: str | Path, classifier, *, on_video: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Scan ``data_dir/test/{real,fake}/*`` of a product dataset; per channel variant: ROC AUC of the
    video score, the share of synthetic clips flagged at the shipped threshold (video mean, or a
    decisive segment as ``candor detect`` rules), the real clips flagged (named) and their rate."""
    from candor.detector.timeline import (
        MIN_FACE_SAMPLES,
        cue_shares,
        decisive_segments,
        per_second_timeline,
        segments_over_threshold,
    )
    from candor.training.detector_generators import generator_of
    from candor.training.detector_trainer import roc_auc

    threshold = classifier.calibration.threshold
    rows = []
    for label_name, label in (("real", 0), ("fake", 1)):
        folder = Path(data_dir, "test", label_name)
        for path in sorted(p for p in folder.glob("*") if p.suffix.lower() in VIDEO_SUFFIXES):
            clip, variant = product_clip_name(path)
            f = cached_features(path, classifier.sample_fps)
            row = {"clip": clip, "variant": variant, "label": label, "samples": int(f.n)}
            row["generator"] = generator_of(clip) if label == 1 else None
            # the trivial baseline: one hand-picked cue, the face's pixel change against the background's
            row["baseline"] = float(f.temporal[:, _BASELINE].mean()) if f.n else float("nan")
            if f.n == 0:
                row.update(logit=float("nan"), prob=float("nan"), flagged=False, segment_flag=False)
            else:
                logits, ablated = classifier.explain(f)
                prob = classifier.video_probability(logits)
                row["cues"] = cue_shares(logits, ablated, classifier.boundary_logit(), np.ones(f.n, bool))
                duration = f.frames_decoded / f.fps if f.fps else float(f.times[-1] + 1)
                timeline = per_second_timeline(f.times, logits, classifier, duration)
                segments = segments_over_threshold(timeline, f.times, logits, {}, classifier)
                whole = prob >= threshold and f.n >= MIN_FACE_SAMPLES  # as candor detect rules
                row.update(
                    logit=float(logits.mean()),
                    prob=prob,
                    segment_flag=bool(decisive_segments(segments, threshold)),
                    flagged=bool(whole or decisive_segments(segments, threshold)),
                )
            rows.append(row)
            if on_video:
                on_video(str(path))
    if not rows:
        raise InvalidInput(f"no test videos under {data_dir}/test (`candor detector dataset --product` makes them)")
    out: dict[str, Any] = {
        "threshold": threshold, "checkpoint": classifier.path, "variants": {}, "baseline_auc": {}, "videos": rows
    }  # fmt: skip
    variants = sorted({r["variant"] for r in rows})
    for variant in variants:
        sel = [r for r in rows if r["variant"] == variant]
        scored = [r for r in sel if not np.isnan(r["logit"])]
        labels = np.array([r["label"] for r in scored])
        fake = [r for r in sel if r["label"] == 1]
        real = [r for r in sel if r["label"] == 0]
        out["variants"][variant] = {
            "fake_videos": len(fake),
            "real_videos": len(real),
            "no_face": [r["clip"] for r in sel if np.isnan(r["logit"])],
            "auc": roc_auc(labels, np.array([r["logit"] for r in scored])),
            "fake_flagged": float(np.mean([r["flagged"] for r in fake])) if fake else float("nan"),
            "fake_flagged_mean_only": float(np.mean([r["prob"] >= threshold for r in fake])) if fake else float("nan"),
            "real_flagged": [r["clip"] for r in real if r["flagged"]],
        }
        out["baseline_auc"][variant] = roc_auc(labels, np.array([r["baseline"] for r in scored]))
    out["generators"] = _per_generator(rows)
    real_all = [r for r in rows if r["label"] == 0 and not np.isnan(r["logit"])]
    flagged_real = [f"{r['clip']}__{r['variant']}" for r in real_all if r["flagged"]]
    out["real_videos"] = len(real_all)
    out["real_false_positives"] = flagged_real
    out["real_false_positive_rate"] = len(flagged_real) / len(real_all) if real_all else float("nan")
    # which cues carry the scores: each cue's mean share (logits) over the synthetic and the real clips
    out["cue_shares"] = {
        name: {
            cue: float(np.mean([r["cues"][cue] for r in group]))
            for cue in sorted({c for r in group for c in r["cues"]})
        }
        for name, group in (
            ("fake", [r for r in rows if r["label"] == 1 and "cues" in r]),
            ("real", [r for r in rows if r["label"] == 0 and "cues" in r]),
        )
        if group
    }
    fake_all = [r for r in rows if r["label"] == 1]
    out["fake_flagged_all"] = float(np.mean([r["flagged"] for r in fake_all])) if fake_all else float("nan")
    return out


def _per_generator(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """generator version -> variant -> its synthetic clips against every real clip of that variant:
    AUC and the share flagged (the product set's own clips are ``packaged``)."""
    from candor.training.detector_trainer import roc_auc

    out: dict[str, dict[str, dict]] = {}
    for gen in sorted({r["generator"] for r in rows if r["label"] == 1}):
        out[gen] = {}
        for variant in sorted({r["variant"] for r in rows}):
            fake = [r for r in rows if r["label"] == 1 and r["generator"] == gen and r["variant"] == variant]
            real = [r for r in rows if r["label"] == 0 and r["variant"] == variant]
            scored = [r for r in fake + real if not np.isnan(r["logit"])]
            if not fake:
                continue
            out[gen][variant] = {
                "fake_videos": len(fake),
                "auc": roc_auc(np.array([r["label"] for r in scored]), np.array([r["logit"] for r in scored])),
                "fake_flagged": float(np.mean([r["flagged"] for r in fake])),
            }
    return out
