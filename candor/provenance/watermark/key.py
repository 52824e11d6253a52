"""The watermark key: the service's secret and the keyed sequences derived from it.

Everything keyed (which DCT slot carries which bit, the chip signs, the whitening sequence, the check
tag) is derived from the secret with SHAKE-256 / HMAC-SHA256, never from numpy's generators, so a
mark embedded today decodes with any later numpy.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from pathlib import Path

import numpy as np

from candor.errors import InvalidInput

_DOMAIN = b"candor-watermark-ss1/"
SECRET_FILE_NAME = "watermark.secret"
_MIN_SECRET_BYTES = 16


class WatermarkKey:
    """The service's watermark secret. Nothing embeds or decodes without it."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise InvalidInput(f"watermark secret must be at least {_MIN_SECRET_BYTES} bytes")
        self._secret = bytes(secret)
        # a short public fingerprint to tell keys apart in logs without revealing them
        self.key_id = hashlib.sha256(_DOMAIN + b"id/" + self._secret).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"WatermarkKey(id={self.key_id})"

    # equal secrets are the same key (so per-key precomputations are shared between instances)
    def __eq__(self, other: object) -> bool:
        return isinstance(other, WatermarkKey) and hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.key_id)

    @classmethod
    def from_bytes(cls, secret: bytes) -> WatermarkKey:
        """A key from raw secret bytes (>= 16 bytes)."""
        return cls(secret)

    @classmethod
    def from_secret(cls, secret: str | None, *, dev_secret_dir: Path, production: bool) -> WatermarkKey:
        """The key for the configured secret (CANDOR_WATERMARK_SECRET).

        Outside production no secret (``None``) means "use the development secret": 32 random bytes
        in ``dev_secret_dir / watermark.secret``, created with mode 0600 on first use. Production
        refuses to run without a real secret.
        """
        if secret is not None:
            return cls(secret.encode("utf-8"))
        if production:
            raise InvalidInput("CANDOR_WATERMARK_SECRET must be set to a real secret in production")
        return cls(_dev_secret(Path(dev_secret_dir) / SECRET_FILE_NAME))

    # -- keyed sequences ---------------------------------------------------------------------

    def stream(self, label: str, n_bytes: int) -> bytes:
        """``n_bytes`` of keyed pseudo-random bytes for the purpose named by ``label``."""
        return hashlib.shake_256(_DOMAIN + label.encode() + b"/" + self._secret).digest(n_bytes)

    def bits(self, label: str, n: int) -> np.ndarray:
        """``n`` keyed pseudo-random bits (uint8 0/1)."""
        raw = np.frombuffer(self.stream(label, (n + 7) // 8), dtype=np.uint8)
        return np.unpackbits(raw)[:n].copy()

    def permutation(self, label: str, n: int) -> np.ndarray:
        """A keyed permutation of ``range(n)`` (argsort of keyed 64-bit draws)."""
        draws = np.frombuffer(self.stream(label, 8 * n), dtype="<u8")
        return np.argsort(draws, kind="stable")

    def tag(self, message: bytes, n_bits: int) -> int:
        """A keyed check of ``message`` truncated to ``n_bits`` (HMAC-SHA256)."""
        digest = hmac.new(self._secret, _DOMAIN + b"check/" + message, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") >> (64 - n_bits)


def _dev_secret(path: Path) -> bytes:
    """Read the development secret file, creating it (0600, atomically, never overwriting) if absent."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(32))
        with contextlib.suppress(FileExistsError):  # another process won the race: use theirs
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()
