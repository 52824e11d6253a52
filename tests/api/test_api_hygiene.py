"""Bad input that used to get through: media judged by its bytes, NUL bytes, refused generations
that left stored audio behind. Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from api_helpers import create_consent, enroll
from sqlalchemy import func, select

from candor.store.models import Asset


@pytest.fixture(scope="module")
def caller(admin):
    return admin.key(admin.partner("Hygiene Institute"), "generate,detect")


def _ffmpeg(src: bytes, tmp: Path, name: str, *args: str) -> bytes:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (the Makefile installs it)")
    (tmp / "in.wav").write_bytes(src)
    out = tmp / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp / "in.wav"), *args, str(out)], check=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def speech_mp3(speech_wav, tmp_path_factory) -> bytes:
    return _ffmpeg(speech_wav, tmp_path_factory.mktemp("mp3"), "speech.mp3", "-c:a", "libmp3lame", "-b:a", "64k")


@pytest.fixture(scope="module")
def speech_ogg(speech_wav, tmp_path_factory) -> bytes:
    return _ffmpeg(speech_wav, tmp_path_factory.mktemp("ogg"), "speech.ogg", "-c:a", "libvorbis")


def _asset_rows(client, sha256: str) -> int:
    with client.app.state.service.session_factory() as session:
        return session.scalar(select(func.count()).select_from(Asset).where(Asset.sha256 == sha256))


# --- audio is judged by its bytes, before anything is queued -----------------------------------


@pytest.mark.parametrize("declared", ["audio/mp3", "application/octet-stream", "audio/mpeg"])
def test_mp3_is_stored_as_a_type_the_signer_records(client, caller, speech_mp3, declared):
    import c2pa

    from candor.services.release import media_type
    from candor.store.filestore import suffix_for

    response = client.post(
        "/v1/assets/audio", headers=caller.headers, files={"audio": ("speech", speech_mp3, declared)}
    )
    assert response.status_code == 201, response.text
    stored = response.json()["media_type"]
    assert stored == "audio/mpeg"
    # The worker names its work copy by suffix_for(stored) and the signer takes the type from that
    # name: it must be one c2pa records as an ingredient, or the job fails after rendering.
    assert media_type(Path("audio" + suffix_for(stored))) in c2pa.Builder.get_supported_mime_types()


def test_audio_the_signer_cannot_record_is_refused_at_upload(client, caller, speech_ogg):
    for declared in ("audio/ogg", "application/octet-stream", "audio/mpeg"):
        response = client.post(
            "/v1/assets/audio", headers=caller.headers, files={"audio": ("speech.ogg", speech_ogg, declared)}
        )
        assert response.status_code == 415, (declared, response.text)
        assert response.json()["type"].endswith("unsupported-media-type")


def test_an_image_sent_as_audio_is_refused(client, caller, portrait_png):
    response = client.post(
        "/v1/assets/audio", headers=caller.headers, files={"audio": ("a.mp3", portrait_png, "audio/mpeg")}
    )
    assert response.status_code == 415, response.text


# --- detections take video containers only ---------------------------------------------------------


@pytest.mark.parametrize("declared", ["video/mp4", "application/octet-stream"])
def test_png_declared_as_video_is_refused(client, caller, portrait_png, declared):
    response = client.post(
        "/v1/detections", headers=caller.headers, files={"video": ("clip.mp4", portrait_png, declared)}
    )
    assert response.status_code == 415, response.text
    assert "image/png" in response.json()["detail"]


# --- NUL bytes: PostgreSQL text cannot hold them, so they are a 422, never a 500 ----------------------


def test_nul_byte_in_a_name_is_422(client, caller, consent_pdf):
    response = client.post(
        "/v1/consents",
        headers=caller.headers,
        data={"subject_name": "Eil\x00een", "subject_is_adult": "true", "allowed_uses": "education"},
        files={"evidence_document": ("consent.pdf", consent_pdf, "application/pdf")},
    )
    assert response.status_code == 422, response.text


def test_nul_byte_in_an_upload_filename_is_not_a_500(client, caller, speech_wav):
    response = client.post(
        "/v1/detections", headers=caller.headers, files={"video": ("a\x00b.mp4", speech_wav, "video/mp4")}
    )
    assert response.status_code < 500, response.text


# --- a refused generation with inline audio stores nothing ---------------------------------------


@pytest.fixture(scope="module")
def distinct_wav(tmp_path_factory) -> bytes:
    """Speech no other test of this module stores (the file store is content-addressed)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    path = tmp_path_factory.mktemp("distinct") / "refused.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "This request will be refused."], check=True, capture_output=True)
    return path.read_bytes()


def test_refused_generation_with_inline_audio_leaves_nothing(client, caller, portrait_png, consent_pdf, distinct_wav):
    sha = hashlib.sha256(distinct_wav).hexdigest()
    files_store = client.app.state.service.files
    audio = {"audio": ("refused.wav", distinct_wav, "audio/wav")}

    unknown = {"consent_id": "cns_aaaaaaaa", "portrait_id": "prt_aaaaaaaa"}
    response = client.post("/v1/generations", headers=caller.headers, data=unknown, files=audio)
    assert response.status_code == 404, response.text
    assert _asset_rows(client, sha) == 0
    assert not files_store.exists(sha), "an unknown consent left the audio file in the store"

    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    revoked = client.post(f"/v1/consents/{consent['id']}/revoke", headers=caller.headers, json={"reason": "withdrawn"})
    assert revoked.status_code == 200, revoked.text
    form = {"consent_id": consent["id"], "portrait_id": portrait["id"]}
    response = client.post("/v1/generations", headers=caller.headers, data=form, files=audio)
    assert response.status_code == 403, response.text
    assert _asset_rows(client, sha) == 0, "a denied request committed its audio asset"
    assert not files_store.exists(sha), "a denied request left the audio file in the store"
    assert not list(files_store.tmp_dir.iterdir()), "a staged upload was left in the temp folder"
