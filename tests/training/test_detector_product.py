"""`candor detector dataset --product` and a training epoch on it from a fresh clone: one portrait per
split, rendered by the audio-driven pipeline, filmed as stills, the held-out clip in every channel
variant; the splits share no portrait and no voice; the held-out evaluation names every real clip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from candor.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def product_dataset(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("product-dataset")
    result = runner.invoke(
        app, ["detector", "dataset", "--product", "--out", str(out), "--limit", "1", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_splits_share_no_portrait_voice_or_seed(product_dataset):
    from candor.training.detector_product import PRODUCT_VARIANTS, VOICES

    index = json.loads((product_dataset / "index.json").read_text())
    voices = {split: {f"{e}:{v}" for e, v, _ in VOICES[split]} for split in VOICES}
    assert not (voices["train"] & voices["test"]) and not (voices["val"] & voices["test"])
    seen = {key: {"train": set(), "val": set(), "test": set()} for key in ("portrait", "seed")}
    clips = [(summary["split"], clip) for summary in index["summaries"] for clip in summary["clips"]]
    clips += [(live["split"], live) for live in index["live_clips"] if "skipped" not in live]  # live path
    assert {split for split, _ in clips} == {"train", "val", "test"}
    for split, clip in clips:
        assert clip["voice"] in voices[split], clip
        for key, by_split in seen.items():
            by_split[split].add(clip[key])
    for by_split in seen.values():
        assert not (by_split["train"] & by_split["test"]) and not (by_split["val"] & by_split["test"])
        assert not (by_split["train"] & by_split["val"])
    assert {s["split"] for s in index["summaries"]} == {"train", "val", "test"}
    assert {live["split"] for live in index["live_clips"]} == {"train", "val"}
    assert list((product_dataset / "train" / "fake").glob("*_live0.npz"))
    for label in ("fake", "real"):
        assert list((product_dataset / "train" / label).glob("*.npz")), label
        for variant in PRODUCT_VARIANTS:
            assert list((product_dataset / "test" / label).glob(f"*__{variant}.*")), (label, variant)


def test_one_epoch_trains_and_the_product_evaluation_names_real_clips(product_dataset, tmp_path):
    from candor.detector.model import load_classifier
    from candor.training.detector_eval import evaluate_product

    checkpoint = tmp_path / "detector.pt"
    result = runner.invoke(
        app, ["detector", "train", "--data", str(product_dataset), "--out", str(checkpoint), "--epochs", "1",
              "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    classifier = load_classifier(checkpoint)
    results = evaluate_product(product_dataset, classifier)
    assert set(results["variants"]) == {"released", "crf28", "resize384", "crop10", "cut3s", "vp9"}
    real = [r for r in results["videos"] if r["label"] == 0]
    flagged = {f"{r['clip']}__{r['variant']}" for r in real if r["flagged"]}
    assert set(results["real_false_positives"]) == flagged
    assert results["real_videos"] == sum(1 for r in real if not np.isnan(r["logit"]))


def test_held_out_generator_versions_are_scored_per_version(product_dataset, tmp_path):
    """`--held-out-generator live` adds the live path's clips of the first test portrait in every variant;
    the evaluation scores them against the same real clips and reports them apart from the packaged ones."""
    from candor.detector.model import load_classifier
    from candor.training.detector_eval import evaluate_product
    from candor.training.detector_product import PRODUCT_VARIANTS

    result = runner.invoke(
        app, ["detector", "dataset", "--product", "--out", str(product_dataset), "--held-out-generator", "live",
              "--limit", "1", "--workers", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    live = sorted((product_dataset / "test" / "fake").glob("*--live_0__*"))
    assert {p.stem.split("__")[1] for p in live} == set(PRODUCT_VARIANTS)
    results = evaluate_product(product_dataset, load_classifier())
    assert set(results["generators"]) == {"packaged", "live"}
    assert set(results["generators"]["live"]) == set(PRODUCT_VARIANTS)
    assert all(row["fake_videos"] == 1 for row in results["generators"]["live"].values())
    assert set(results["baseline_auc"]) == set(PRODUCT_VARIANTS)


def test_a_held_out_generator_needs_a_checkpoint_that_exists(tmp_path):
    result = runner.invoke(
        app, ["detector", "dataset", "--product", "--out", str(tmp_path), "--held-out-generator",
              f"old={tmp_path / 'missing.pt'}"],
    )  # fmt: skip
    assert result.exit_code == 2 and "existing motion checkpoint" in result.output


def test_a_checkpoint_trained_on_fewer_cues_still_scores(astronaut_features):
    """Checkpoints name their cues; one made before cues were added reads only its own columns."""
    from candor.detector.features import TEMPORAL_NAMES
    from candor.detector.model import (
        Calibration,
        Classifier,
        DetectorConfig,
        SyntheticFaceClassifier,
        load_classifier,
        save_checkpoint,
    )  # fmt: skip

    old = TEMPORAL_NAMES[:17]
    cfg = DetectorConfig(temporal_dim=len(old))
    zeros, ones = np.zeros(len(old), np.float32), np.ones(len(old), np.float32)
    model = SyntheticFaceClassifier(cfg).eval()
    classifier = Classifier(model, cfg, zeros, ones, Calibration(), 4.0, temporal_names=old)
    path = save_checkpoint(astronaut_features["tmp"] / "old.pt", classifier, step=0)
    loaded = load_classifier(path)
    assert loaded.temporal_names == old and loaded.columns == list(range(17))
    logits, ablated = loaded.explain(astronaut_features["features"])
    assert logits.shape == (astronaut_features["features"].n,)
    assert "grain carried by the face" not in ablated and "expression motion" in ablated


@pytest.fixture(scope="module")
def astronaut_features(tmp_path_factory: pytest.TempPathFactory):
    from skimage.data import astronaut

    from candor.detector.features import extract_frames
    from candor.generator.face import analyze_image

    still = analyze_image(astronaut()).image
    return {"features": extract_frames([still] * 25, fps=25), "tmp": tmp_path_factory.mktemp("old-checkpoint")}


def test_features_made_before_adaptive_sampling_are_kept_only_where_it_would_not_have_run(product_dataset, tmp_path):
    """featurise redoes a clip's .npz when adaptive sampling could change it: an .npz from before it
    (no sampling stamp) stays when it has 8 or more samples, all on the first pass's frames; one with
    fewer samples, or with a sample off those frames, is made again and stamped."""
    import shutil

    from candor.detector.sampling import SAMPLING
    from candor.training.detector_dataset import save_features
    from candor.training.detector_product import _features_current, featurise

    video = next(
        p for p in sorted((product_dataset / "train" / "fake").glob("*.mp4")) if p.with_suffix(".npz").is_file()
    )
    data = tmp_path / "train" / "fake"
    data.mkdir(parents=True)
    clip = Path(shutil.copy(video, data / video.name))
    with np.load(video.with_suffix(".npz")) as npz:
        crops, temporal, times = npz["crops"], npz["temporal"], npz["times"]
    assert len(times) >= 8

    def old_npz(keep: np.ndarray, shift: float = 0.0) -> None:
        old = type("Old", (), {"crops": crops[keep], "temporal": temporal[keep], "times": times[keep] + shift})
        save_features(old, clip.with_suffix(".npz"), label=1, identity="x", meta={"video": clip.name, "cues": _cues()})

    old_npz(np.arange(len(times)))
    assert _features_current(clip, 4.0) and featurise(tmp_path, splits=("train",)) == 0
    old_npz(np.arange(7))  # under the floor: adaptive sampling would have looked again
    assert not _features_current(clip, 4.0)
    old_npz(np.arange(len(times)), shift=1 / 25)  # a frame the first pass never samples
    assert not _features_current(clip, 4.0)
    assert featurise(tmp_path, splits=("train",)) == 1
    with np.load(clip.with_suffix(".npz")) as npz:
        assert json.loads(str(npz["meta"]))["sampling"] == SAMPLING and len(npz["times"]) == len(times)
    assert _features_current(clip, 4.0)


def _cues() -> list[str]:
    from candor.detector.features import TEMPORAL_NAMES

    return list(TEMPORAL_NAMES)


def test_the_epoch_rule_counts_synthetic_clips_over_all_real_clips_but_the_top_one_percent():
    """--select-on-tpr scores an epoch by what a threshold set at 1 % false positives would catch:
    with 200 real clips, the 2 highest may sit over the threshold, not the 3rd."""
    from candor.training.detector_trainer import tpr_at_max_fpr

    real = np.linspace(-5.0, 0.0, 200)  # the highest three: 0.0, -0.025, -0.050
    fake = np.array([-0.06, -0.04, 0.5, 1.0])
    labels = np.r_[np.zeros(200), np.ones(4)].astype(int)
    logits = np.r_[real, fake]
    assert tpr_at_max_fpr(labels, logits, 0.01) == 0.75  # over the 3rd-highest real clip: not -0.06
    assert tpr_at_max_fpr(labels, logits, 0.0) == 0.5  # over every real clip: 0.5 and 1.0 only
