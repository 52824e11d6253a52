"""The motion trainer on real + synthetic speech: telephone-channel features, several corpora, a
fine-tune from a checkpoint, and a short run that lowers the loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from candor.generator.audio import N_MELS, audio_features
from candor.generator.diffusion.config import MotionDiTConfig
from candor.generator.diffusion.model import MotionDiT, read_checkpoint
from candor.generator.diffusion.scheduler import DDIMScheduler
from candor.training.corpus import real, tts
from candor.training.corpus.build import build_corpus
from candor.training.motion_trainer import (
    TrainConfig,
    WindowSampler,
    diffusion_loss,
    load_split,
    motion_stats,
    read_corpora,
    telephone_channel,
    train,
)

TEXTS = ("My mother made a map of the moon.", "Bob brought a big blue box home.", "We will meet by the pool at noon.")


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """A 6-utterance TTS corpus and a 3-utterance 'real' one (espeak-ng WAVs read as LibriVox)."""
    root = tmp_path_factory.mktemp("corpora")
    synth = root / "synth"
    build_corpus(synth, hours=1.0, seed=11, workers=1, max_utterances=6)
    rows = [json.loads(line) for line in (synth / "manifest.jsonl").read_text().splitlines()]
    for i, r in enumerate(sorted(rows, key=lambda r: -r["duration_s"])):
        r["split"] = "val" if i < 2 else "train"  # both splits, whatever voices were drawn
    (synth / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lv = root / "librivox"
    lv.mkdir()
    lines = []
    for i, text in enumerate(TEXTS):
        speech = tts.Espeak.shared().synth(text, "en-us+f3", rate=150)
        sf.write(lv / f"book-{i:04d}.wav", speech.audio, 16000, subtype="PCM_16")
        lines.append(f"<s> {text.lower().strip('.')} </s> (book-{i:04d})")
    (lv / "transcription").write_text("\n".join(lines) + "\n")
    recs = real.discover(root / "none", lv, root / "none", root / "none.txt.gz")
    real.build_real_corpus(root / "real", recordings=recs, held_out=())
    return synth, root / "real"


def test_telephone_channel_removes_the_upper_band_and_keeps_the_timing():
    speech = tts.Espeak.shared().synth("Sixty seven sisters sang softly.", "en-us+f3", rate=160)
    tel = telephone_channel(speech.audio, seed=1)
    assert tel.shape == speech.audio.shape and tel.dtype == np.float32
    spec = np.abs(np.fft.rfft(speech.audio)) ** 2
    spec_tel = np.abs(np.fft.rfft(tel)) ** 2
    f = np.fft.rfftfreq(len(tel), 1 / 16000)
    share = spec[f > 4500].sum() / spec.sum()
    share_tel = spec_tel[f > 4500].sum() / spec_tel.sum()
    assert share > 0.01 and share_tel < share / 20  # /s/ energy above 4 kHz is gone
    a, b = audio_features(speech.audio), audio_features(tel)
    # Same frames, and the loudness contour (per-utterance normalized) still follows the speech.
    assert a.shape == b.shape and np.corrcoef(a[:, N_MELS], b[:, N_MELS])[0, 1] > 0.9
    np.testing.assert_array_equal(tel, telephone_channel(speech.audio, seed=1))


def test_several_corpora_load_with_telephone_copies(corpora):
    synth, realc = corpora
    rows = read_corpora(synth, (realc,))
    assert {r.get("engine") for r in rows} >= {"real"} and len(rows) == 9
    cache: dict[str, np.ndarray] = {}
    split = load_split(synth, [r for r in rows if r["split"] == "train"], 4, cache, telephone=True)
    assert split.audio_tel is not None and split.audio_tel.shape == split.audio.shape
    assert not np.allclose(split.audio_tel, split.audio)
    assert any(k.startswith("real/") and k.endswith("@tel") for k in cache)  # extra corpora keyed apart
    cfg = MotionDiTConfig(d_model=32, n_layers=1, n_heads=2)
    mean, std = motion_stats(split)
    batch = WindowSampler(split, mean, std, cfg, telephone=1.0).sample(np.random.default_rng(0), 8, 20)
    clean = WindowSampler(split, mean, std, cfg).sample(np.random.default_rng(0), 8, 20)
    assert batch["audio"].shape == clean["audio"].shape == (8, 20, split.audio.shape[1])
    assert not torch.allclose(batch["audio"], clean["audio"])
    torch.testing.assert_close(batch["x0"], clean["x0"])  # same windows, other channel


def test_a_short_run_on_real_and_synthetic_speech_lowers_the_loss(corpora):
    synth, realc = corpora
    rows = read_corpora(synth, (realc,))
    split = load_split(synth, [r for r in rows if r["split"] == "train"], 4, {}, telephone=True)
    mcfg = MotionDiTConfig(d_model=48, n_layers=2, n_heads=2, window=20)
    cfg = TrainConfig(corpus=synth, model=mcfg)
    mean, std = motion_stats(split)
    sampler = WindowSampler(split, mean, std, mcfg, augment=0.5, telephone=0.5)
    torch.manual_seed(0)
    model = MotionDiT(mcfg)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    sched = DDIMScheduler(mcfg.train_timesteps)
    fixed = sampler.sample(np.random.default_rng(99), 32, 20)

    def held() -> float:
        with torch.no_grad():
            return diffusion_loss(model, sched, fixed, cfg, torch.Generator().manual_seed(5), train=False).item()

    before = held()
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    for _ in range(60):
        loss = diffusion_loss(model, sched, sampler.sample(rng, 16, 20), cfg, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert held() < 0.8 * before


@pytest.mark.slow
def test_fine_tune_from_a_checkpoint_keeps_its_normalization(corpora, tmp_path):
    synth, realc = corpora
    shipped = read_checkpoint("candor/generator/checkpoints/motion_dit.pt")
    cfg = TrainConfig(corpus=synth, out=tmp_path / "run", steps=3, batch_size=4, extra_corpora=(realc,),
                      telephone=0.5, init=Path("candor/generator/checkpoints/motion_dit.pt"))  # fmt: skip
    out = read_checkpoint(train(cfg))
    torch.testing.assert_close(out["norm"]["motion_mean"], shipped["norm"]["motion_mean"])
    assert out["recipe"]["telephone"] == 0.5 and out["data"]["extra_corpora"] == [str(realc)]
    # Three small steps from the shipped weights stay near them (a fine-tune, not a fresh model).
    key = next(k for k in shipped["model"] if k.endswith("weight"))
    drift = (out["model"][key] - shipped["model"][key]).abs().max().item()
    assert drift < 0.05
