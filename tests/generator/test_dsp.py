"""The numpy analysis (candor.generator.dsp) against the librosa analysis the motion models were trained on.

librosa is the reference here only: the generator must not import it (nor scipy.signal, scipy.ndimage,
numba) at run time, which the last tests check in a fresh process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from candor.generator import audio as A
from candor.generator import dsp
from candor.generator.controls import SAMPLE_RATE
from candor.training import librosa_features

librosa = pytest.importorskip("librosa")

SENTENCES = {
    "en-us": "The quick brown fox jumps over the lazy dog, and then it rests for a while.",
    "en-us+f3": "She sells sea shells by the sea shore; are you sure those shells are from the shore?",
}
RNG = np.random.default_rng(15)
EDGE_CASES = {
    "digital silence": np.zeros(2 * SAMPLE_RATE, np.float32),
    "hiss at -100 dBFS": RNG.normal(0, 1e-5, 2 * SAMPLE_RATE).astype(np.float32),
    "white noise at -20 dBFS": RNG.normal(0, 0.1, 2 * SAMPLE_RATE).astype(np.float32),
    "clipped full-scale noise": np.clip(RNG.normal(0, 1, 2 * SAMPLE_RATE), -1, 1).astype(np.float32),
    "a 220 Hz tone": (0.5 * np.sin(2 * np.pi * 220 * np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32),
    # Above fmax: the shortest period searched is the first trough (the boundary rule decides).
    "a 520 Hz tone": (0.5 * np.sin(2 * np.pi * 520 * np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32),
    "one sample": np.full(1, 0.3, np.float32),
}


@pytest.fixture(scope="module")
def voices(tmp_path_factory) -> dict[str, np.ndarray]:
    """Two espeak-ng voices (low and high pitch) and the bundled demo clip, as 16 kHz samples."""
    out = {"demo": A.load_audio("candor/generator/data/demo_speech.wav", max_seconds=None)}
    for voice, text in SENTENCES.items():
        path = tmp_path_factory.mktemp("dsp") / f"{voice}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
        out[voice] = A.load_audio(path, max_seconds=None)
    return out


def analysis_input(samples: np.ndarray) -> tuple[np.ndarray, int]:
    """Samples laid out as audio_features lays them out for _raw_frames (PAD zeros before, after)."""
    n = max(1, len(samples) // A.HOP)
    padded = np.zeros(2 * A.PAD + (n - 1) * A.HOP, np.float32)
    m = min(len(samples), len(padded) - A.PAD)
    padded[A.PAD : A.PAD + m] = samples[:m]
    return padded, n


def with_librosa(monkeypatch, compute):
    with monkeypatch.context() as patch:
        patch.setattr(A, "_raw_frames", librosa_features.raw_frames)
        return compute()


def test_mel_filterbank_is_librosas_slaney_filterbank():
    ours = dsp.mel_filterbank(SAMPLE_RATE, A.N_FFT, A.N_MELS, A.MEL_FMIN, A.MEL_FMAX)
    ref = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=A.N_FFT, n_mels=A.N_MELS, fmin=A.MEL_FMIN, fmax=A.MEL_FMAX)
    assert ours.shape == ref.shape == (A.N_MELS, A.N_FFT // 2 + 1) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)
    # Other settings too: the formula is not fitted to one case (htk=False, Slaney norm throughout).
    for sr, n_fft, n_mels, fmin, fmax in [(22050, 2048, 128, 0.0, 11025.0), (8000, 256, 20, 100.0, 3800.0)]:
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        np.testing.assert_allclose(dsp.mel_filterbank(sr, n_fft, n_mels, fmin, fmax), ref, rtol=1e-6, atol=1e-9)


def test_power_spectrum_is_librosas_stft_power(voices):
    y = voices["en-us"][: 3 * SAMPLE_RATE]
    ref = np.abs(librosa.stft(y, n_fft=512, hop_length=160, win_length=400, center=False)) ** 2
    ours = dsp.power_spectrum(y, 512, 160, 400)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-10 * ref.max())


@pytest.mark.parametrize("name", [*SENTENCES, "demo", *EDGE_CASES])
def test_yin_is_librosas_yin(voices, name):
    y = voices[name] if name in voices else EDGE_CASES[name]
    padded, _ = analysis_input(y)
    ref = librosa.yin(padded, fmin=60, fmax=500, sr=SAMPLE_RATE, frame_length=1024, hop_length=160, center=False)
    ours = dsp.yin(padded, SAMPLE_RATE, fmin=60, fmax=500, frame_length=1024, hop=160)
    assert ours.shape == ref.shape
    # Every frame, voiced or not, picks the same period bin (neighbouring bins lie >= 0.37% apart):
    # only float rounding tells them apart, which the parabolic refinement can raise to ~1e-5
    # where a trough is flat (librosa's autocorrelation is computed in float32, this one in float64).
    np.testing.assert_allclose(ours, ref, rtol=1e-4)


def test_yin_finds_the_pitch_of_a_tone():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    for hz in (80.0, 147.0, 310.0):
        f0 = dsp.yin((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SAMPLE_RATE, 60, 500, 1024, 160)
        assert np.abs(f0 / hz - 1).max() < 0.01


@pytest.mark.parametrize("name", [*SENTENCES, "demo", *EDGE_CASES])
def test_features_are_the_librosa_features(voices, monkeypatch, name):
    y = voices[name] if name in voices else EDGE_CASES[name]
    ours = A.audio_features(y)
    ref = with_librosa(monkeypatch, lambda: A.audio_features(y))
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-5


def test_streamed_features_are_the_librosa_streamed_features(voices, monkeypatch):
    y = voices["en-us+f3"]

    def streamed() -> np.ndarray:
        stream = A.FeatureStream()
        out = [stream.push(c) for c in A.iter_chunks(y, 0.07)] + [stream.push(np.zeros(0), final=True)]
        return np.concatenate(out)

    ours = streamed()
    ref = with_librosa(monkeypatch, streamed)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-5


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_resampling_is_librosas_soxr_hq(voices, sr):
    native = librosa.resample(voices["en-us"], orig_sr=SAMPLE_RATE, target_sr=sr, res_type="soxr_hq")
    ours = A.to_mono_16k(native, sr)
    ref = librosa_features.resample_to_16k(native, sr)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-7)


def test_features_import_neither_librosa_nor_scipy_signal():
    code = """
import json, sys
import numpy as np
from candor.generator import audio
t = np.arange(3 * 44100) / 44100
speech_like = (0.3 * np.sin(2 * np.pi * 140 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
audio.audio_features(audio.to_mono_16k(speech_like, 44100))
stream = audio.FeatureStream()
stream.push(audio.to_mono_16k(speech_like, 44100), final=True)
print(json.dumps(sorted(sys.modules)))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    loaded = set(json.loads(done.stdout))
    assert "candor.generator.dsp" in loaded and "soxr" in loaded  # the check sees what ran
    heavy = {"librosa", "scipy.signal", "scipy.ndimage", "numba"}
    assert not heavy & loaded, f"the audio features imported {heavy & loaded}"
