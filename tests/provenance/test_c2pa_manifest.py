import io
import json

import av
import pytest

from candor import __version__
from candor.errors import InvalidInput, InvalidVideo
from candor.provenance.manifest import (
    GENERATION_ASSERTION,
    SOFT_BINDING_ASSERTION,
    TRAINED_ALGORITHMIC_MEDIA,
    GenerationClaim,
    SoftBinding,
    pseudonymize_partner,
    read_manifest_store,
    sign_video,
)

CHECKPOINT = "9f" * 32
CONTROLS = {"emotion": "happy", "emotion_strength": 0.6, "gaze": [0.1, -0.25], "head_distance": 1.05}


def _claim() -> GenerationClaim:
    return GenerationClaim(
        generation_id="gen_0123",
        partner_pseudonym=pseudonymize_partner("acme-studios", "service secret"),
        consent_id="consent_77",
        controls=CONTROLS,
        model_checkpoint_sha256=CHECKPOINT,
        title="talking.mp4",
    )


def _sign_portrait_only(source, out, portrait, signer, **changes):
    """sign_video with the test claim, the portrait as the only ingredient and a dummy binding."""
    kwargs = dict(
        claim=_claim(),
        portrait=portrait,
        portrait_mime="image/png",
        audio=None,
        audio_mime=None,
        binding=SoftBinding(alg="x", value="y"),
        signer=signer,
    )
    return sign_video(source, out, **(kwargs | changes))


@pytest.fixture
def signed(signer, talking_mp4, portrait_png, speech_wav):
    source = io.BytesIO(talking_mp4.read_bytes())
    out = io.BytesIO()
    result = sign_video(
        source,
        out,
        claim=_claim(),
        portrait=portrait_png,
        portrait_mime="image/png",
        audio=speech_wav.read_bytes(),
        audio_mime="audio/wav",
        binding=SoftBinding(alg="com.candor.watermark.ss1", value="0000002a", serial=42),
        signer=signer,
    )
    return result, out.getvalue(), source


def _active(manifest_store: bytes) -> dict:
    report = read_manifest_store(manifest_store)
    return report["manifests"][report["active_manifest"]]


def test_manifest_says_ai_generated_by_candor_with_checkpoint(signed):
    result, _, _ = signed
    manifest = _active(result.manifest_store)
    assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
    actions = assertions["c2pa.actions.v2"]["actions"]
    created = next(a for a in actions if a["action"] == "c2pa.created")
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"]["name"] == "Candor"
    assert created["softwareAgent"]["version"] == __version__
    assert created["softwareAgent"]["com.candor.checkpoint_sha256"] == CHECKPOINT
    assert any(a["action"] == "c2pa.watermarked" for a in actions)
    assert result.manifest_id == manifest["label"] and result.manifest_id.startswith("urn:c2pa:")


def test_soft_binding_and_generation_assertions(signed, talking_mp4):
    result, _, _ = signed
    assertions = {a["label"]: a["data"] for a in _active(result.manifest_store)["assertions"]}
    binding = assertions[SOFT_BINDING_ASSERTION]
    assert binding["alg"] == "com.candor.watermark.ss1"
    block = binding["blocks"][0]
    assert block["value"] == "0000002a"
    assert block["scope"]["timespan"]["start"] == 0
    assert 1900 <= block["scope"]["timespan"]["end"] <= 2100  # the 2 s clip, in milliseconds
    generation = assertions[GENERATION_ASSERTION]
    assert generation["generation_id"] == "gen_0123"
    assert generation["consent_id"] == "consent_77"
    assert generation["partner"].startswith("pp_") and "acme" not in generation["partner"]
    assert json.loads(generation["controls"]) == CONTROLS  # float lists survive exactly


def test_portrait_and_audio_are_input_ingredients_without_thumbnails(signed):
    result, _, _ = signed
    ingredients = _active(result.manifest_store)["ingredients"]
    assert [(i["title"], i["format"], i["relationship"]) for i in ingredients] == [
        ("portrait.png", "image/png", "inputTo"),
        ("audio.wav", "audio/wav", "inputTo"),
    ]
    assert all("thumbnail" not in i for i in ingredients)
    assert len(result.manifest_store) < 8_000  # ~4-5 KB without thumbnails
    assert 0 < result.added_bytes < 8_000


def test_thumbnails_can_be_turned_on(signer, talking_mp4, portrait_png):
    out = io.BytesIO()
    result = _sign_portrait_only(talking_mp4.read_bytes(), out, portrait_png, signer, thumbnails=True)
    assert "thumbnail" in _active(result.manifest_store)["ingredients"][0]
    assert len(result.manifest_store) > 10_000


def test_signed_stream_is_the_same_playable_video(signed, talking_mp4):
    _, data, source = signed
    source.seek(0)
    assert source.read() == talking_mp4.read_bytes()  # the input stream is untouched
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.audio, "the speech track is kept"
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 50


def test_not_a_video_is_a_domain_error(signer, portrait_png):
    with pytest.raises(InvalidVideo):
        _sign_portrait_only(b"this is not an mp4 at all" * 10, io.BytesIO(), portrait_png, signer)


def test_bad_ingredient_and_controls_are_domain_errors(signer, talking_mp4, portrait_png):
    video = talking_mp4.read_bytes()
    with pytest.raises(InvalidInput, match="portrait"):
        _sign_portrait_only(video, io.BytesIO(), b"nope", signer)
    with pytest.raises(InvalidInput, match="cannot be recorded"):
        _sign_portrait_only(video, io.BytesIO(), portrait_png, signer, portrait_mime="x/y")
    bad = GenerationClaim(generation_id="g", partner_pseudonym="p", consent_id=None, controls={"x": float("nan")})
    with pytest.raises(InvalidInput, match="controls"):
        _sign_portrait_only(video, io.BytesIO(), portrait_png, signer, claim=bad)


def test_partner_pseudonym_is_stable_and_keyed():
    a = pseudonymize_partner("acme", "secret one")
    assert a == pseudonymize_partner("acme", "secret one")
    assert a != pseudonymize_partner("acme", "secret two")
    assert a != pseudonymize_partner("acme2", "secret one")


def test_concurrent_signing_from_one_signer(signer, anchors, talking_mp4, portrait_png, tmp_path):
    # API workers share one decrypted signer; each sign_video builds its own c2pa Builder and Signer.
    from concurrent.futures import ThreadPoolExecutor

    from candor.provenance.verify import ManifestState, verify_file

    source = talking_mp4.read_bytes()

    def one(i: int) -> bytes:
        out = io.BytesIO()
        sign_video(
            source,
            out,
            claim=GenerationClaim(generation_id=f"gen_{i}", partner_pseudonym="pp", consent_id=None),
            portrait=portrait_png,
            portrait_mime="image/png",
            audio=None,
            audio_mime=None,
            binding=SoftBinding(alg="com.candor.watermark.ss1", value=f"{i:08x}", serial=i),
            signer=signer,
        )
        return out.getvalue()

    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(one, range(8)))
    for i, data in enumerate(outputs):
        path = tmp_path / f"{i}.mp4"
        path.write_bytes(data)
        report = verify_file(path, trust_anchors=anchors)
        assert report.state is ManifestState.TRUSTED
        assert report.summary.generation["generation_id"] == f"gen_{i}"
