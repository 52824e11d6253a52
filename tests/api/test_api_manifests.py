"""Soft-binding resolution over HTTP, against a really watermarked and signed MP4."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from candor.provenance.manifest import read_manifest_store
from candor.provenance.watermark import WATERMARK_ALG, binding_value


@pytest.fixture(scope="module")
def signed(client, tmp_path_factory, portrait_png):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    work = tmp_path_factory.mktemp("sign")
    raw = work / "raw.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=256x256:rate=25:duration=1",
         "-pix_fmt", "yuv420p", str(raw)],
        check=True,
    )  # fmt: skip
    portrait = work / "portrait.png"
    portrait.write_bytes(portrait_png)
    releaser = client.app.state.service.releaser  # the service's own release path and repository
    return releaser.release_file(
        raw, work / "signed.mp4", claim=releaser.claim(generation_id="gen_test"), portrait=portrait, audio=None
    )


@pytest.fixture(scope="module")
def verifier(admin):
    """An auditor: it resolves every manifest (a partner's detect key only its own generations')."""
    return admin.principal("Fact Checkers", "auditor")


def test_another_partners_detect_key_resolves_nothing(client, admin, signed):
    stranger = admin.key(admin.partner("Curious Partner", use_case="research"), "detect")
    params = {"alg": WATERMARK_ALG, "value": binding_value(signed.serial)}
    matches = client.get("/v1/manifests/matches/byBinding", headers=stranger.headers, params=params)
    assert matches.status_code == 200 and matches.json() == {"matches": []}
    assert client.get(f"/v1/manifests/{signed.manifest_id}", headers=stranger.headers).status_code == 404


def test_binding_resolves_to_the_manifest(client, verifier, signed):
    matches = client.get(
        "/v1/manifests/matches/byBinding",
        headers=verifier.headers,
        params={"alg": WATERMARK_ALG, "value": binding_value(signed.serial)},
    )
    assert matches.status_code == 200
    assert matches.json()["matches"][0] == {"manifestId": signed.manifest_id, "similarityScore": 100}

    store = client.get(f"/v1/manifests/{signed.manifest_id}", headers=verifier.headers)
    assert store.status_code == 200
    assert store.headers["content-type"] == "application/c2pa"
    assert store.content == client.app.state.service.manifests.manifest_by_id(signed.manifest_id)["manifestStore"]
    assert read_manifest_store(store.content)["active_manifest"] == signed.manifest_id
    report = read_manifest_store(store.content, client.app.state.service.trust_anchors)
    assert signed.manifest_id in str(report)


def test_unknown_binding_is_an_empty_match_list_and_unknown_id_404(client, verifier):
    matches = client.get(
        "/v1/manifests/matches/byBinding", headers=verifier.headers, params={"alg": WATERMARK_ALG, "value": "ffffffff"}
    )
    assert matches.json() == {"matches": []}
    missing = client.get("/v1/manifests/urn:c2pa:00000000-0000-0000-0000-000000000000", headers=verifier.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_supported_algorithms_names_the_watermark(client, verifier):
    body = client.get("/v1/manifests/services/supportedAlgorithms", headers=verifier.headers).json()
    assert {"alg": WATERMARK_ALG} in body["watermarks"]
