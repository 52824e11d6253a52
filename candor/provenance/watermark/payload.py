"""The payload: generation serial + keyed check, BCH(127, 50)-coded, whitened with a keyed sequence.

Layout of the 50 message bits: 32 bits of serial, then an 18-bit keyed check (HMAC-SHA256 of the
serial, truncated; it plays the keyed CRC's part without a CRC's linear structure). The 127-bit
codeword is XORed with a keyed whitening sequence so an unmarked video, whose raw bits may be
lopsided, does not decode to a fixed pattern.

False positives. Under "no watermark" the detector's hard bits are independent fair coins (the chip
signs are keyed and independent of the content, and each bit's statistic is symmetric in its chips).
A word is accepted only if it lies within 13 errors of one of the 2^32 codewords whose check matches:

    P(accept one word) = 2^32 * V(127, 13) / 2^127,   V(n, t) = sum_{i<=t} C(n, i)

which :func:`false_positive_bound` evaluates (5.4e-12); the detector multiplies it by the number of
words it tries per clip (Chase decoding tries several words per hypothesis).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from math import comb, log2

import numpy as np

from candor.errors import InvalidInput
from candor.provenance.watermark import bch
from candor.provenance.watermark.key import WatermarkKey

SERIAL_BITS = 32
CHECK_BITS = bch.K - SERIAL_BITS  # 18
CODE_BITS = bch.N  # 127
CHASE_BITS = 14  # least reliable bits a Chase decode may flip
CHASE_FLIPS = 4  # at most this many at once: 1 + 14 + 91 + 364 + 1001 = 1471 words


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


def _try_word(key: WatermarkKey, word: np.ndarray) -> tuple[int, int] | None:
    out = bch.decode(word)
    if out is None:
        return None
    message, n_errors = out
    serial = _bits_int(message[:SERIAL_BITS])
    if _bits_int(message[SERIAL_BITS:]) != key.tag(serial.to_bytes(4, "big"), CHECK_BITS):
        return None
    return serial, n_errors


@lru_cache(maxsize=1)
def _chase_flips() -> np.ndarray:
    """(patterns, CHASE_BITS) 0/1: every set of at most CHASE_FLIPS positions, fewest first."""
    rows = [np.zeros(CHASE_BITS, dtype=np.uint8)]
    for n_flip in range(1, CHASE_FLIPS + 1):
        for idx in combinations(range(CHASE_BITS), n_flip):
            row = np.zeros(CHASE_BITS, dtype=np.uint8)
            row[list(idx)] = 1
            rows.append(row)
    return np.stack(rows)


def chase_patterns(n_least_reliable: int = CHASE_BITS, max_flips: int = CHASE_FLIPS) -> int:
    """How many words one Chase decode tries (the plain word included)."""
    return sum(comb(n_least_reliable, f) for f in range(max_flips + 1))


def decode_payload(key: WatermarkKey, soft: np.ndarray, *, chase: bool = False) -> tuple[tuple[int, int] | None, int]:
    """Soft statistics (127,), positive meaning bit 0 -> ((serial, bit errors), words tried).

    With ``chase`` (Chase-II decoding), up to ``CHASE_FLIPS`` of the ``CHASE_BITS`` least reliable
    bits (smallest |z|) are flipped before BCH decoding, which corrects words a few errors beyond 13
    when the extra errors sit where the statistics were weak. Every flipped word counts as a word
    tried in the false-positive bound. ``bit errors`` counts disagreements with the hard decisions.
    """
    soft = np.asarray(soft, dtype=np.float64)
    hard = (soft < 0).astype(np.uint8)
    word = hard ^ key.bits("whiten", CODE_BITS)
    tried = 1
    found = _try_word(key, word)
    if found is None and chase:
        patterns = _chase_flips()
        weak = np.argsort(np.abs(soft), kind="stable")[:CHASE_BITS]
        flips = np.zeros((len(patterns), CODE_BITS), dtype=np.uint8)
        flips[:, weak] = patterns
        ok, messages, _ = bch.decode_batch(flips[1:] ^ word[None])  # row 0 is the plain word
        tried += len(patterns) - 1
        for row in np.flatnonzero(ok):  # fewest flips first
            serial = _bits_int(messages[row, :SERIAL_BITS])
            if _bits_int(messages[row, SERIAL_BITS:]) == key.tag(serial.to_bytes(4, "big"), CHECK_BITS):
                found = (serial, -1)
                break
    if found is None:
        return None, tried
    serial = found[0]
    errors = int(np.sum((encode_payload(key, serial) < 0) != (soft < 0)))
    return (serial, errors), tried


def false_positive_bound(max_errors: int = bch.T, words_tried: int = 1) -> float:
    """Probability that unmarked content is accepted (union bound over ``words_tried``).

    Each word tried is accepted only if it lies within ``max_errors`` of a check-valid codeword.
    """
    volume = sum(comb(bch.N, i) for i in range(max_errors + 1))
    log_p = SERIAL_BITS + log2(volume) - bch.N
    return min(1.0, words_tried * 2.0**log_p)
