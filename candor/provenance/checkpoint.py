"""Signed checkpoints of the generation log: tree size + root hash + time, signed ES256.

The text follows the transparency-log checkpoint / signed-note layout, so it reads like a Go
``sumdb`` or Trillian checkpoint::

    candor/generation-log                 <- origin: names the log
    1234                                  <- tree size (decimal)
    3q2+7w...=                            <- root hash (standard base64 of 32 bytes)
    timestamp 2026-11-25T11:30:44.123456Z <- extension line: when the head was signed (UTC)
                                          <- blank line ends the signed body
    — candor-log AbCd...                  <- em dash, key name, base64(key id (4 bytes) || signature)

The signature is ECDSA P-256 / SHA-256 (ES256, DER-encoded) over the body bytes, every line of
it including its final newline. The key id is the first 4 bytes of
``SHA-256(name || "\\n" || 0x02 || DER SubjectPublicKeyInfo)``, so a verifier can pick its line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from candor.errors import InvalidInput, InvalidProof
from candor.provenance.merkle import HASH_SIZE

DEFAULT_ORIGIN = "candor/generation-log"
DEFAULT_KEY_NAME = "candor-log"
_KEY_TYPE_ECDSA_P256 = b"\x02"
_SIGNATURE_PREFIX = "\u2014 "  # "— ", as in signed notes
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and a ``Z``: the one time format of the log."""
    if moment.tzinfo is None:
        raise InvalidInput("log timestamps must carry a time zone")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"not a log timestamp (YYYY-MM-DDTHH:MM:SS.ffffffZ): {text!r}") from None


@dataclass(frozen=True)
class TreeHead:
    """What a checkpoint commits to. ``root`` is 32 bytes; ``timestamp`` is aware UTC."""

    origin: str
    size: int
    root: bytes
    timestamp: datetime

    def body(self) -> bytes:
        """The signed text: origin, size, base64 root, timestamp line, each ending in a newline."""
        if not self.origin or "\n" in self.origin or self.origin != self.origin.strip():
            raise InvalidInput(f"checkpoint origin must be one non-blank line: {self.origin!r}")
        if self.size < 0 or len(self.root) != HASH_SIZE:
            raise InvalidInput("checkpoint needs a size >= 0 and a 32-byte root")
        root = base64.b64encode(self.root).decode()
        return f"{self.origin}\n{self.size}\n{root}\ntimestamp {format_time(self.timestamp)}\n".encode()


@dataclass(frozen=True)
class Checkpoint:
    """A parsed signed checkpoint; ``note`` is the exact text that was signed and published."""

    head: TreeHead
    key_name: str
    key_id: bytes
    signature: bytes  # DER ECDSA
    note: str

    @property
    def size(self) -> int:
        return self.head.size

    @property
    def root(self) -> bytes:
        return self.head.root


def key_id(name: str, public_key: ec.EllipticCurvePublicKey) -> bytes:
    """4-byte id of a (key name, ES256 public key) pair, as in signed notes."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(name.encode() + b"\n" + _KEY_TYPE_ECDSA_P256 + spki).digest()[:4]


def _check_key_name(name: str) -> None:
    if not name or any(ch.isspace() for ch in name) or "+" in name:
        raise InvalidInput(f"checkpoint key name must be non-empty without spaces or '+': {name!r}")


def _check_p256(public_key: object) -> ec.EllipticCurvePublicKey:
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise InvalidInput("checkpoints are verified with an ES256 (P-256) public key")
    return public_key


def _to_der(signature: bytes) -> bytes:
    """Accept a DER signature or raw r||s (64 bytes, as JOSE/COSE and some KMS return)."""
    try:
        r, s = decode_dss_signature(signature)
        if encode_dss_signature(r, s) == signature:
            return signature
    except ValueError:
        pass
    if len(signature) == 64:
        return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    raise InvalidInput("the checkpoint signer returned neither a DER nor a raw 64-byte ES256 signature")


class CheckpointSigner:
    """Signs tree heads. ``sign`` maps bytes to an ES256 signature (DER or raw r||s): a local key,
    the provenance key store, or a KMS/HSM callback; ``public_key`` names the key in the note."""

    def __init__(
        self,
        sign: Callable[[bytes], bytes],
        public_key: ec.EllipticCurvePublicKey,
        name: str = DEFAULT_KEY_NAME,
    ) -> None:
        _check_key_name(name)
        self._sign = sign
        self.public_key = _check_p256(public_key)
        self.name = name
        self.key_id = key_id(name, self.public_key)

    @classmethod
    def from_private_key(
        cls, private_key: ec.EllipticCurvePrivateKey, name: str = DEFAULT_KEY_NAME
    ) -> CheckpointSigner:
        """A signer over an in-process P-256 private key."""
        return cls(lambda data: private_key.sign(data, ec.ECDSA(hashes.SHA256())), private_key.public_key(), name)

    def public_key_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign_head(self, head: TreeHead) -> Checkpoint:
        body = head.body()
        signature = _to_der(self._sign(body))
        line = f"{_SIGNATURE_PREFIX}{self.name} {base64.b64encode(self.key_id + signature).decode()}\n"
        note = body.decode() + "\n" + line
        return Checkpoint(head=head, key_name=self.name, key_id=self.key_id, signature=signature, note=note)


def parse_checkpoint(note: str) -> Checkpoint:
    """Parse a checkpoint note (no signature check); malformed text raises InvalidInput."""
    body, sep, signatures = note.partition("\n\n")
    if not sep or not body:
        raise InvalidInput("checkpoint has no blank line between body and signature")
    lines = body.split("\n")
    if len(lines) != 4 or not lines[3].startswith("timestamp "):
        raise InvalidInput("checkpoint body must be origin, size, root and timestamp lines")
    origin, size_text, root_text, time_line = lines
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise InvalidInput(f"checkpoint size is not a decimal number: {size_text!r}")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise InvalidInput("checkpoint root is not base64") from None
    if len(root) != HASH_SIZE:
        raise InvalidInput("checkpoint root is not 32 bytes")
    head = TreeHead(origin, int(size_text), root, parse_time(time_line.removeprefix("timestamp ")))
    if head.body().decode() != body + "\n":  # refuse any second spelling of the same head
        raise InvalidInput("checkpoint body is not in canonical form")
    sig_lines = signatures.split("\n")
    if len(sig_lines) != 2 or sig_lines[1] != "" or not sig_lines[0].startswith(_SIGNATURE_PREFIX):
        raise InvalidInput("checkpoint must end with exactly one signature line")
    name, _, blob_text = sig_lines[0].removeprefix(_SIGNATURE_PREFIX).partition(" ")
    try:
        blob = base64.b64decode(blob_text, validate=True)
    except binascii.Error:
        raise InvalidInput("checkpoint signature is not base64") from None
    if len(blob) < 5:
        raise InvalidInput("checkpoint signature is too short")
    return Checkpoint(head=head, key_name=name, key_id=blob[:4], signature=blob[4:], note=note)


def verify_checkpoint(note: str, public_key: ec.EllipticCurvePublicKey, origin: str | None = None) -> Checkpoint:
    """Parse ``note`` and check its ES256 signature (and origin, if given); raises InvalidProof."""
    public_key = _check_p256(public_key)
    checkpoint = parse_checkpoint(note)
    if origin is not None and checkpoint.head.origin != origin:
        raise InvalidProof(f"checkpoint is for log {checkpoint.head.origin!r}, not {origin!r}")
    if checkpoint.key_id != key_id(checkpoint.key_name, public_key):
        raise InvalidProof(f"checkpoint is signed by key {checkpoint.key_name!r} with another key id")
    try:
        public_key.verify(checkpoint.signature, checkpoint.head.body(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise InvalidProof(f"checkpoint signature for tree size {checkpoint.size} is invalid") from None
    return checkpoint


def load_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    """An ES256 public key from PEM (a SubjectPublicKeyInfo or an X.509 certificate)."""
    try:
        if b"BEGIN CERTIFICATE" in pem:
            from cryptography import x509

            key = x509.load_pem_x509_certificate(pem).public_key()
        else:
            key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise InvalidInput(f"not a PEM public key or certificate: {exc}") from None
    return _check_p256(key)
