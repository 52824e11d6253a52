"""Signal primitives for the audio features, in numpy: power spectrum, Slaney mel filterbank, YIN pitch.

They compute what librosa 0.11's ``stft``, ``filters.mel`` and ``yin`` compute for the settings the
features use (the motion models were trained on librosa's features, and
``tests/generator/test_dsp.py`` holds the two together), without librosa's run-time cost:
``import librosa`` is lazy, and its first ``stft``/``yin`` call pulls in scipy.signal,
scipy.ndimage and numba, about 2 s before the first feature of a clip; the arithmetic itself is
a few hundred milliseconds for a minute of audio.

Where librosa rounds to float32 between steps, so do these functions, so that the two agree to
float32 rounding rather than merely approximately (a YIN trough near its threshold is a
discontinuity: a larger error could move a pitch estimate by an octave).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _frames(y: np.ndarray, length: int, hop: int) -> np.ndarray:
    """(n, length) read-only view of the frames of ``y`` starting every ``hop`` samples."""
    return np.lib.stride_tricks.sliding_window_view(y, length)[::hop]


@lru_cache(maxsize=4)
def centred_hann(win_length: int, n_fft: int) -> np.ndarray:
    """Periodic Hann window of ``win_length`` samples, zero-padded on both sides to ``n_fft`` (float64).

    Periodic (the DFT-even form, as for spectral analysis): w[i] = 0.5 - 0.5 cos(2 pi i / win_length).
    """
    window = np.zeros(n_fft)
    start = (n_fft - win_length) // 2
    window[start : start + win_length] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
    window.flags.writeable = False
    return window


def power_spectrum(y: np.ndarray, n_fft: int, hop: int, win_length: int) -> np.ndarray:
    """|STFT|^2 of float32 ``y`` without centring: frame j is ``y[j * hop : j * hop + n_fft]``.

    Returns (n_fft // 2 + 1, n_frames) float32, the layout of ``librosa.stft`` (the spectrum is
    rounded to complex64 before its magnitude is taken, as librosa stores it).
    """
    frames = _frames(y, n_fft, hop)
    spectrum = np.fft.rfft(frames * centred_hann(win_length, n_fft), axis=-1).astype(np.complex64)
    return np.ascontiguousarray((np.abs(spectrum) ** 2).T)


def _hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear (3 mel per 200 Hz) below 1 kHz, logarithmic (27 mel per factor 6.4) above."""
    hz = np.asarray(hz, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-300) / 1000.0) / log_step, hz / (200.0 / 3))


def _slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * (200.0 / 3))


@lru_cache(maxsize=4)
def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangular filters, Slaney mel scale and Slaney area normalization.

    Filter i rises from edge i to edge i + 1 and falls to edge i + 2, the n_mels + 2 edges spaced
    evenly in mel from ``fmin`` to ``fmax``; each triangle is scaled by 2 / its width in Hz so that
    every band has about the same area (a white spectrum gives flat band energies).
    """
    bin_hz = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = _slaney_mel_to_hz(np.linspace(_hz_to_slaney_mel(fmin), _hz_to_slaney_mel(fmax), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_hz - lower) / (centre - lower)
    falling = (upper - bin_hz) / (upper - centre)
    # Stored as float32 before the area scaling, as librosa does, so the two agree bit for bit.
    triangles = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    basis = (triangles * (2.0 / (upper - lower))).astype(np.float32)
    basis.flags.writeable = False
    return basis


def yin(y: np.ndarray, sr: int, fmin: float, fmax: float, frame_length: int, hop: int,
        trough_threshold: float = 0.1) -> np.ndarray:  # fmt: skip
    """YIN pitch (Hz) of each frame ``y[j * hop : j * hop + frame_length]`` (no centring), float64.

    As de Cheveigné and Kawahara's YIN in librosa's form: the difference function from the
    frame's autocorrelation, d(tau) = 2 (r(0) - r(tau)) - sum_{m < tau} y[m]^2 (librosa's energy
    term; for d(1) it is 0, not y[0]^2), normalized by its cumulative mean over 1..tau;
    the period is the first local minimum below ``trough_threshold`` among periods sr/fmax..sr/fmin
    (else the global minimum there), refined by a parabola through it and its neighbours.
    Frames of digital silence come out at ``sr / floor(sr / fmax)``.
    """
    min_period = int(np.floor(sr / fmax))
    max_period = min(int(np.ceil(sr / fmin)), frame_length - 1)
    frames = _frames(y, frame_length, hop)  # (n, frame_length), float32 like the caller's y
    n = len(frames)
    # Autocorrelation r(0..max_period) by FFT. Zero-padding to frame_length + max_period is enough
    # for these lags to take no wrapped-around terms (the 2 * frame_length of a complete
    # autocorrelation took 1.6x as long). librosa keeps r in float32, and the difference function
    # below is formed in float32 like librosa's.
    n_fft = _fast_fft_size(frame_length + max_period)
    spectrum = np.fft.rfft(frames, n=n_fft, axis=-1)
    acf = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=n_fft, axis=-1)
    acf = acf[:, : max_period + 1].astype(np.float32)
    energy = np.cumsum(np.square(frames[:, :max_period]), axis=-1, dtype=np.float32)  # sum_{m<=k} y[m]^2
    energy[:, 0] = 0.0
    diff = np.empty((n, max_period + 1), np.float32)
    diff[:, 0] = 0.0
    diff[:, 1:] = 2 * (acf[:, :1] - acf[:, 1:]) - energy
    cumulative_mean = np.cumsum(diff[:, 1:], axis=-1) / np.arange(1, max_period + 1)  # float64
    cmnd = diff[:, min_period:] / (cumulative_mean[:, min_period - 1 :] + np.finfo(np.float64).tiny)

    # Local minima: strictly below the left neighbour, not above the right one; the first and
    # last periods compare with their one neighbour.
    trough = np.empty(cmnd.shape, bool)
    trough[:, 1:-1] = (cmnd[:, 1:-1] < cmnd[:, :-2]) & (cmnd[:, 1:-1] <= cmnd[:, 2:])
    trough[:, 0] = cmnd[:, 0] < cmnd[:, 1]
    trough[:, -1] = cmnd[:, -1] < cmnd[:, -2]
    deep = trough & (cmnd < trough_threshold)
    best = np.where(deep.any(axis=-1), np.argmax(deep, axis=-1), np.argmin(cmnd, axis=-1))

    # Parabolic refinement at the chosen period only; none at the ends of the range, and none
    # where the parabola's vertex would lie a whole period bin or more away.
    inner = np.clip(best, 1, cmnd.shape[1] - 2)
    rows = np.arange(n)
    left, mid, right = cmnd[rows, inner - 1], cmnd[rows, inner], cmnd[rows, inner + 1]
    curvature = right + left - 2 * mid
    slope = (right - left) / 2
    usable = (np.abs(slope) < np.abs(curvature)) & (best == inner)
    shift = np.where(usable, -slope / np.where(usable, curvature, 1.0), 0.0)
    return sr / (min_period + best + shift)


def _fast_fft_size(n: int) -> int:
    """The smallest size >= n with no prime factor above 5 (where pocketfft is fastest)."""
    size = n
    while True:
        rest = size
        for p in (2, 3, 5):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return size
        size += 1


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample float32 ``x`` with libsoxr at high quality ("HQ", what librosa's ``soxr_hq`` selects),
    trimmed or zero-padded to ceil(len * target_sr / orig_sr) samples as ``librosa.resample`` does."""
    import soxr  # only non-16 kHz input needs it

    n_out = int(np.ceil(x.shape[-1] * (float(target_sr) / orig_sr)))
    out = soxr.resample(x, orig_sr, target_sr, quality="HQ")
    if out.shape[-1] >= n_out:
        return out[:n_out]
    return np.concatenate([out, np.zeros(n_out - out.shape[-1], out.dtype)])
