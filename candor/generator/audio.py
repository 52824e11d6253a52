"""Audio in: load any audio file as 16 kHz mono, and turn it into per-video-frame features.

Features (``FEATURE_DIM`` = 84 per video frame) are computed on a 10 ms grid and pooled to the
video frame rate:

- 40 log-mel bands (dB), loudness-normalized to the utterance's loud level and mean-normalized per
  band over the utterance's active frames (so a voice's spectral tilt and the recording gain do
  not matter), then divided by 20 dB and clipped;
- frame energy in dB relative to the utterance's loud level (/20 dB, silence at -3);
- pitch from YIN (:func:`candor.generator.dsp.yin`) in octaves relative to the utterance's median pitch (0 when quiet);
- the first temporal difference of all 42 (centred, one video frame each side).

Silence is recognised by an absolute level (below -70 dBFS), so an all-silent clip maps to the
same "floor" features as the pauses inside speech and never gets amplified into noise.

The same primitives run offline (:func:`audio_features`, statistics over the whole utterance)
and online (:class:`FeatureStream`, running statistics over what has been heard so far).

Why over 400 lines: the offline and the streaming features must stay in step, so they live beside
the primitives they share.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from candor.errors import AudioTooLong, InvalidAudio
from candor.generator import dsp
from candor.generator.controls import SAMPLE_RATE

HOP = 160  # 10 ms analysis grid
N_FFT = 512
WIN_LENGTH = 400  # 25 ms Hann window inside each N_FFT frame
YIN_FRAME = 1024
PAD = YIN_FRAME // 2  # samples of look-ahead (and look-behind) one analysis frame needs
N_MELS = 40
MEL_FMIN, MEL_FMAX = 50.0, 7600.0  # Hz: the mel bands' span
BASE_DIM = N_MELS + 2
FEATURE_DIM = 2 * BASE_DIM
SILENCE_DBFS = -70.0  # below this the whole clip counts as silence
ACTIVE_RANGE_DB = 35.0  # frames within this of the loud level count as "active" (speech)
FLOOR = -3.0
# Long-term speech spectrum (dB per mel band relative to the loud level) and median pitch,
# averaged over 224 training utterances of the TTS corpus: the prior a stream starts from
# before it has heard enough of a voice to estimate its own.
SPEECH_BAND_PRIOR = np.array(
    [-0.1, 3.5, 4.1, 3.1, 2.6, 0.7, -1.9, -4.9, -7.8, -9.9, -11.6, -13.1, -14.5, -15.9, -16.8, -17.4,
     -17.5, -17.6, -18.5, -19.0, -19.6, -20.4, -20.9, -20.1, -18.4, -16.9, -16.9, -18.2, -18.3, -17.1,
     -17.4, -18.9, -22.3, -26.3, -28.5, -30.5, -32.3, -32.7, -31.9, -31.7],
    np.float32,
)  # fmt: skip
PITCH_PRIOR_LOG2 = math.log2(132.0)
PRIOR_FRAMES = 25  # the prior weighs as much as one second of heard speech
# A clip is analysed 10 s at a time: yin's frames and their spectra cost ~20 KB per 10 ms frame,
# so analysing 2 minutes at once peaked ~250 MB higher than one block does (the frames are
# independent: blocks give the same features).
RAW_BLOCK = 1000


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_audio(source: str | Path, max_seconds: float | None) -> np.ndarray:
    """Decode any audio (or video-with-audio) file into 16 kHz mono float32 samples in [-1, 1].

    ``max_seconds``: the longest clip accepted, in seconds (front doors pass their configured
    limit); ``None`` decodes the whole file, for clips the caller already trusts (bundled, tests).
    Raises InvalidAudio when the file is missing, unreadable, has no audio stream or no samples,
    and AudioTooLong as soon as more than ``max_seconds`` have been decoded.
    """
    path = Path(source)
    if not path.is_file():
        raise InvalidAudio(f"audio file not found: {path}")
    limit_s = math.inf if max_seconds is None else max_seconds
    samples = _decode_with_av(path, limit_s)
    if samples is None:  # PyAV could not open it: try libsndfile before giving up
        samples = _decode_with_soundfile(path, limit_s)
    if samples.size == 0:
        raise InvalidAudio(f"{path.name} contains no audio samples")
    if not np.isfinite(samples).all():
        raise InvalidAudio(f"{path.name} decodes to NaN or infinite samples")
    return samples


def _too_long(name: str, seconds: float, max_seconds: float) -> AudioTooLong:
    return AudioTooLong(f"{name} is longer than the {max_seconds:g} s maximum (at least {seconds:.1f} s)")


def _decode_with_av(path: Path, max_seconds: float) -> np.ndarray | None:
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError):
        return None
    with container:
        if not container.streams.audio:
            raise InvalidAudio(f"{path.name} has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        total = 0
        limit = max_seconds * SAMPLE_RATE  # samples; inf without a limit
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += chunk.size
                # Stop decoding as soon as the limit is passed: memory stays bounded.
                if total > limit:
                    raise _too_long(path.name, total / SAMPLE_RATE, max_seconds)
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise InvalidAudio(f"{path.name} could not be decoded as audio ({exc})") from None
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if samples.size > limit:
        raise _too_long(path.name, samples.size / SAMPLE_RATE, max_seconds)
    return samples


def _decode_with_soundfile(path: Path, max_seconds: float) -> np.ndarray:
    import soundfile as sf

    try:
        info = sf.info(str(path))
        if info.frames > max_seconds * info.samplerate:
            raise _too_long(path.name, info.frames / info.samplerate, max_seconds)
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise InvalidAudio(f"{path.name} is not a readable audio file ({exc})") from None
    return to_mono_16k(data, sr)


def to_mono_16k(samples: np.ndarray, sr: int) -> np.ndarray:
    """Mix (frames, channels) or (frames,) samples of any rate down to 16 kHz mono float32."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        # (channels, frames) arrays are common from other libraries; the shorter axis is channels.
        x = x.mean(axis=1 if x.shape[1] <= x.shape[0] else 0)
    if x.ndim != 1:
        raise InvalidAudio(f"audio must be 1-D or 2-D samples, got shape {x.shape}")
    if sr <= 0:
        raise InvalidAudio(f"sample rate must be positive, got {sr}")
    if sr != SAMPLE_RATE and x.size:
        x = dsp.resample(x, sr, SAMPLE_RATE)
    return np.ascontiguousarray(x, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Features: raw 10 ms frames -> pooled per video frame -> normalized
# --------------------------------------------------------------------------------------------


def _raw_frames(padded: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Analysis frames j = 0..n-1 of ``padded``, frame j centred at sample ``PAD + j * HOP``.

    Returns (mel power (n, N_MELS), mean-square energy (n,), f0 in Hz (n,)).
    ``padded`` must hold at least ``PAD + (n - 1) * HOP + PAD`` samples.
    """
    if n <= 0:
        return np.zeros((0, N_MELS), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32)
    need = 2 * PAD + (n - 1) * HOP
    y = padded[:need]
    start = PAD - N_FFT // 2
    power = dsp.power_spectrum(y[start : start + N_FFT + (n - 1) * HOP], N_FFT, HOP, WIN_LENGTH)
    mel = (dsp.mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS, MEL_FMIN, MEL_FMAX) @ power).T
    # Energy over a 20 ms window around each centre (what a viewer hears as "now").
    idx = PAD + np.arange(n) * HOP
    win = np.lib.stride_tricks.sliding_window_view(y, 320)[idx - 160]
    energy = (win.astype(np.float64) ** 2).mean(axis=1).astype(np.float32)
    f0 = dsp.yin(y, SAMPLE_RATE, fmin=60, fmax=500, frame_length=YIN_FRAME, hop=HOP)
    return mel, energy, f0[:n].astype(np.float32)


def _video_index(k: np.ndarray, fps: float) -> np.ndarray:
    """Video frame that analysis frame k (centred at k * 10 ms) falls in."""
    return np.floor(k * HOP * fps / SAMPLE_RATE + 1e-6).astype(np.int64)


def _pool(
    mel: np.ndarray, energy: np.ndarray, f0: np.ndarray, k0: int, fps: float, first: int, count: int
) -> np.ndarray:
    """Pool analysis frames k0.. into video frames first..first+count-1: (count, 42) in dB / log2 Hz."""
    vid = _video_index(np.arange(k0, k0 + len(energy)), fps) - first
    keep = (vid >= 0) & (vid < count)
    vid = vid[keep]
    n = np.bincount(vid, minlength=count).astype(np.float32)
    n = np.maximum(n, 1)
    mel_p = np.zeros((count, N_MELS), np.float32)
    np.add.at(mel_p, vid, mel[keep])
    mel_p /= n[:, None]
    e_p = np.bincount(vid, weights=energy[keep], minlength=count) / n
    lf0 = np.bincount(vid, weights=np.log2(np.maximum(f0[keep], 1.0)), minlength=count) / n
    out = np.empty((count, BASE_DIM), np.float32)
    out[:, :N_MELS] = 10 * np.log10(mel_p + 1e-14)
    out[:, N_MELS] = 10 * np.log10(e_p + 1e-14)
    out[:, N_MELS + 1] = lf0
    return out


@dataclass
class UtteranceStats:
    """Per-utterance normalization: loud level (dB), per-band mean over active frames, median pitch."""

    loud_db: float = -20.0
    band_mean: np.ndarray = field(default_factory=lambda: np.zeros(N_MELS, np.float32))
    median_log2_f0: float = math.log2(150.0)

    @classmethod
    def from_pooled(cls, pooled: np.ndarray) -> UtteranceStats:
        e_db = pooled[:, N_MELS]
        loud = float(np.percentile(e_db, 95)) if len(e_db) else -100.0
        if loud < SILENCE_DBFS:
            return cls()  # a silent clip: nothing to normalize to, keep the floor where it is
        active = e_db > loud - ACTIVE_RANGE_DB
        band_mean = (pooled[active, :N_MELS] - loud).mean(axis=0)
        return cls(loud, band_mean.astype(np.float32), float(np.median(pooled[active, N_MELS + 1])))

    def active(self, pooled: np.ndarray) -> np.ndarray:
        e = pooled[:, N_MELS]
        return (e > self.loud_db - ACTIVE_RANGE_DB) & (e > SILENCE_DBFS)


def _normalize(pooled: np.ndarray, stats: UtteranceStats) -> np.ndarray:
    """(T, 42) pooled dB values -> (T, 42) normalized base features."""
    out = np.empty_like(pooled)
    active = stats.active(pooled)
    out[:, :N_MELS] = np.clip((pooled[:, :N_MELS] - stats.loud_db - stats.band_mean) / 20.0, FLOOR, 2.0)
    out[:, N_MELS] = np.clip((pooled[:, N_MELS] - stats.loud_db) / 20.0, FLOOR, 0.5)
    out[:, N_MELS + 1] = np.where(active, np.clip(pooled[:, N_MELS + 1] - stats.median_log2_f0, -1.5, 1.5), 0)
    return out


def _with_deltas(base: np.ndarray, before: np.ndarray | None = None, after: np.ndarray | None = None) -> np.ndarray:
    """Append centred differences; ``before``/``after`` are the neighbouring frames (edge repeat if None)."""
    prev = np.concatenate([base[:1] if before is None else before[None], base[:-1]])
    nxt = np.concatenate([base[1:], base[-1:] if after is None else after[None]])
    return np.concatenate([base, (nxt - prev) / 2.0], axis=1).astype(np.float32)


def frame_count(n_samples: int, fps: float) -> int:
    """Video frames covering ``n_samples`` of 16 kHz audio (at least one; the last may be partial)."""
    return max(1, math.ceil(n_samples * fps / SAMPLE_RATE - 1e-6))


def audio_features(samples: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """16 kHz mono samples -> (T, FEATURE_DIM) float32 features, T = ceil(seconds * fps).

    Frame i describes the audio of [i / fps, (i + 1) / fps) seconds.
    """
    y = np.asarray(samples, dtype=np.float32).reshape(-1)
    if y.size == 0:
        raise InvalidAudio("audio contains no samples")
    T = frame_count(y.size, fps)
    n_raw = math.ceil(T * SAMPLE_RATE / (HOP * fps))
    padded = np.zeros(2 * PAD + (n_raw - 1) * HOP, np.float32)
    m = min(y.size, padded.size - PAD)
    padded[PAD : PAD + m] = y[:m]
    blocks = [_raw_frames(padded[j * HOP :], min(RAW_BLOCK, n_raw - j)) for j in range(0, n_raw, RAW_BLOCK)]
    pooled = _pool(*(np.concatenate(part) for part in zip(*blocks, strict=True)), 0, fps, 0, T)
    return _with_deltas(_normalize(pooled, UtteranceStats.from_pooled(pooled)))


class FeatureStream:
    """Online features: push audio chunks, get the video frames whose audio is complete.

    Normalization statistics are running estimates over everything heard so far (the loud level
    and pitch median over the last two minutes), so the first frames of a stream can differ
    slightly from the offline features of the same clip. Memory is bounded.
    """

    def __init__(self, fps: float = 25.0) -> None:
        self.fps = fps
        self._buf = np.zeros(PAD, np.float32)  # zeros stand in for the audio before t = 0
        self._buf_start = -PAD  # sample index (of the stream) of _buf[0]
        self._n_samples = 0
        self._next_raw = 0  # next analysis frame to compute
        self._raw: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        self._next_video = 0  # next video frame to pool
        self._pending: np.ndarray | None = None  # pooled frame waiting for its right neighbour
        self._prev_base: np.ndarray | None = None
        self._energy_hist: deque[float] = deque(maxlen=int(120 * fps))
        self._f0_hist: deque[float] = deque(maxlen=int(120 * fps))
        self._band_sum = np.zeros(N_MELS, np.float64)
        self._band_n = 0
        self._stats = UtteranceStats()

    @property
    def samples_seen(self) -> int:
        return self._n_samples

    def next_frame_at(self) -> int:
        """Samples (from the stream's start) after which :meth:`push` completes another video frame:
        pushing less than that only buffers (a caller may hold short chunks back until then)."""
        first_raw_of_next = math.ceil((self._next_video + 1) * SAMPLE_RATE / (HOP * self.fps) - 1e-6)
        return PAD + (first_raw_of_next - 1) * HOP

    def push(self, chunk: np.ndarray, final: bool = False) -> np.ndarray:
        """Add 16 kHz mono samples; return the (n, FEATURE_DIM) features of newly completed frames.

        ``final=True`` flushes the tail (zero-padded) so the frame count matches
        :func:`audio_features` of the whole stream.
        """
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, chunk])
        self._n_samples += chunk.size
        if final:
            total_frames = frame_count(self._n_samples, self.fps)
            n_raw_total = math.ceil(total_frames * SAMPLE_RATE / (HOP * self.fps))
            need_end = (n_raw_total - 1) * HOP + PAD
            have_end = self._buf_start + self._buf.size
            if need_end > have_end:
                self._buf = np.concatenate([self._buf, np.zeros(need_end - have_end, np.float32)])
        # Analysis frames whose full window has arrived.
        end = self._buf_start + self._buf.size
        n_avail = (end - PAD) // HOP + 1
        if n_avail > self._next_raw:
            off = self._next_raw * HOP - PAD - self._buf_start
            mel, e, f0 = _raw_frames(self._buf[off:], n_avail - self._next_raw)
            self._raw.append((self._next_raw, mel, e, f0))
            self._next_raw = n_avail
            keep_from = self._next_raw * HOP - PAD - self._buf_start
            self._buf = self._buf[keep_from:]
            self._buf_start += keep_from
        return self._emit(final)

    def _emit(self, final: bool) -> np.ndarray:
        if not self._raw:
            return np.zeros((0, FEATURE_DIM), np.float32)
        k0 = self._raw[0][0]
        mel = np.concatenate([r[1] for r in self._raw])
        e = np.concatenate([r[2] for r in self._raw])
        f0 = np.concatenate([r[3] for r in self._raw])
        k_end = k0 + len(e)
        # A video frame is complete once the analysis frame after its last one exists.
        last_complete = int(_video_index(np.array([k_end]), self.fps)[0]) - 1
        if final:
            last_complete = frame_count(self._n_samples, self.fps) - 1
        count = last_complete - self._next_video + 1
        if count <= 0:
            return np.zeros((0, FEATURE_DIM), np.float32)
        pooled = _pool(mel, e, f0, k0, self.fps, self._next_video, count)
        self._next_video += count
        # Drop analysis frames that belong only to emitted video frames.
        ks = np.arange(k0, k_end)
        keep = _video_index(ks, self.fps) >= self._next_video
        if keep.any():
            first_keep = int(np.argmax(keep))
            self._raw = [(k0 + first_keep, mel[first_keep:], e[first_keep:], f0[first_keep:])]
        else:
            self._raw = []
        self._update_stats(pooled)
        base = _normalize(pooled, self._stats)
        # Deltas need the right neighbour: hold the last frame back until the next one exists.
        if self._pending is not None:
            base = np.concatenate([self._pending[None], base])
        if final:
            out = _with_deltas(base, self._prev_base, None)
            self._pending = None
        else:
            if len(base) < 2:
                self._pending = base[-1]
                return np.zeros((0, FEATURE_DIM), np.float32)
            out = _with_deltas(base[:-1], self._prev_base, base[-1])
            self._pending = base[-1]
        self._prev_base = base[-1] if final else base[-2]
        return out

    def peek(self) -> np.ndarray | None:
        """The held-back newest frame (1, FEATURE_DIM), one-sided delta, not consumed; None if none."""
        return None if self._pending is None else _with_deltas(self._pending[None], self._prev_base)

    def _update_stats(self, pooled: np.ndarray) -> None:
        self._energy_hist.extend(pooled[:, N_MELS].tolist())
        hist = np.fromiter(self._energy_hist, np.float32)
        # Early on the 95th percentile is just the loudest frame so far, which underestimates the
        # voice's loud level (speech gets louder after its onset): never sit more than 4 dB under the max.
        loud = float(max(np.percentile(hist, 95), hist.max() - 4.0))
        if loud < SILENCE_DBFS:
            return
        active = (pooled[:, N_MELS] > loud - ACTIVE_RANGE_DB) & (pooled[:, N_MELS] > SILENCE_DBFS)
        self._band_sum += (pooled[active, :N_MELS] - loud).sum(axis=0)
        self._band_n += int(active.sum())
        self._f0_hist.extend(pooled[active, N_MELS + 1].tolist())
        if self._band_n:
            # Early in a stream a few frames would give noisy statistics: blend them with the prior.
            n, n0 = self._band_n, PRIOR_FRAMES
            f0 = float(np.median(np.fromiter(self._f0_hist, np.float32))) if self._f0_hist else PITCH_PRIOR_LOG2
            self._stats = UtteranceStats(
                loud,
                ((self._band_sum + n0 * SPEECH_BAND_PRIOR) / (n + n0)).astype(np.float32),
                (n * f0 + n0 * PITCH_PRIOR_LOG2) / (n + n0),
            )


def silence_features(n: int) -> np.ndarray:
    """(n, FEATURE_DIM) features of digital silence: what :func:`audio_features` gives for zeros."""
    base = np.full(BASE_DIM, FLOOR, np.float32)
    base[N_MELS + 1] = 0.0  # no pitch
    return np.tile(np.concatenate([base, np.zeros(BASE_DIM, np.float32)]), (n, 1))


def iter_chunks(samples: np.ndarray, seconds: float) -> Iterator[np.ndarray]:
    """Split samples into chunks of ``seconds`` (a helper for streaming tests and benchmarks)."""
    step = max(1, int(seconds * SAMPLE_RATE))
    for i in range(0, len(samples), step):
        yield samples[i : i + step]
