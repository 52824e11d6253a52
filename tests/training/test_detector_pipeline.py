"""`candor detector dataset` and `candor detector train` from a fresh clone: a tiny dataset (one
identity per split, 1 s clips) is built through the CLI and one epoch trains on it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from candor.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("detector-dataset")
    result = runner.invoke(
        app,
        ["detector", "dataset", "--out", str(out), "--limit", "1", "--seconds", "1.0", "--lfw-faces", "8",
         "--workers", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_dataset_builds_every_split_and_every_scripted_test_variant(tiny_dataset):
    from candor.training.detector_dataset import SCRIPTED_VARIANT_CRF

    index = json.loads((tiny_dataset / "index.json").read_text())
    assert {v["split"] for v in index["identities"].values()} == {"train", "val", "test"}
    for label in ("real", "fake"):
        assert list((tiny_dataset / "train" / label).glob("*.npz")), label
        for variant in SCRIPTED_VARIANT_CRF:
            assert list((tiny_dataset / "test" / label).glob(f"*_{variant}.mp4")), (label, variant)


def test_one_epoch_trains_a_loadable_checkpoint(tiny_dataset, tmp_path):
    from candor.detector.model import load_classifier

    checkpoint = tmp_path / "detector.pt"
    result = runner.invoke(
        app, ["detector", "train", "--data", str(tiny_dataset), "--out", str(checkpoint), "--epochs", "1",
              "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    classifier = load_classifier(checkpoint)
    assert 0.0 < classifier.calibration.threshold <= 1.0
