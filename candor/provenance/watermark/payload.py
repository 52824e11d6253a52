"""The payload: generation serial + keyed check, BCH(127, 50)-coded, whitened with a keyed sequence.

Layout of the 50 message bits: 32 bits of serial, then an 18-bit keyed check (HMAC-SHA256 of the
serial, truncated; it plays the keyed CRC's part without a CRC's linear structure). The 127-bit
codeword is XORed with a keyed whitening sequence so an unmarked video, whose raw bits may be
lopsided, does not decode to a fixed pattern.

False positives. Under "no watermark" the detector's hard bits are independent fair coins (the chip
signs are keyed and independent of the content, and each bit's statistic is symmetric in its chips).
A word is accepted only if it lies within 13 errors of one of the 2^32 codewords whose check matches:

    P(accept one word) = 2^32 * V(127, 13) / 2^127,   V(n, t) = sum_{i<=t} C(n, i)

which :func:`false_positive_bound` evaluates (about 6.6e-12); the detector multiplies it by the number
of words it tries per clip.
"""

from __future__ import annotations

from math import comb, log2

import numpy as np

from candor.errors import InvalidInput
from candor.provenance.watermark import bch
from candor.provenance.watermark.key import WatermarkKey

SERIAL_BITS = 32
CHECK_BITS = bch.K - SERIAL_BITS  # 18
CODE_BITS = bch.N  # 127


def check_serial(serial: int) -> int:
    if not isinstance(serial, int | np.integer) or isinstance(serial, bool):
        raise InvalidInput("watermark serial must be an integer")
    if not 0 <= int(serial) < (1 << SERIAL_BITS):
        raise InvalidInput(f"watermark serial must be in [0, 2^{SERIAL_BITS})")
    return int(serial)


def _int_bits(value: int, n: int) -> np.ndarray:
    return np.array([(value >> (n - 1 - i)) & 1 for i in range(n)], dtype=np.uint8)


def _bits_int(bits: np.ndarray) -> int:
    out = 0
    for b in bits:
        out = (out << 1) | int(b)
    return out


def encode_payload(key: WatermarkKey, serial: int) -> np.ndarray:
    """serial -> the 127 transmitted bits as +-1 floats (whitened codeword)."""
    serial = check_serial(serial)
    check = key.tag(serial.to_bytes(4, "big"), CHECK_BITS)
    message = np.concatenate([_int_bits(serial, SERIAL_BITS), _int_bits(check, CHECK_BITS)])
    word = bch.encode(message) ^ key.bits("whiten", CODE_BITS)
    return 1.0 - 2.0 * word.astype(np.float32)  # bit 0 -> +1, bit 1 -> -1


def decode_payload(key: WatermarkKey, soft: np.ndarray) -> tuple[int, int] | None:
    """Soft statistics (127,), positive meaning bit 0 -> (serial, errors corrected), or None."""
    word = (np.asarray(soft) < 0).astype(np.uint8) ^ key.bits("whiten", CODE_BITS)
    out = bch.decode(word)
    if out is None:
        return None
    message, n_errors = out
    serial = _bits_int(message[:SERIAL_BITS])
    if _bits_int(message[SERIAL_BITS:]) != key.tag(serial.to_bytes(4, "big"), CHECK_BITS):
        return None
    return serial, n_errors


def false_positive_bound(max_errors: int = bch.T, words_tried: int = 1) -> float:
    """Probability that unmarked content is accepted (union bound over ``words_tried``).

    Accepting only words within ``max_errors`` of a check-valid codeword.
    """
    volume = sum(comb(bch.N, i) for i in range(max_errors + 1))
    log_p = SERIAL_BITS + log2(volume) - bch.N
    return min(1.0, words_tried * 2.0**log_p)
