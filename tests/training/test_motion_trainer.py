"""The motion trainer: audio augmentation, loss weights, and `candor train motion` end to end."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from candor.cli import app
from candor.generator import motion as M
from candor.generator.audio import FEATURE_DIM, N_MELS, audio_features, load_audio, silence_features
from candor.generator.diffusion.model import read_checkpoint
from candor.generator.motion_generator import MotionGenerator
from candor.training.corpus.build import build_corpus
from candor.training.motion_trainer import MOUTH_FIELDS, FeatureAugment, TrainConfig, field_weights


@pytest.fixture(scope="module")
def speech_feats() -> np.ndarray:
    """(2, T, FEATURE_DIM): the demo clip's features with a stretch of silence in front."""
    feats = audio_features(load_audio("candor/generator/data/demo_speech.wav", max_seconds=None))[:60]
    feats = np.concatenate([silence_features(10), feats])
    return np.stack([feats, feats]).astype(np.float32)


def test_augment_perturbs_speech_but_keeps_silence(speech_feats):
    out = FeatureAugment(1.0)(np.random.default_rng(0), speech_feats)
    assert out.shape == speech_feats.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :10], speech_feats[:, :10])  # silence stays silence
    assert np.abs(out[:, 10:] - speech_feats[:, 10:]).mean() > 0.05
    assert not np.allclose(out[0], out[1])  # each window draws its own voice
    assert np.abs(out).max() < 10  # no blow-up
    # the same generator state gives the same perturbation; probability 0 leaves the input alone
    np.testing.assert_array_equal(out, FeatureAugment(1.0)(np.random.default_rng(0), speech_feats))
    np.testing.assert_array_equal(FeatureAugment(0.0)(np.random.default_rng(0), speech_feats), speech_feats)


def test_augment_warps_the_mel_axis_like_a_different_vocal_tract():
    # one band lit: the warp moves it to a neighbouring band and keeps the others dark
    feats = np.zeros((1, 30, FEATURE_DIM), np.float32)
    feats[0, :, 20] = 1.0
    rng = np.random.default_rng(3)
    moved = 0
    for _ in range(20):
        out = FeatureAugment(1.0)(rng, feats)[0, :, :N_MELS].mean(axis=0)
        moved += int(np.argmax(out) != 20) if out.max() > 0.3 else 0
    assert moved >= 5


def test_field_weights_favour_the_mouth_and_keep_the_loss_scale():
    w = field_weights(TrainConfig(corpus=None, mouth_weight=2.0))
    assert w.shape == (M.DIM,) and abs(float(w.mean()) - 1.0) < 1e-6
    mouth = [M.index(n) for n in MOUTH_FIELDS]
    other = M.index("yaw")
    assert torch.allclose(w[mouth], 2.0 * w[other])
    assert torch.allclose(field_weights(TrainConfig(corpus=None, mouth_weight=1.0)), torch.ones(M.DIM))


@pytest.mark.slow
def test_train_motion_cli_checkpoints_resumes_and_exports(tmp_path):
    corpus = tmp_path / "corpus"
    build_corpus(corpus, hours=1.0, seed=11, workers=1, max_utterances=6)
    # the trainer needs both splits; a 6-utterance corpus may hold no held-out voice, so mark two
    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
    rows.sort(key=lambda r: -r["duration_s"])
    for i, r in enumerate(rows):
        r["split"] = "val" if i < 2 else "train"
    (corpus / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    out = tmp_path / "run"
    args = ["train", "motion", "--corpus", str(corpus), "--out", str(out), "--batch-size", "4"]
    result = CliRunner().invoke(app, [*args, "--steps", "6"])
    assert result.exit_code == 0, result.output
    assert {"last.pt", "motion_dit.pt", "loss.png", "features.npz"} <= {p.name for p in out.iterdir()}
    assert read_checkpoint(out / "last.pt")["step"] == 6

    result = CliRunner().invoke(app, [*args, "--steps", "9", "--resume"])
    assert result.exit_code == 0, result.output
    last = read_checkpoint(out / "last.pt")
    assert last["step"] == 9 and last["recipe"]["mouth_weight"] == 2.0
    assert len(last["history"]["val"]) >= 1  # validated on the held-out split at the end

    gen = MotionGenerator.from_checkpoint(out / "motion_dit.pt")
    seq = gen.generate(load_audio("candor/generator/data/demo_speech.wav", max_seconds=None)[:32000], seed=0)
    assert len(seq) == 50 and np.isfinite(seq.values).all()

    bad = CliRunner().invoke(app, ["train", "motion", "--corpus", str(tmp_path / "missing"), "--out", str(out)])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
