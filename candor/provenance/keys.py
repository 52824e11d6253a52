"""Signing keys: an offline root CA and the ES256 certificate that signs C2PA claims.

Layout of a key store (``CANDOR_KEYS_DIR``, default ``<data_dir>/keys``)::

    roots/<id>.cert.pem      every root ever made: all stay trust anchors, so rotation keeps old
    roots/<id>.key.pem       outputs verifiable (the key may be moved offline after `keys init`)
    signing/<id>.cert.pem    every signing certificate ever issued (old ones kept for audit)
    signing/<id>.key.pem
    current.json             {"root": id, "signing": id}

Private keys are PKCS#8, encrypted with the passphrase (``CANDOR_KEY_PASSPHRASE`` or the file named
by ``CANDOR_KEY_PASSPHRASE_FILE``), written with mode 0600 via a temp file and ``os.replace``.

c2pa-rs 0.91 rejects a leaf without keyUsage digitalSignature, an extended key usage it accepts, or
an AuthorityKeyIdentifier; :func:`check_signing_certificate` refuses such a certificate up front with
a message instead of an opaque signing error.

(Over 400 lines on purpose: the store's layout, certificate profiles, creation, rotation and loading
are one format; splitting them would scatter the invariants each relies on.)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from candor.errors import KeyStoreError, SigningCertificateRejected
from candor.files import atomic_write_bytes

C2PA_CLAIM_SIGNING_OID = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
# The EKUs c2pa-rs accepts for a claim signer without a custom trust configuration, plus the C2PA one.
ACCEPTED_EKUS = frozenset({ExtendedKeyUsageOID.EMAIL_PROTECTION, C2PA_CLAIM_SIGNING_OID})
ROOT_VALIDITY = dt.timedelta(days=3650)
SIGNING_VALIDITY = dt.timedelta(days=397)  # about 13 months: rotate yearly
BACKDATE = dt.timedelta(minutes=5)  # tolerate clock skew between signer and verifier
DEV_PASSPHRASE_FILE = ".dev-passphrase"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


def make_root_certificate(
    key: ec.EllipticCurvePrivateKey,
    *,
    organization: str = "Candor",
    common_name: str = "Candor Provenance Root CA",
    not_before: dt.datetime | None = None,
    validity: dt.timedelta = ROOT_VALIDITY,
) -> x509.Certificate:
    """A self-signed CA certificate (pathLen 0: it signs signing certificates only)."""
    start = not_before or _now() - BACKDATE
    name = _name(common_name, organization)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def make_signing_certificate(
    public_key: ec.EllipticCurvePublicKey,
    *,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate,
    organization: str = "Candor",
    common_name: str = "Candor Content Credentials",
    not_before: dt.datetime | None = None,
    validity: dt.timedelta = SIGNING_VALIDITY,
    ekus: Sequence[ObjectIdentifier] = (ExtendedKeyUsageOID.EMAIL_PROTECTION, C2PA_CLAIM_SIGNING_OID),
) -> x509.Certificate:
    """A C2PA claim-signing leaf issued by ``issuer``: keyUsage digitalSignature (critical), EKU, AKI."""
    start = not_before or _now() - BACKDATE
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def check_signing_certificate(cert: x509.Certificate, *, now: dt.datetime | None = None) -> None:
    """Refuse a certificate that cannot sign C2PA claims; the message names what is wrong.

    Raises :class:`SigningCertificateRejected` when it is expired or not yet valid, is not an ES256
    (P-256) key, or lacks keyUsage digitalSignature, an accepted EKU or an AuthorityKeyIdentifier.
    """
    when = now or _now()
    subject = cert.subject.rfc4514_string()
    if when > cert.not_valid_after_utc:
        raise SigningCertificateRejected(
            f"signing certificate {subject} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC: "
            "run `candor keys rotate`"
        )
    if when < cert.not_valid_before_utc:
        raise SigningCertificateRejected(
            f"signing certificate {subject} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    public = cert.public_key()
    if not (isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1)):
        raise SigningCertificateRejected(f"signing certificate {subject} is not an ES256 (P-256) key")
    extensions = {ext.oid: ext for ext in cert.extensions}
    key_usage = extensions.get(x509.oid.ExtensionOID.KEY_USAGE)
    if key_usage is None or not key_usage.value.digital_signature:
        raise SigningCertificateRejected(
            f"signing certificate {subject} lacks keyUsage digitalSignature (C2PA requires it)"
        )
    eku = extensions.get(x509.oid.ExtensionOID.EXTENDED_KEY_USAGE)
    if eku is None or not ACCEPTED_EKUS & set(eku.value):
        found = ", ".join(getattr(o, "_name", o.dotted_string) for o in eku.value) if eku else "none"
        raise SigningCertificateRejected(
            f"signing certificate {subject} has the wrong extended key usage ({found}): C2PA claim "
            f"signing needs emailProtection or {C2PA_CLAIM_SIGNING_OID.dotted_string}"
        )
    if x509.oid.ExtensionOID.AUTHORITY_KEY_IDENTIFIER not in extensions:
        raise SigningCertificateRejected(f"signing certificate {subject} lacks an AuthorityKeyIdentifier")


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lowercase hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class SigningIdentity:
    """A decrypted signing key with its certificate chain (leaf first, root last)."""

    private_key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def chain_pem(self) -> str:
        return "".join(pem(c) for c in self.chain)

    def private_key_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM, held in memory only, for the native signer."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _new_id() -> str:
    return f"{_now():%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(2)}"


class KeyStore:
    """The on-disk key store; every method takes the passphrase it needs, nothing is cached."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @property
    def _current_file(self) -> Path:
        return self.directory / "current.json"

    def exists(self) -> bool:
        return self._current_file.is_file()

    def _current(self) -> dict[str, str]:
        if not self.exists():
            raise KeyStoreError(f"no signing keys in {self.directory}: run `candor keys init`")
        return json.loads(self._current_file.read_text())

    def _save_key(self, path: Path, key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> None:
        data = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
        atomic_write_bytes(path, data, mode=0o600)

    def _load_key(self, path: Path, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
        if not path.is_file():
            raise KeyStoreError(f"private key {path} is missing (an offline root must be brought back)")
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
        except (ValueError, TypeError) as exc:
            raise KeyStoreError(f"cannot decrypt {path}: wrong passphrase (CANDOR_KEY_PASSPHRASE / _FILE)?") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyStoreError(f"{path} is not an EC private key")
        return key

    @staticmethod
    def _load_cert(path: Path) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"cannot read certificate {path}: {exc}") from exc

    def _new_root(self, passphrase: bytes, organization: str) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = make_root_certificate(key, organization=organization)
        root_id = _new_id()
        self._save_key(self.directory / "roots" / f"{root_id}.key.pem", key, passphrase)
        atomic_write_bytes(self.directory / "roots" / f"{root_id}.cert.pem", pem(cert).encode(), mode=0o644)
        return root_id

    def _new_signing(self, root_id: str, passphrase: bytes, organization: str) -> str:
        root_key = self._load_key(self.directory / "roots" / f"{root_id}.key.pem", passphrase)
        root_cert = self._load_cert(self.directory / "roots" / f"{root_id}.cert.pem")
        key = ec.generate_private_key(ec.SECP256R1())
        cert = make_signing_certificate(
            key.public_key(), issuer_key=root_key, issuer=root_cert, organization=organization
        )
        signing_id = _new_id()
        self._save_key(self.directory / "signing" / f"{signing_id}.key.pem", key, passphrase)
        atomic_write_bytes(self.directory / "signing" / f"{signing_id}.cert.pem", pem(cert).encode(), mode=0o644)
        return signing_id

    def _set_current(self, root_id: str, signing_id: str) -> None:
        body = json.dumps({"root": root_id, "signing": signing_id}, indent=2).encode()
        atomic_write_bytes(self._current_file, body, mode=0o644)

    def init(self, passphrase: bytes, *, organization: str = "Candor") -> SigningIdentity:
        """Create a root CA and a first signing certificate; refuses to overwrite an existing store."""
        if self.exists():
            raise KeyStoreError(f"signing keys already exist in {self.directory}: use `candor keys rotate`")
        _require_passphrase(passphrase)
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        root_id = self._new_root(passphrase, organization)
        signing_id = self._new_signing(root_id, passphrase, organization)
        self._set_current(root_id, signing_id)
        return self.load_signing(passphrase)

    def rotate(self, passphrase: bytes, *, new_root: bool = False, organization: str = "Candor") -> SigningIdentity:
        """Issue a new signing certificate (and optionally a new root); old ones stay for verification."""
        current = self._current()
        root_id = self._new_root(passphrase, organization) if new_root else current["root"]
        signing_id = self._new_signing(root_id, passphrase, organization)
        self._set_current(root_id, signing_id)
        return self.load_signing(passphrase)

    def load_signing(self, passphrase: bytes) -> SigningIdentity:
        """The current signing key (decrypted) with its chain; checks the certificate can still sign."""
        current = self._current()
        cert = self._load_cert(self.directory / "signing" / f"{current['signing']}.cert.pem")
        root = self._load_cert(self.directory / "roots" / f"{current['root']}.cert.pem")
        key = self._load_key(self.directory / "signing" / f"{current['signing']}.key.pem", passphrase)
        check_signing_certificate(cert)
        return SigningIdentity(private_key=key, chain=(cert, root))

    def root_certificates(self) -> list[x509.Certificate]:
        """Every root this store ever made, oldest first (all are trust anchors)."""
        return [self._load_cert(p) for p in sorted((self.directory / "roots").glob("*.cert.pem"))]

    def signing_certificates(self) -> list[tuple[str, x509.Certificate]]:
        """Every signing certificate ever issued, oldest first, with its id."""
        paths = sorted((self.directory / "signing").glob("*.cert.pem"))
        return [(p.name.removesuffix(".cert.pem"), self._load_cert(p)) for p in paths]

    def describe(self) -> dict[str, object]:
        """A JSON-able summary for `candor keys show` (no secrets)."""
        current = self._current()

        def info(cert_id: str, cert: x509.Certificate) -> dict[str, object]:
            return {
                "id": cert_id,
                "subject": cert.subject.rfc4514_string(),
                "issuer": cert.issuer.rfc4514_string(),
                "not_before": cert.not_valid_before_utc.isoformat(),
                "not_after": cert.not_valid_after_utc.isoformat(),
                "sha256": fingerprint(cert),
            }

        roots = sorted((self.directory / "roots").glob("*.cert.pem"))
        return {
            "directory": str(self.directory),
            "current": current,
            "roots": [info(p.name.removesuffix(".cert.pem"), self._load_cert(p)) for p in roots],
            "signing": [info(i, c) for i, c in self.signing_certificates()],
        }


def _require_passphrase(passphrase: bytes) -> None:
    if len(passphrase) < 12:
        raise KeyStoreError("the key passphrase must be at least 12 characters")


def resolve_passphrase(
    keys_dir: Path, *, passphrase: str | None = None, passphrase_file: Path | None = None, development: bool = False
) -> bytes:
    """The key passphrase: ``passphrase`` (CANDOR_KEY_PASSPHRASE), else the secret file
    ``passphrase_file`` (CANDOR_KEY_PASSPHRASE_FILE), else (``development`` only) the generated
    ``.dev-passphrase`` in the key store ``keys_dir``."""
    if passphrase is not None:
        return passphrase.encode()
    if passphrase_file is not None:
        try:
            return passphrase_file.read_text().rstrip("\r\n").encode()
        except OSError as exc:
            raise KeyStoreError(f"cannot read the key passphrase file {passphrase_file}") from exc
    dev_file = keys_dir / DEV_PASSPHRASE_FILE
    if development:
        if not dev_file.is_file():
            # Development convenience only: a random passphrase next to the keys, mode 0600.
            atomic_write_bytes(dev_file, secrets.token_urlsafe(24).encode(), mode=0o600)
        return dev_file.read_bytes()
    raise KeyStoreError("set CANDOR_KEY_PASSPHRASE or CANDOR_KEY_PASSPHRASE_FILE to unlock the signing keys")


def ensure_keys(keys_dir: Path, passphrase: bytes, *, development: bool = False) -> KeyStore:
    """The key store in ``keys_dir``; in development it is created on first use so `make demo`
    needs no setup, elsewhere a missing store is an error naming `candor keys init`."""
    store = KeyStore(keys_dir)
    if store.exists():
        return store
    if not development:
        raise KeyStoreError(f"no signing keys in {store.directory}: run `candor keys init`")
    store.init(passphrase)
    return store


def trust_anchor_pems(keys_dir: Path, extra_anchors: Sequence[Path] = ()) -> list[str]:
    """PEM roots a verifier trusts: the key store's roots (all generations) plus ``extra_anchors``
    (PEM files)."""
    anchors: list[str] = []
    store = KeyStore(keys_dir)
    if store.exists():
        anchors.extend(pem(c) for c in store.root_certificates())
    for path in extra_anchors:
        try:
            anchors.append(Path(path).read_text())
        except OSError as exc:
            raise KeyStoreError(f"cannot read trust anchor {path}") from exc
    return anchors
