import datetime as dt
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from provenance_media import PASSPHRASE

from candor.config import Settings
from candor.errors import KeyStoreError, SigningCertificateRejected
from candor.provenance.keys import (
    C2PA_CLAIM_SIGNING_OID,
    KeyStore,
    check_signing_certificate,
    ensure_keys,
    make_root_certificate,
    make_signing_certificate,
    resolve_passphrase,
    trust_anchor_pems,
)
from candor.services.container import key_passphrase, trust_anchors
from candor.services.container import key_store as settings_key_store


def test_init_writes_encrypted_keys_with_mode_0600_and_a_c2pa_ready_chain(key_store):
    keys = sorted(key_store.directory.rglob("*.key.pem"))
    assert len(keys) == 2  # root + signing
    for path in keys:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert b"BEGIN ENCRYPTED PRIVATE KEY" in path.read_bytes()

    identity = key_store.load_signing(PASSPHRASE.encode())
    leaf, root = identity.chain
    key_usage = leaf.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE)
    assert key_usage.critical and key_usage.value.digital_signature
    ekus = set(leaf.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value)
    assert {ExtendedKeyUsageOID.EMAIL_PROTECTION, C2PA_CLAIM_SIGNING_OID} <= ekus
    aki = leaf.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    ski = root.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert aki.key_identifier == ski.digest
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.public_key().curve.name == "secp256r1"
    leaf.verify_directly_issued_by(root)


def test_wrong_passphrase_is_a_clear_error(key_store):
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        key_store.load_signing(b"not the passphrase at all")


def test_init_refuses_to_overwrite_and_short_passphrases(key_store, tmp_path):
    with pytest.raises(KeyStoreError, match="already exist"):
        key_store.init(PASSPHRASE.encode())
    with pytest.raises(KeyStoreError, match="at least 12"):
        KeyStore(tmp_path / "other").init(b"short")


def test_rotation_keeps_every_certificate_and_root(key_store):
    first = key_store.load_signing(PASSPHRASE.encode()).certificate
    second = key_store.rotate(PASSPHRASE.encode()).certificate
    third = key_store.rotate(PASSPHRASE.encode(), new_root=True)
    assert len({first.serial_number, second.serial_number, third.certificate.serial_number}) == 3
    assert [c.serial_number for _, c in key_store.signing_certificates()][:2] == [
        first.serial_number,
        second.serial_number,
    ]
    roots = key_store.root_certificates()
    assert len(roots) == 2
    first.verify_directly_issued_by(roots[0])  # the old leaf still chains to a kept root
    third.certificate.verify_directly_issued_by(third.chain[1])
    assert third.chain[1].serial_number == roots[1].serial_number


def test_ensure_keys_creates_a_store_in_development_only(tmp_path):
    dev = tmp_path / "dev"
    passphrase = resolve_passphrase(dev, development=True)
    store = ensure_keys(dev, passphrase, development=True)
    assert store.exists()
    passphrase_file = dev / ".dev-passphrase"
    assert stat.S_IMODE(passphrase_file.stat().st_mode) == 0o600
    assert resolve_passphrase(dev, development=True) == passphrase  # the generated one is kept
    assert store.load_signing(passphrase).certificate is not None
    assert ensure_keys(dev, passphrase, development=True).describe()["current"] == store.describe()["current"]

    prod = tmp_path / "prod"
    with pytest.raises(KeyStoreError, match="candor keys init"):
        ensure_keys(prod, b"a long enough passphrase")
    with pytest.raises(KeyStoreError, match="CANDOR_KEY_PASSPHRASE"):
        resolve_passphrase(prod)
    assert not (prod / ".dev-passphrase").exists()


def test_settings_name_the_key_store_only_development_creates(tmp_path):
    dev = Settings(environment="development", data_dir=tmp_path / "dev")
    store = settings_key_store(dev)
    assert store.exists() and store.directory == dev.resolved_keys_dir
    assert store.load_signing(key_passphrase(dev)).certificate is not None
    assert settings_key_store(dev).describe()["current"] == store.describe()["current"]  # second call reuses

    prod = _production(tmp_path / "prod")
    with pytest.raises(KeyStoreError, match="candor keys init"):
        settings_key_store(prod)
    with pytest.raises(KeyStoreError, match="CANDOR_KEY_PASSPHRASE"):
        key_passphrase(prod)


def test_passphrase_from_a_secret_file(tmp_path):
    secret = tmp_path / "passphrase.txt"
    secret.write_text("a passphrase from a file\n")
    assert resolve_passphrase(tmp_path, passphrase_file=secret) == b"a passphrase from a file"
    settings = _production(tmp_path, key_passphrase_file=secret)
    assert key_passphrase(settings) == b"a passphrase from a file"
    with pytest.raises(KeyStoreError, match="cannot read"):
        resolve_passphrase(tmp_path, passphrase_file=tmp_path / "absent.txt")


def test_trust_anchors_include_every_root_and_configured_files(key_store, prov_settings, tmp_path):
    key_store.rotate(PASSPHRASE.encode(), new_root=True)
    extra_key = ec.generate_private_key(ec.SECP256R1())
    extra = tmp_path / "partner-root.pem"
    extra.write_bytes(make_root_certificate(extra_key, organization="Partner").public_bytes(encoding=Encoding.PEM))
    anchors = trust_anchor_pems(key_store.directory, [extra])
    assert len(anchors) == 3
    assert "Partner" in x509.load_pem_x509_certificate(anchors[-1].encode()).subject.rfc4514_string()
    assert trust_anchor_pems(key_store.directory) == anchors[:2]
    settings = prov_settings.model_copy(update={"trust_anchors": [extra]})  # CANDOR_TRUST_ANCHORS
    assert trust_anchors(settings) == tuple(anchors)


def _production(tmp_path, **kwargs) -> Settings:
    return Settings(
        environment="production", data_dir=tmp_path, secret_key="x" * 32, watermark_secret="w" * 32, **kwargs
    )


def _leaf(**kwargs):
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = make_root_certificate(root_key)
    key = ec.generate_private_key(ec.SECP256R1())
    return make_signing_certificate(key.public_key(), issuer_key=root_key, issuer=root, **kwargs)


def test_expired_certificate_is_refused_with_its_date():
    expired = _leaf(not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), validity=dt.timedelta(days=30))
    with pytest.raises(SigningCertificateRejected, match=r"expired on 2020-01-31.*keys rotate"):
        check_signing_certificate(expired)


def test_wrong_eku_certificate_is_refused_naming_the_usage():
    server = _leaf(ekus=[ExtendedKeyUsageOID.SERVER_AUTH])
    with pytest.raises(SigningCertificateRejected, match=r"wrong extended key usage \(serverAuth\)"):
        check_signing_certificate(server)
    check_signing_certificate(_leaf(ekus=[C2PA_CLAIM_SIGNING_OID]))  # the C2PA OID alone is enough
