"""Clip-level watermark detection: average, undo scale and crop, fold onto one tile, decode.

1. Average the luma of every frame (the pattern is the same in every frame; linear statistics of the
   mean frame equal the mean of per-frame statistics, so this is the clip-level average of per-bit
   statistics at the cost of one addition per pixel per frame).
2. Scale candidates: 1 (no resize) plus the tile period read off the mean frame's autocorrelation
   (the repeated 128-pixel tile makes peaks at 128 x scale along each axis) and its neighbours.
3. For each candidate: resample to the embedding scale, fold every 128x128 tile onto one (a crop
   only shifts the pattern cyclically), find the cyclic shift that maximizes the energy of the 127
   bit correlations (FFT, all 16384 shifts at once; the energy is blind to the bits' signs), and
   read each bit's self-normalized statistic z_i = sum(chip * c) / sqrt(sum(c^2)) at that shift.
4. Hard-decide, BCH-decode, check the keyed tag. The first candidate that decodes wins.

Acceptance rule and its false-positive bound. With no watermark, every z_i's sign is a fair coin
independent of the others for any content (chip signs are keyed, per-bit chip sets are disjoint,
and the shift search is invariant to flipping any bit's chips), so each decoded word is uniform.
A clip is accepted only if some tried word is within 13 errors of a check-valid codeword:

    P(false alarm per clip) <= W * 2^32 * V(127, 13) / 2^127 = W * 5.4e-12

with W <= MAX_WORDS = 16 words tried per clip: <= 8.7e-11 (goal 1e-6).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from candor.errors import InvalidInput
from candor.provenance.watermark.key import WatermarkKey
from candor.provenance.watermark.pattern import (
    BLOCK,
    TILE,
    TILE_BLOCKS,
    TileLayout,
    block_band,
    luma,
)
from candor.provenance.watermark.payload import CODE_BITS, decode_payload, encode_payload, false_positive_bound

MAX_WORDS = 16  # decode attempts per clip: the union bound's multiplier
MIN_SCALE, MAX_SCALE = 0.5, 2.0  # resize factors (attacked px per embedded px) searched


@dataclass
class WatermarkDetection:
    """What the detector says about one clip.

    ``confidence`` is 1 - (analytic probability that unmarked content would be accepted with as few
    corrected errors), 0 when nothing was found. ``bit_accuracy`` is the fraction of the 127 received
    bits that agree with the decoded codeword (None when nothing was found).
    """

    found: bool
    serial: int | None
    confidence: float
    bit_accuracy: float | None
    frames_used: int
    errors_corrected: int | None = None
    false_positive_bound: float | None = None
    scale: tuple[float, float] | None = None  # (y, x) attacked pixels per embedded pixel
    offset: tuple[int, int] | None = None  # (y, x) tile-grid shift in embedded pixels, mod 128

    def to_dict(self) -> dict:
        out = asdict(self)
        for name in ("scale", "offset"):
            if out[name] is not None:
                out[name] = list(out[name])
        return out


class _Folder:
    """Per-key precomputation: bit spectra for the shift search and the slot layout."""

    def __init__(self, key: WatermarkKey) -> None:
        self.key = key
        self.layout = TileLayout(key)
        tiles = self.layout.bit_tiles  # (127, 128, 128)
        self.bit_spectra = np.conj(np.fft.rfft2(tiles)).astype(np.complex64)
        self.inv_slots = (1.0 / self.layout.slots_per_bit).astype(np.float32)
        self.bit_flat = self.layout.bit.ravel()
        self.chip_flat = self.layout.chip.ravel()

    def z_of_tile(self, tile: np.ndarray) -> np.ndarray:
        """Aligned folded tile (128, 128) -> self-normalized bit statistics z (127,)."""
        c = block_band(tile.astype(np.float32)).ravel()
        s = np.bincount(self.bit_flat, weights=c * self.chip_flat, minlength=CODE_BITS)
        norm = np.sqrt(np.bincount(self.bit_flat, weights=c * c, minlength=CODE_BITS))
        return s / np.maximum(norm, 1e-9)

    def best_shift(self, folded: np.ndarray) -> tuple[int, int]:
        """The cyclic shift (dy, dx) maximizing sum_i corr_i^2 / slots_i."""
        spec = np.fft.rfft2(folded.astype(np.float32)).astype(np.complex64)
        corr = np.fft.irfft2(self.bit_spectra * spec[None], s=(TILE, TILE))
        energy = np.einsum("ihw,ihw,i->hw", corr, corr, self.inv_slots)
        dy, dx = np.unravel_index(int(np.argmax(energy)), energy.shape)
        return int(dy), int(dx)


def fold(y: np.ndarray) -> np.ndarray:
    """Luma (H, W) -> (128, 128): the sum of all its 128x128 tiles (mean removed, zero padded)."""
    y = y - y.mean()
    h, w = y.shape
    ph, pw = -(-h // TILE) * TILE, -(-w // TILE) * TILE
    padded = np.zeros((ph, pw), dtype=np.float64)
    padded[:h, :w] = y
    return padded.reshape(ph // TILE, TILE, pw // TILE, TILE).sum(axis=(0, 2))


def _rescale(y: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    import cv2

    if abs(scale[0] - 1.0) < 1e-6 and abs(scale[1] - 1.0) < 1e-6:
        return y
    h, w = y.shape
    size = (max(BLOCK, round(w / scale[1])), max(BLOCK, round(h / scale[0])))
    return cv2.resize(y.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)


def _period_peaks(profile: np.ndarray, n_peaks: int) -> list[float]:
    """Sub-pixel lags of the strongest local maxima of an autocorrelation profile (above baseline)."""
    from scipy.ndimage import median_filter

    resid = profile - median_filter(profile, size=15, mode="nearest")
    lo = int(np.ceil(TILE * MIN_SCALE))
    peaks = []
    for lag in range(lo + 1, len(profile) - 1):
        if resid[lag] > resid[lag - 1] and resid[lag] >= resid[lag + 1] and resid[lag] > 0:
            a, b, c = resid[lag - 1], resid[lag], resid[lag + 1]
            denom = a - 2 * b + c
            frac = 0.5 * (a - c) / denom if denom < 0 else 0.0
            peaks.append((b, lag + float(np.clip(frac, -0.5, 0.5))))
    peaks.sort(reverse=True)
    return [lag for _, lag in peaks[:n_peaks]]


def scale_candidates(mean_luma: np.ndarray, n_peaks: int = 2) -> list[tuple[float, float]]:
    """Scale hypotheses (y, x): identity first, then tile periods from the autocorrelation."""
    import cv2

    y = mean_luma.astype(np.float32)
    resid = y - cv2.GaussianBlur(y, (0, 0), 3.0)  # keep the carrier band, drop the host's bulk
    h, w = resid.shape
    spec = np.fft.rfft2(resid, s=(2 * h, 2 * w))
    ac = np.fft.irfft2(np.abs(spec) ** 2, s=(2 * h, 2 * w))
    max_x = min(int(TILE * MAX_SCALE), int(0.75 * w))
    max_y = min(int(TILE * MAX_SCALE), int(0.75 * h))
    prof_x = ac[0, : max_x + 2] / (w - np.arange(max_x + 2))  # unbiased by the overlap
    prof_y = ac[: max_y + 2, 0] / (h - np.arange(max_y + 2))
    lx = [lag / TILE for lag in _period_peaks(prof_x, n_peaks)]
    ly = [lag / TILE for lag in _period_peaks(prof_y, n_peaks)]
    cands: list[tuple[float, float]] = [(1.0, 1.0)]
    for sy in ly:
        for sx in lx:
            cands.append((sy, sx))
    for s in lx + ly:  # an isotropic resize seen along one axis only
        cands.append((s, s))
    out: list[tuple[float, float]] = []
    for c in cands:
        if all(abs(c[0] - o[0]) > 2e-3 or abs(c[1] - o[1]) > 2e-3 for o in out):
            out.append(c)
    return out[:MAX_WORDS]


def decode_mean_luma(
    mean_luma: np.ndarray, key: WatermarkKey, *, frames_used: int, folder: _Folder | None = None
) -> WatermarkDetection:
    """Detect in a clip's mean luma (H, W) float; see the module docstring for the rule."""
    if mean_luma.ndim != 2 or min(mean_luma.shape) < TILE // 2:
        raise InvalidInput("video frames are too small to carry the watermark (need >= 64 px)")
    folder = folder or _Folder(key)
    words = 0
    for scale in scale_candidates(mean_luma):
        folded = fold(_rescale(mean_luma, scale))
        dy, dx = folder.best_shift(folded)
        z = folder.z_of_tile(np.roll(folded, (-dy, -dx), axis=(0, 1)))
        words += 1
        decoded = decode_payload(key, z)
        if decoded is None:
            continue
        serial, n_errors = decoded
        expected = encode_payload(key, serial)
        bound = false_positive_bound(n_errors, words_tried=MAX_WORDS)
        return WatermarkDetection(
            found=True,
            serial=serial,
            confidence=float(1.0 - bound),
            bit_accuracy=float(np.mean(np.sign(z) == expected)),
            frames_used=frames_used,
            errors_corrected=n_errors,
            false_positive_bound=bound,
            scale=(float(scale[0]), float(scale[1])),
            offset=(dy, dx),
        )
    return WatermarkDetection(
        found=False,
        serial=None,
        confidence=0.0,
        bit_accuracy=None,
        frames_used=frames_used,
        false_positive_bound=false_positive_bound(words_tried=MAX_WORDS),
    )


class LumaAccumulator:
    """Running sum of frame luma (all frames must share one size)."""

    def __init__(self) -> None:
        self.total: np.ndarray | None = None
        self.count = 0

    def add(self, y: np.ndarray) -> None:
        if self.total is None:
            self.total = np.zeros(y.shape, dtype=np.float64)
        elif y.shape != self.total.shape:
            raise InvalidInput("all frames of a clip must have the same size")
        self.total += y
        self.count += 1

    def mean(self) -> np.ndarray:
        if self.total is None:
            raise InvalidInput("no frames to detect a watermark in")
        return self.total / self.count


def detect_frames(frames: Iterable[np.ndarray], key: WatermarkKey) -> WatermarkDetection:
    """Frames ((H, W, 3) uint8 RGB or (H, W) luma) of one clip -> the clip-level detection."""
    acc = LumaAccumulator()
    for frame in frames:
        arr = np.asarray(frame)
        if arr.ndim == 3 and arr.shape[2] == 3:
            acc.add(luma(arr))
        elif arr.ndim == 2:
            acc.add(arr.astype(np.float32))
        else:
            raise InvalidInput("frames must be (H, W, 3) RGB or (H, W) luma arrays")
    return decode_mean_luma(acc.mean(), key, frames_used=acc.count)


def frame_bit_statistics(
    y: np.ndarray, key: WatermarkKey, scale: tuple[float, float], offset: tuple[int, int]
) -> np.ndarray:
    """One frame's luma at a known alignment -> its 127 bit statistics z (for per-frame accuracy)."""
    folder = _Folder(key)
    folded = fold(_rescale(y, scale))
    return folder.z_of_tile(np.roll(folded, (-offset[0], -offset[1]), axis=(0, 1)))


__all__ = ["TILE_BLOCKS", "WatermarkDetection", "decode_mean_luma", "detect_frames", "frame_bit_statistics"]
