"""A binary BCH(127, 50) code correcting up to 13 bit errors, written from the textbook.

GF(2^7) with the primitive polynomial x^7 + x^3 + 1; the generator polynomial is the product of the
minimal polynomials of alpha^1 .. alpha^26 (11 cyclotomic cosets of size 7, degree 77). Encoding is
systematic (message in the high-order coefficients); decoding is syndromes, Berlekamp-Massey and a
Chien search. A word more than 13 errors from every codeword is reported as a failure when the
error locator has fewer roots than its degree (most such words); some are mis-corrected to another
codeword, which is why the payload also carries a keyed check.
"""

from __future__ import annotations

import numpy as np

N = 127  # code length (bits)
K = 50  # message length (bits)
T = 13  # errors corrected
_M = 7
_PRIM = 0b10001001  # x^7 + x^3 + 1


def _gf_tables() -> tuple[np.ndarray, np.ndarray]:
    exp = np.zeros(2 * N, dtype=np.int64)
    log = np.zeros(N + 1, dtype=np.int64)
    x = 1
    for i in range(N):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & (1 << _M):
            x ^= _PRIM
    exp[N:] = exp[:N]
    return exp, log


_EXP, _LOG = _gf_tables()


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return int(_EXP[_LOG[a] + _LOG[b]])


def _inv(a: int) -> int:
    return int(_EXP[(N - _LOG[a]) % N])


def _poly_mul_gf2(a: list[int], b: list[int]) -> list[int]:
    out = [0] * (len(a) + len(b) - 1)
    for i, ai in enumerate(a):
        if ai:
            for j, bj in enumerate(b):
                out[i + j] ^= bj
    return out


def _minimal_poly(coset: list[int]) -> list[int]:
    # prod (x - alpha^c) over the coset, computed in GF(2^7); the result has coefficients in GF(2).
    poly = [1]  # coefficients, lowest degree first
    for c in coset:
        root = int(_EXP[c])
        nxt = [0] * (len(poly) + 1)
        for i, p in enumerate(poly):
            nxt[i + 1] ^= p
            nxt[i] ^= _mul(p, root)
        poly = nxt
    assert all(p in (0, 1) for p in poly)
    return poly


def _generator() -> np.ndarray:
    seen: set[int] = set()
    g = [1]
    for i in range(1, 2 * T + 1):
        if i in seen:
            continue
        coset = sorted({(i << j) % N for j in range(_M)})
        seen.update(coset)
        g = _poly_mul_gf2(g, _minimal_poly(coset))
    assert len(g) - 1 == N - K, len(g)
    return np.array(g, dtype=np.uint8)


_G = _generator()  # lowest degree first, length 78


def encode(message: np.ndarray) -> np.ndarray:
    """Systematic encoding: ``message`` (K,) of 0/1 -> codeword (N,) of 0/1, parity first then message."""
    msg = np.asarray(message, dtype=np.uint8)
    if msg.shape != (K,) or np.any(msg > 1):
        raise ValueError(f"BCH message must be {K} bits of 0/1")
    # remainder of message(x) * x^(N-K) divided by g(x)
    rem = np.zeros(N, dtype=np.uint8)
    rem[N - K :] = msg
    deg_g = N - K
    for i in range(N - 1, deg_g - 1, -1):
        if rem[i]:
            rem[i - deg_g : i + 1] ^= _G
    code = np.empty(N, dtype=np.uint8)
    code[: N - K] = rem[: N - K]
    code[N - K :] = msg
    return code


def decode(word: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Correct up to T errors: ``word`` (N,) of 0/1 -> (message (K,), errors corrected), or None."""
    r = np.asarray(word, dtype=np.uint8)
    if r.shape != (N,):
        raise ValueError(f"BCH word must be {N} bits")
    ones = np.flatnonzero(r)
    # S_j = r(alpha^j), j = 1 .. 2T, all at once: XOR of alpha^(j * p) over the set positions p
    powers = _EXP[(np.arange(1, 2 * T + 1)[:, None] * ones[None, :]) % N]
    syn = [int(v) for v in np.bitwise_xor.reduce(powers, axis=1)] if len(ones) else [0] * (2 * T)
    if not any(syn):
        return r[N - K :].copy(), 0
    # Berlekamp-Massey over GF(2^7)
    lam = [1] + [0] * (2 * T)
    prev = [1] + [0] * (2 * T)
    length, shift, b = 0, 1, 1
    for n in range(2 * T):
        d = syn[n]
        for i in range(1, length + 1):
            d ^= _mul(lam[i], syn[n - i])
        if d == 0:
            shift += 1
            continue
        coef = _mul(d, _inv(b))
        new = lam.copy()
        for i in range(2 * T + 1 - shift):
            new[i + shift] ^= _mul(coef, prev[i])
        if 2 * length <= n:
            prev, lam = lam, new
            length, b, shift = n + 1 - length, d, 1
        else:
            lam = new
            shift += 1
    if length > T:
        return None
    # Chien search: error at position p where lam(alpha^-p) == 0, vectorized over all positions.
    positions = np.arange(N)
    acc = np.zeros(N, dtype=np.int64)
    for i in range(length + 1):
        if lam[i]:
            acc ^= _EXP[(_LOG[lam[i]] - i * positions) % N]
    errors = np.flatnonzero(acc == 0)
    if len(errors) != length:
        return None
    fixed = r.copy()
    fixed[errors] ^= 1
    return fixed[N - K :].copy(), int(length)


def _mul_table() -> np.ndarray:
    a = np.arange(N + 1)
    table = _EXP[(_LOG[a][:, None] + _LOG[a][None, :]) % N].astype(np.uint8)
    table[0, :] = 0
    table[:, 0] = 0
    return table


_MUL = _mul_table()
_INV = np.array(
    [0] + [_inv(a) for a in range(1, N + 1)], dtype=np.uint8
)  # (128, 128): the whole GF(2^7) multiplication table, one gather per product


def _gf_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise product in GF(2^7) of integer arrays (broadcasting)."""
    return _MUL[a, b]


_SYN_POWERS = _EXP[(np.arange(1, 2 * T + 1)[:, None] * np.arange(N)[None, :]) % N]  # (2T, N)
_CHIEN_POWERS = _EXP[(-np.arange(2 * T + 2)[:, None] * np.arange(N)[None, :]) % N].astype(np.uint8)


def decode_batch(words: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode many words at once (the same algorithm as :func:`decode`, vectorized over rows).

    ``words`` (P, N) of 0/1 -> (ok (P,) bool, messages (P, K) uint8, errors corrected (P,) int).
    """
    r = np.asarray(words, dtype=np.uint8)
    p = r.shape[0]
    # syndromes: XOR over the set positions of alpha^(j * position)
    syn = np.bitwise_xor.reduce(r[:, None, :] * _SYN_POWERS[None].astype(np.uint8), axis=2)  # (P, 2T)
    width = 2 * T + 2
    lam = np.zeros((p, width), dtype=np.uint8)
    lam[:, 0] = 1
    bx = np.zeros((p, width), dtype=np.uint8)  # x^m B(x), kept already shifted
    bx[:, 1] = 1
    length = np.zeros(p, dtype=np.int64)
    b = np.ones(p, dtype=np.uint8)
    for n in range(2 * T):
        d = syn[:, n].copy()
        for i in range(1, n + 1):
            d ^= _gf_mul(lam[:, i], syn[:, n - i])
        nonzero = d != 0
        coef = _gf_mul(d, _INV[b])  # d / b
        new = lam ^ _gf_mul(coef[:, None], bx)
        grow = nonzero & (2 * length <= n)
        shifted_lam = np.roll(lam, 1, axis=1)
        shifted_lam[:, 0] = 0
        shifted_bx = np.roll(bx, 1, axis=1)
        shifted_bx[:, 0] = 0
        bx = np.where(grow[:, None], shifted_lam, shifted_bx)
        length = np.where(grow, n + 1 - length, length)
        b = np.where(grow, d, b).astype(np.uint8)
        lam = np.where(nonzero[:, None], new, lam)
    # Chien search over all positions: lam(alpha^-pos) == 0
    values = np.bitwise_xor.reduce(_gf_mul(lam[:, :, None], _CHIEN_POWERS[None]), axis=1)  # (P, N)
    roots = values == 0
    ok = (length <= T) & (roots.sum(axis=1) == length)
    fixed = r ^ roots.astype(np.uint8)
    return ok, fixed[:, N - K :], np.where(ok, length, -1)
