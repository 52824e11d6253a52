"""The keyed tile pattern in luma block-DCT space, and the embedder.

Geometry. Luma is cut into 16x16 blocks; in each block 25 DCT coefficients of the low-mid band
(2 <= u + v <= 6: periods of about 5 to 16 pixels, which H.264 at CRF 23-32 and a 2x downscale keep)
carry chips. 8x8 blocks make a 128x128-pixel tile of 1600 slots; a keyed permutation gives each of
the 127 code bits 12 or 13 slots and each slot a keyed +-1 chip. The same tile repeats over the
frame from its top-left corner and the same pattern goes into every frame, so the detector can fold
any crop of any frame size back onto one tile and average a whole clip.

Embedding. Uniform strength ``alpha`` on every slot (texture-adaptive strength was measured to hurt
H.264 robustness) plus host-interference cancellation: per tile and per bit, ``lambda`` times the
host's own projection on that bit's chips is removed, so the content of the frame does not vote.
The luma change is added equally to R, G and B, which leaves chroma untouched.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from candor.errors import InvalidInput
from candor.provenance.watermark.key import WatermarkKey
from candor.provenance.watermark.payload import CODE_BITS, encode_payload

BLOCK = 16  # pixels per block side
TILE_BLOCKS = 8  # blocks per tile side
TILE = BLOCK * TILE_BLOCKS  # 128 pixels
BAND_LOW, BAND_HIGH = 2, 6  # u + v range of the carrier band
_U_MAX = BAND_HIGH + 1  # rows of the DCT matrix needed

ALPHA = 3.4  # chip amplitude per orthonormal DCT coefficient (8-bit luma units): PSNR ~41-42 dB
ISS_LAMBDA = 0.8  # fraction of the host's projection removed per tile and bit


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_D = _dct_matrix(BLOCK)[:_U_MAX].astype(np.float32)  # (7, 16)
_UV = [(u, v) for u in range(_U_MAX) for v in range(_U_MAX) if BAND_LOW <= u + v <= BAND_HIGH]
BAND_SIZE = len(_UV)  # 25
_BAND_FLAT = np.array([u * _U_MAX + v for u, v in _UV])  # index into the 7x7 corner
BAND_U = np.array([u for u, _ in _UV])
BAND_V = np.array([v for _, v in _UV])
SLOTS = TILE_BLOCKS * TILE_BLOCKS * BAND_SIZE  # 1600


def block_band(y: np.ndarray) -> np.ndarray:
    """Luma (H, W) float32 -> band coefficients (H//16, W//16, 25) of its full 16x16 blocks."""
    nby, nbx = y.shape[0] // BLOCK, y.shape[1] // BLOCK
    yb = y[: nby * BLOCK, : nbx * BLOCK].reshape(nby, BLOCK, nbx * BLOCK)
    rows = np.matmul(_D, yb)  # (nby, 7, W') row transform of each block row
    full = np.matmul(rows.reshape(nby, _U_MAX, nbx, BLOCK), _D.T)  # (nby, 7, nbx, 7)
    return full.transpose(0, 2, 1, 3).reshape(nby, nbx, _U_MAX * _U_MAX)[..., _BAND_FLAT]


def block_band_inverse(coeffs: np.ndarray) -> np.ndarray:
    """Band coefficients (nby, nbx, 25) -> luma (nby*16, nbx*16) float32 (other coefficients zero)."""
    nby, nbx, _ = coeffs.shape
    full = np.zeros((nby, nbx, _U_MAX * _U_MAX), dtype=np.float32)
    full[..., _BAND_FLAT] = coeffs
    full = full.reshape(nby, nbx, _U_MAX, _U_MAX).transpose(0, 2, 1, 3)  # (nby, 7, nbx, 7)
    cols = np.matmul(full, _D)  # (nby, 7, nbx, 16)
    return np.matmul(_D.T, cols.reshape(nby, _U_MAX, nbx * BLOCK)).reshape(nby * BLOCK, nbx * BLOCK)


class TileLayout:
    """Which code bit and which chip sign each of the tile's 1600 slots carries (keyed)."""

    def __init__(self, key: WatermarkKey) -> None:
        order = key.permutation("slots", SLOTS)
        bit = np.empty(SLOTS, dtype=np.int64)
        bit[order] = np.arange(SLOTS) % CODE_BITS
        chip = 1.0 - 2.0 * key.bits("chips", SLOTS).astype(np.float32)
        self.bit = bit.reshape(TILE_BLOCKS, TILE_BLOCKS, BAND_SIZE)
        self.chip = chip.reshape(TILE_BLOCKS, TILE_BLOCKS, BAND_SIZE)
        self.slots_per_bit = np.bincount(bit, minlength=CODE_BITS)

    def tiled(self, nby: int, nbx: int) -> tuple[np.ndarray, np.ndarray]:
        """(bit, chip), each (nby, nbx, 25), for a grid of blocks anchored at the tile origin."""
        ry = np.arange(nby) % TILE_BLOCKS
        rx = np.arange(nbx) % TILE_BLOCKS
        bit = self.bit[ry][:, rx]
        chip = self.chip[ry][:, rx]
        return bit, chip

    @cached_property
    def bit_tiles(self) -> np.ndarray:
        """(127, 128, 128) float32: each bit's unit-chip spatial pattern over one tile."""
        out = np.zeros((CODE_BITS, TILE, TILE), dtype=np.float32)
        for i in range(CODE_BITS):
            out[i] = block_band_inverse(np.where(self.bit == i, self.chip, 0.0).astype(np.float32))
        return out


def luma(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float32 BT.601 luma."""
    return frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


class WatermarkEmbedder:
    """Marks frames with one serial under one key; the pattern is precomputed per frame size.

    ``frame_size`` is (height, width) in pixels of the frames to come (other sizes work too, at the
    cost of one more precomputation each).
    """

    def __init__(self, key: WatermarkKey, serial: int, frame_size: tuple[int, int] = (512, 512)) -> None:
        self.key = key
        self.serial = serial
        self.layout = TileLayout(key)
        bits = encode_payload(key, serial)
        self._tile_coeffs = (ALPHA * self.layout.chip * bits[self.layout.bit]).astype(np.float32)
        self._cache: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}
        self._prepare(tuple(frame_size))

    def _prepare(self, size: tuple[int, int]) -> tuple[np.ndarray, ...]:
        if size not in self._cache:
            nby, nbx = size[0] // BLOCK, size[1] // BLOCK
            if nby < 1 or nbx < 1:
                raise InvalidInput(f"frame {size[1]}x{size[0]} is too small to watermark")
            bit, chip = self.layout.tiled(nby, nbx)
            reps = (-(-nby // TILE_BLOCKS), -(-nbx // TILE_BLOCKS), 1)
            coeffs = np.tile(self._tile_coeffs, reps)[:nby, :nbx]
            pattern = block_band_inverse(coeffs)
            label = bit.ravel()
            counts = np.maximum(np.bincount(label, minlength=CODE_BITS), 1).astype(np.float32)
            self._cache[size] = (pattern, label, chip.astype(np.float32), counts)
        return self._cache[size]

    def embed(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> the same frame, watermarked (a new array)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InvalidInput("watermark embed expects an (H, W, 3) uint8 RGB frame")
        pattern, label, chip, counts = self._prepare(frame.shape[:2])
        ph, pw = pattern.shape
        y = luma(frame[:ph, :pw])
        coeffs = block_band(y)
        # host-interference cancellation: per bit, remove lambda x the frame's own chip projection
        proj = np.bincount(label, weights=(coeffs * chip).ravel(), minlength=len(counts)) / counts
        correction = (-ISS_LAMBDA * proj[label].reshape(chip.shape) * chip).astype(np.float32)
        delta = pattern + block_band_inverse(correction)
        out = frame.copy()
        region = out[:ph, :pw].astype(np.int16)
        region += np.rint(delta).astype(np.int16)[..., None]
        np.clip(region, 0, 255, out=region)
        out[:ph, :pw] = region
        return out
