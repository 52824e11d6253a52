import datetime as dt
import io
import socket

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from provenance_media import PASSPHRASE

from candor.errors import SigningCertificateRejected, SigningFailed, TimestampAuthorityUnavailable
from candor.provenance.keys import SigningIdentity, make_signing_certificate
from candor.provenance.manifest import GenerationClaim, SoftBinding, sign_video
from candor.provenance.signer import CallbackSigner, ClaimSigner, LocalKeySigner
from candor.provenance.verify import ManifestState, verify_file

CLAIM = GenerationClaim(generation_id="gen_signer", partner_pseudonym="pp_test", consent_id="consent_1")
BINDING = SoftBinding(alg="com.candor.watermark.ss1", value="0000002a", serial=42)


def _sign(talking_mp4, portrait_png, signer):
    out = io.BytesIO()
    sign_video(
        talking_mp4.read_bytes(),
        out,
        claim=CLAIM,
        portrait=portrait_png,
        portrait_mime="image/png",
        audio=None,
        audio_mime=None,
        binding=BINDING,
        signer=signer,
    )
    return out.getvalue()


def _root(key_store):
    identity = key_store.load_signing(PASSPHRASE.encode())
    root_id = key_store.describe()["current"]["root"]
    root_key = serialization.load_pem_private_key(
        (key_store.directory / "roots" / f"{root_id}.key.pem").read_bytes(), password=PASSPHRASE.encode()
    )
    return root_key, identity.chain[1]


def test_both_signers_satisfy_the_protocol(key_store):
    identity = key_store.load_signing(PASSPHRASE.encode())
    assert isinstance(LocalKeySigner(identity), ClaimSigner)
    assert isinstance(CallbackSigner(lambda data: b"", identity.chain), ClaimSigner)


def test_callback_signer_signs_a_trusted_manifest(key_store, anchors, talking_mp4, portrait_png, tmp_path):
    # The "HSM": a key object the signer never sees, reached only through sign(data) -> DER.
    identity = key_store.load_signing(PASSPHRASE.encode())
    hsm_key = identity.private_key
    calls = []

    def hsm_sign(data: bytes) -> bytes:
        calls.append(len(data))
        return hsm_key.sign(data, ec.ECDSA(hashes.SHA256()))  # DER, as AWS/GCP KMS answer

    signed = _sign(talking_mp4, portrait_png, CallbackSigner(hsm_sign, identity.chain))
    assert calls and all(n > 0 for n in calls)
    path = tmp_path / "callback.mp4"
    path.write_bytes(signed)
    report = verify_file(path, trust_anchors=anchors)
    assert report.state is ManifestState.TRUSTED, report.failures
    assert report.exit_code == 0


def test_a_failing_callback_reports_its_real_cause(key_store, talking_mp4, portrait_png):
    identity = key_store.load_signing(PASSPHRASE.encode())

    def broken_kms(data: bytes) -> bytes:
        raise ConnectionError("KMS endpoint refused the request")

    with pytest.raises(SigningFailed, match="KMS endpoint refused"):
        _sign(talking_mp4, portrait_png, CallbackSigner(broken_kms, identity.chain))


def test_expired_certificate_is_refused_before_signing(key_store, talking_mp4, portrait_png):
    root_key, root = _root(key_store)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_signing_certificate(
        key.public_key(),
        issuer_key=root_key,
        issuer=root,
        not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=400),
        validity=dt.timedelta(days=365),
    )
    signer = LocalKeySigner(SigningIdentity(private_key=key, chain=(cert, root)))
    with pytest.raises(SigningCertificateRejected, match="expired"):
        _sign(talking_mp4, portrait_png, signer)


def test_wrong_eku_certificate_is_refused_before_signing(key_store, talking_mp4, portrait_png):
    root_key, root = _root(key_store)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_signing_certificate(
        key.public_key(), issuer_key=root_key, issuer=root, ekus=[ExtendedKeyUsageOID.CODE_SIGNING]
    )
    signer = LocalKeySigner(SigningIdentity(private_key=key, chain=(cert, root)))
    with pytest.raises(SigningCertificateRejected, match=r"wrong extended key usage \(codeSigning\)"):
        _sign(talking_mp4, portrait_png, signer)


def test_unreachable_timestamp_authority_fails_loudly(key_store, talking_mp4, portrait_png):
    # A port that was just free on localhost: the TSA connection is refused at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tsa = f"http://127.0.0.1:{port}/tsa"
    signer = LocalKeySigner(key_store.load_signing(PASSPHRASE.encode()), tsa_url=tsa)
    with pytest.raises(TimestampAuthorityUnavailable, match=f"127.0.0.1:{port}"):
        _sign(talking_mp4, portrait_png, signer)


def test_a_non_http_tsa_url_is_refused(key_store):
    with pytest.raises(SigningFailed, match="http"):
        LocalKeySigner(key_store.load_signing(PASSPHRASE.encode()), tsa_url="ftp://tsa.example")
