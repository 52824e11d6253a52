"""The librosa analysis the motion checkpoints up to v3 were trained on, kept as the reference of record.

:mod:`candor.generator.audio` computes its analysis frames with numpy (:mod:`candor.generator.dsp`)
so that a generation does not pay librosa's ~2 s of lazy imports; these functions are the
librosa 0.11 calls it replaced, with the same arguments, for the tests and benchmarks that check
the two agree (and for anyone reproducing an old checkpoint's features exactly).
"""

from __future__ import annotations

import numpy as np

from candor.generator.audio import HOP, MEL_FMAX, MEL_FMIN, N_FFT, N_MELS, PAD, WIN_LENGTH, YIN_FRAME
from candor.generator.controls import SAMPLE_RATE


def raw_frames(padded: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop-in for ``candor.generator.audio._raw_frames``: (mel power, energy, f0) by librosa."""
    import librosa

    if n <= 0:
        return np.zeros((0, N_MELS), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32)
    y = padded[: 2 * PAD + (n - 1) * HOP]
    start = PAD - N_FFT // 2
    spec = librosa.stft(
        y[start : start + N_FFT + (n - 1) * HOP], n_fft=N_FFT, hop_length=HOP, win_length=WIN_LENGTH, center=False
    )
    power = (np.abs(spec) ** 2).astype(np.float32)[:, :n]
    basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=MEL_FMIN, fmax=MEL_FMAX)
    mel = (basis.astype(np.float32) @ power).T
    idx = PAD + np.arange(n) * HOP
    win = np.lib.stride_tricks.sliding_window_view(y, 320)[idx - 160]
    energy = (win.astype(np.float64) ** 2).mean(axis=1).astype(np.float32)
    f0 = librosa.yin(y, fmin=60, fmax=500, sr=SAMPLE_RATE, frame_length=YIN_FRAME, hop_length=HOP, center=False)
    return mel, energy, f0[:n].astype(np.float32)


def resample_to_16k(x: np.ndarray, sr: int) -> np.ndarray:
    """What ``candor.generator.audio.to_mono_16k`` did to mono float32 input at another rate."""
    import librosa

    return librosa.resample(x, orig_sr=sr, target_sr=SAMPLE_RATE, res_type="soxr_hq")
