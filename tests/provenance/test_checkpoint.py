"""Signed checkpoint notes: layout, ES256 signatures from any signer, strict parsing."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from candor.errors import InvalidInput, InvalidProof
from candor.provenance.checkpoint import (
    CheckpointSigner,
    TreeHead,
    load_public_key,
    parse_checkpoint,
    verify_checkpoint,
)
from candor.provenance.merkle import EMPTY_ROOT, leaf_hash

KEY = ec.generate_private_key(ec.SECP256R1())
WHEN = dt.datetime(2026, 11, 25, 11, 30, 44, 123456, tzinfo=dt.UTC)
HEAD = TreeHead("candor.test/log", 1234, leaf_hash(b"root"), WHEN)


def test_note_layout_and_round_trip():
    cp = CheckpointSigner.from_private_key(KEY).sign_head(HEAD)
    lines = cp.note.split("\n")
    assert lines[:5] == ["candor.test/log", "1234", base64.b64encode(HEAD.root).decode(),
                         "timestamp 2026-11-25T11:30:44.123456Z", ""]  # fmt: skip
    assert lines[5].startswith("\u2014 candor-log ") and lines[6] == ""
    parsed = verify_checkpoint(cp.note, KEY.public_key(), origin="candor.test/log")
    assert parsed.head == HEAD and parsed.signature == cp.signature


def test_raw_r_s_signers_like_kms_callbacks_are_accepted():
    def raw_sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(KEY.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    cp = CheckpointSigner(raw_sign, KEY.public_key(), name="kms-log").sign_head(HEAD)
    assert verify_checkpoint(cp.note, KEY.public_key()).key_name == "kms-log"
    with pytest.raises(InvalidInput):
        CheckpointSigner(lambda data: b"short", KEY.public_key()).sign_head(HEAD)


def test_any_edit_breaks_the_signature():
    note = CheckpointSigner.from_private_key(KEY).sign_head(HEAD).note
    for old, new in [("1234", "1235"), ("11:30:44", "11:30:45"), ("candor.test", "candor.evil")]:
        with pytest.raises(InvalidProof):
            verify_checkpoint(note.replace(old, new, 1), KEY.public_key())
    with pytest.raises(InvalidProof):
        verify_checkpoint(note, KEY.public_key(), origin="another/log")
    with pytest.raises(InvalidProof):
        verify_checkpoint(note, ec.generate_private_key(ec.SECP256R1()).public_key())


def test_malformed_notes_are_input_errors():
    note = CheckpointSigner.from_private_key(KEY).sign_head(HEAD).note
    for bad in [
        "",
        note.replace("\n\n", "\n"),
        note.replace("\n1234\n", "\n01234\n"),  # a second spelling of the same size
        note.replace("\n1234\n", "\n-4\n"),
        note.replace(base64.b64encode(HEAD.root).decode(), "not base64!"),
        note.replace(base64.b64encode(HEAD.root).decode(), base64.b64encode(b"x" * 31).decode()),
        note.replace("timestamp ", "time "),
        note + "\u2014 second-key AAAA\n",
        note.replace("\u2014 ", "- "),
    ]:
        with pytest.raises(InvalidInput):
            parse_checkpoint(bad)


def test_only_p256_keys_and_sane_names():
    with pytest.raises(InvalidInput):
        CheckpointSigner.from_private_key(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(InvalidInput):
        CheckpointSigner.from_private_key(KEY, name="two words")
    with pytest.raises(InvalidInput):
        verify_checkpoint("x", ed25519.Ed25519PrivateKey.generate().public_key())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        TreeHead("origin\nsecond line", 1, EMPTY_ROOT, WHEN).body()
    with pytest.raises(InvalidInput):
        TreeHead("o", 1, EMPTY_ROOT, WHEN.replace(tzinfo=None)).body()


def test_public_keys_load_from_pem_or_certificate():
    spki = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert load_public_key(spki).public_numbers() == KEY.public_key().public_numbers()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "log")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(KEY.public_key())
        .serial_number(1).not_valid_before(WHEN).not_valid_after(WHEN + dt.timedelta(days=1))
        .sign(KEY, hashes.SHA256())
    )  # fmt: skip
    assert load_public_key(cert.public_bytes(serialization.Encoding.PEM)).public_numbers() == (
        KEY.public_key().public_numbers()
    )
    with pytest.raises(InvalidInput):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n")
