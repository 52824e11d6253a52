"""Who signs a C2PA claim: the local encrypted key, or a KMS/HSM reached through a callback.

Both give c2pa a fresh native ``Signer`` per signing (a c2pa Signer is consumed or freed with its
Builder, and one per call keeps threads apart). ES256 only: the key store issues P-256 certificates.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from candor.errors import SigningFailed
from candor.provenance.keys import SigningIdentity, pem

if TYPE_CHECKING:
    import c2pa

ES256_SIGNATURE_BYTES = 64  # raw r || s, 32 bytes each, as COSE wants it


@runtime_checkable
class ClaimSigner(Protocol):
    """Anything that can sign a C2PA claim with an ES256 certificate chain."""

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """Leaf first, root last."""
        ...

    @property
    def tsa_url(self) -> str | None:
        """RFC 3161 timestamp authority, or None for no timestamp."""
        ...

    def c2pa_signer(self) -> c2pa.Signer:
        """A fresh native signer for one signing."""
        ...

    def raise_pending_error(self) -> None:
        """Re-raise, as a domain error, a failure the native side could only report as bad COSE."""
        ...


def _check_tsa(tsa_url: str | None) -> str | None:
    if tsa_url is not None and not tsa_url.startswith(("http://", "https://")):
        raise SigningFailed(f"the timestamp authority URL must be http(s): {tsa_url!r}")
    return tsa_url or None


class LocalKeySigner:
    """Signs with a decrypted key held in memory (from the encrypted key store)."""

    def __init__(self, identity: SigningIdentity, *, tsa_url: str | None = None) -> None:
        self._identity = identity
        self._tsa_url = _check_tsa(tsa_url)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return self._identity.chain

    @property
    def tsa_url(self) -> str | None:
        return self._tsa_url

    def c2pa_signer(self) -> c2pa.Signer:
        import c2pa

        info = c2pa.C2paSignerInfo(
            c2pa.C2paSigningAlg.ES256,
            self._identity.chain_pem.encode(),
            self._identity.private_key_pem(),
            self._tsa_url,
        )
        return c2pa.Signer.from_info(info)

    def raise_pending_error(self) -> None:
        return None


def _raw_es256(signature: bytes) -> bytes:
    """A KMS answers DER (SEQUENCE of r, s); COSE wants the fixed-size r || s."""
    if len(signature) == ES256_SIGNATURE_BYTES:
        return signature
    try:
        r, s = decode_dss_signature(signature)
    except ValueError as exc:
        raise SigningFailed("the signing callback returned neither raw r||s nor a DER ECDSA signature") from exc
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class CallbackSigner:
    """Signs through ``sign(data) -> signature``: a KMS or HSM holding the private key.

    ``sign`` must return an ECDSA P-256 / SHA-256 signature over ``data``, DER or raw r||s. c2pa can
    only report a failing callback as "COSE signature invalid", so the exception is kept here and
    re-raised by :meth:`raise_pending_error` with its real cause.
    """

    def __init__(
        self,
        sign: Callable[[bytes], bytes],
        chain: Sequence[x509.Certificate],
        *,
        tsa_url: str | None = None,
    ) -> None:
        if not chain:
            raise SigningFailed("a callback signer needs its certificate chain (leaf first)")
        self._sign = sign
        self._chain = tuple(chain)
        self._tsa_url = _check_tsa(tsa_url)
        # Per thread: c2pa calls the callback on the signing thread, and workers share one signer.
        self._local = threading.local()

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return self._chain

    @property
    def tsa_url(self) -> str | None:
        return self._tsa_url

    def _callback(self, data: bytes) -> bytes:
        try:
            return _raw_es256(self._sign(data))
        except Exception as exc:
            self._local.error = exc
            raise

    def c2pa_signer(self) -> c2pa.Signer:
        import c2pa

        self._local.error = None
        chain_pem = "".join(pem(c) for c in self._chain)
        return c2pa.Signer.from_callback(self._callback, c2pa.C2paSigningAlg.ES256, chain_pem, self._tsa_url)

    def raise_pending_error(self) -> None:
        error = getattr(self._local, "error", None)
        self._local.error = None
        if error is not None:
            raise SigningFailed(f"the KMS/HSM signing callback failed: {error}") from error
