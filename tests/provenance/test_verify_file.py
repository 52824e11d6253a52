import io
import json
from pathlib import Path

import av
import pytest
from provenance_media import PASSPHRASE, make_talking_mp4

from candor.config import Settings
from candor.errors import InvalidVideo
from candor.provenance.keys import KeyStore, pem, trust_anchor_pems
from candor.provenance.manifest import GenerationClaim, SoftBinding, sign_video
from candor.provenance.verify import ManifestState, Outcome, Verifier, verify_file
from candor.services.container import Container, trust_anchors
from candor.services.manifests import ManifestRepository
from candor.store.database import make_engine, make_session_factory
from candor.store.migrations import upgrade_database


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_round_trip_is_trusted_with_our_root(signed_video, anchors, tmp_path):
    signed, data = signed_video
    report = verify_file(_write(tmp_path, "ok.mp4", data), trust_anchors=anchors)
    assert report.state is ManifestState.TRUSTED
    assert report.failure_codes == []
    assert (report.outcome, report.exit_code) == (Outcome.PROVEN, 0)
    summary = report.summary
    assert summary.manifest_id == signed.manifest_id
    assert summary.ai_generated and summary.watermarked
    assert summary.signer == "Candor Content Credentials" and summary.issuer == "Candor"
    assert summary.generation["generation_id"] == "gen_fixture"
    assert summary.soft_binding["value"] == "00000007"
    assert [i["relationship"] for i in summary.ingredients] == ["inputTo", "inputTo"]
    assert json.loads(json.dumps(report.to_dict()))["state"] == "Trusted"


def test_without_our_root_it_is_only_valid_untrusted(signed_video, anchors, tmp_path):
    _, data = signed_video
    verifier = Verifier(trust_anchors=anchors)
    report = verifier.verify_file(_write(tmp_path, "ok.mp4", data), detect_watermark=False, trust=False)
    assert report.state is ManifestState.VALID_UNTRUSTED
    assert "signingCredential.untrusted" in report.failure_codes
    assert report.exit_code == 3


def test_trust_comes_from_the_configured_anchor_list(signed_video, key_store, tmp_path):
    _, data = signed_video
    video = _write(tmp_path, "ok.mp4", data)
    outsider = Settings(environment="test", data_dir=tmp_path / "verifier")  # no key store of its own
    assert trust_anchors(outsider) == ()
    assert verify_file(video, trust_anchors=trust_anchors(outsider)).state is ManifestState.VALID_UNTRUSTED
    anchor = tmp_path / "candor-root.pem"
    anchor.write_text(pem(key_store.root_certificates()[0]))
    trusting = outsider.model_copy(update={"trust_anchors": [anchor]})
    assert verify_file(video, trust_anchors=trust_anchors(trusting)).state is ManifestState.TRUSTED


def test_one_flipped_byte_in_media_data_is_invalid(signed_video, anchors, tmp_path):
    _, data = signed_video
    tampered = bytearray(data)
    mdat = tampered.find(b"mdat")
    assert mdat > 0
    tampered[mdat + 5000] ^= 0x01
    report = verify_file(_write(tmp_path, "bad.mp4", bytes(tampered)), trust_anchors=anchors)
    assert report.state is ManifestState.INVALID
    assert "assertion.bmffHash.mismatch" in report.failure_codes
    assert report.exit_code == 3
    assert "bmffHash.mismatch" in report.verdict


def test_rotation_keeps_earlier_outputs_trusted(signed_video, key_store, tmp_path):
    _, before = signed_video
    key_store.rotate(PASSPHRASE.encode(), new_root=True)
    anchors_after = trust_anchor_pems(key_store.directory)  # the roots as a verifier reads them after rotation
    assert len(anchors_after) == 2
    old = verify_file(_write(tmp_path, "old.mp4", before), trust_anchors=anchors_after)
    assert old.state is ManifestState.TRUSTED


def test_unsigned_file_and_missing_file(talking_mp4, anchors, tmp_path):
    report = verify_file(talking_mp4, trust_anchors=anchors)
    assert report.state is ManifestState.ABSENT and report.exit_code == 1
    assert "not checked" in report.verdict
    with pytest.raises(InvalidVideo, match="no such file"):
        verify_file(tmp_path / "nope.mp4", trust_anchors=anchors)
    with pytest.raises(InvalidVideo, match="not a readable video"):
        verify_file(_write(tmp_path, "text.mp4", b"just some text, not a video\n" * 50), trust_anchors=anchors)


# -- with the real watermark: durable credentials --------------------------------------------------


def _reencode(src: Path, dst: Path, crf: int) -> Path:
    """Decode and re-encode the video only (what an upload pipeline does); metadata is not carried."""
    with av.open(str(src)) as source, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height = source.streams.video[0].width, source.streams.video[0].height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in source.decode(video=0):
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    return dst


@pytest.fixture(scope="module")
def durable(tmp_path_factory, speech_wav, portrait_png):
    """A 512x512, 3 s clip released through the container's `Releaser.release_file` (`candor sign`),
    with the container (its verifier holds the repository) and the release result."""
    root = tmp_path_factory.mktemp("durable")
    # A fixed watermark key keeps the robustness margin of this test the same on every run.
    settings = Settings(
        environment="test", data_dir=root, key_passphrase=PASSPHRASE, watermark_secret="provenance-tests-watermark-key"
    )
    KeyStore(settings.resolved_keys_dir).init(PASSPHRASE.encode())
    source = make_talking_mp4(root / "source.mp4", speech_wav, seconds=3.0, size=512)
    portrait = root / "portrait.png"
    portrait.write_bytes(portrait_png)
    container = Container.build(settings)
    container.migrate()
    claim = GenerationClaim(generation_id="gen_durable", partner_pseudonym="pp_d", consent_id="consent_d")
    signed = container.releaser.release_file(
        source, root / "signed.mp4", claim=claim, portrait=portrait, audio=speech_wav
    )
    container.releaser.record(signed)
    yield container, signed, root
    container.close()


def test_signed_output_carries_a_watermark_that_matches_its_manifest(durable):
    container, signed, root = durable
    report = container.verifier.verify_file(root / "signed.mp4")
    assert report.state is ManifestState.TRUSTED
    assert report.summary.manifest_id == signed.manifest_id
    assert report.watermark.found and report.watermark.serial == signed.serial
    assert report.watermark.confidence > 0.999
    assert report.binding_consistent is True
    assert report.exit_code == 0
    assert not list(root.glob(".signed.mp4*")), "no temp files left behind"
    assert not (root / "watermark.secret").exists(), "the configured watermark key was used"


def test_stripped_reencoded_copy_recovers_its_manifest_through_the_watermark(durable):
    container, signed, root = durable
    stripped = _reencode(root / "signed.mp4", root / "stripped.mp4", crf=23)
    report = container.verifier.verify_file(stripped)
    assert report.state is ManifestState.ABSENT
    assert report.watermark.found and report.watermark.serial == signed.serial
    assert report.recovered is not None
    assert report.recovered.manifest_id == signed.manifest_id
    assert report.recovered.signature_state is ManifestState.TRUSTED
    assert report.recovered.summary.generation["generation_id"] == "gen_durable"
    assert (report.outcome, report.exit_code) == (Outcome.PROVEN, 0)
    assert "recovered" in report.verdict


def test_a_watermark_unknown_to_this_repository_is_not_proof(durable, tmp_path):
    container, _, root = durable
    engine = make_engine(f"sqlite:///{tmp_path}/e.db")
    upgrade_database(engine)
    empty = ManifestRepository(make_session_factory(engine))
    stripped = _reencode(root / "signed.mp4", tmp_path / "stripped.mp4", crf=18)
    verifier = Verifier(trust_anchors=container.trust_anchors, watermark_key=container.watermark_key, manifests=empty)
    report = verifier.verify_file(stripped)
    engine.dispose()
    assert report.watermark.found and report.recovered is None
    assert report.exit_code == 3


def test_clean_video_has_no_watermark(durable):
    container, _, root = durable
    report = container.verifier.verify_file(root / "source.mp4")
    assert report.watermark is not None and not report.watermark.found
    assert report.exit_code == 1


def test_a_manifest_whose_binding_contradicts_the_watermark_is_refused(durable, portrait_png, tmp_path):
    container, signed, root = durable
    # Re-sign the stripped (still watermarked) video claiming another serial's binding.
    stripped = _reencode(root / "signed.mp4", tmp_path / "stripped.mp4", crf=18)
    out = io.BytesIO()
    sign_video(
        stripped.read_bytes(),
        out,
        claim=GenerationClaim(generation_id="gen_liar", partner_pseudonym="pp", consent_id=None),
        portrait=portrait_png,
        portrait_mime="image/png",
        audio=None,
        audio_mime=None,
        binding=SoftBinding.for_serial(signed.serial + 1000),
        signer=container.signer,
    )
    liar = _write(tmp_path, "liar.mp4", out.getvalue())
    report = container.verifier.verify_file(liar)
    assert report.state is ManifestState.TRUSTED
    assert report.binding_consistent is False
    assert report.exit_code == 3


def transcode_webm(src: Path, dst: Path) -> Path:
    """A VP9/Opus WebM copy, as a site that serves WebM makes one: the MP4's manifest cannot follow."""
    with av.open(str(src)) as source, av.open(str(dst), "w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=25)
        stream.width, stream.height = source.streams.video[0].width, source.streams.video[0].height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8"}
        for frame in source.decode(video=0):
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    return dst


def test_a_webm_transcode_reads_as_stripped_and_recovered_not_tampered(durable):
    container, signed, root = durable
    webm = transcode_webm(root / "signed.mp4", root / "copy.webm")
    report = container.verifier.verify_file(webm)
    assert report.watermark.found and report.watermark.serial == signed.serial
    assert report.state is ManifestState.ABSENT, report.failure_codes
    assert report.recovered is not None and report.recovered.manifest_id == signed.manifest_id
    assert (report.outcome, report.exit_code) == (Outcome.PROVEN, 0)
    assert report.verdict == "Proven Candor output: credentials stripped, recovered through the watermark"
