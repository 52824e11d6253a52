"""Generation requests: idempotency, inline audio, upload limits, rate limits, bad input."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from api_helpers import create_consent, enroll, make_settings, upload_audio
from fastapi.testclient import TestClient

from candor.api.app import create_app


@pytest.fixture(scope="module")
def caller(admin):
    return admin.key(admin.partner("Idem Academy"), "generate")


@pytest.fixture(scope="module")
def subject(client, caller, portrait_png, consent_pdf):
    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    return {"consent_id": consent["id"], "portrait_id": portrait["id"]}


def test_idempotency_key_replays_the_first_job(client, caller, subject, speech_wav):
    asset = upload_audio(client, caller, speech_wav)
    form = {**subject, "audio_asset_id": asset["id"], "seed": "7"}
    headers = {**caller.headers, "Idempotency-Key": "order-42"}
    first = client.post("/v1/generations", headers=headers, data=form)
    again = client.post("/v1/generations", headers=headers, data=form)
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    # Another key makes another job; the same key with another body is a conflict.
    other = client.post("/v1/generations", headers={**caller.headers, "Idempotency-Key": "order-43"}, data=form)
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    conflict = client.post("/v1/generations", headers=headers, data={**form, "seed": "8"})
    assert conflict.status_code == 409
    assert conflict.json()["type"].endswith("/conflict")
    listed = client.get("/v1/generations", headers=caller.headers).json()["items"]
    assert [g["id"] for g in listed].count(first.json()["id"]) == 1


def test_idempotent_retry_with_inline_audio(client, caller, subject, speech_wav):
    headers = {**caller.headers, "Idempotency-Key": "inline-1"}
    files = {"audio": ("hello.wav", speech_wav, "audio/wav")}
    first = client.post("/v1/generations", headers=headers, data=subject, files=files)
    again = client.post("/v1/generations", headers=headers, data=subject, files=files)
    assert first.status_code == 202, first.text
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]


def test_controls_are_recorded(client, caller, subject, speech_wav):
    asset = upload_audio(client, caller, speech_wav)
    form = {
        **subject,
        "audio_asset_id": asset["id"],
        "gaze_yaw": "10",
        "distance": "1.5",
        "emotion": "happy",
        "intensity": "0.6",
        "fps": "30",
    }
    body = client.post("/v1/generations", headers=caller.headers, data=form).json()
    assert body["controls"] == {
        "gaze_yaw": 10.0,
        "gaze_pitch": 0.0,
        "distance": 1.5,
        "emotion": "happy",
        "intensity": 0.6,
    }
    assert body["fps"] == 30
    assert body["video_url"] is None  # not before it succeeded
    assert 1.0 < body["duration_s"] < 5.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("gaze_yaw", "45"), ("distance", "3"), ("emotion", "furious"), ("fps", "240"), ("seed", "-1")],
)
def test_out_of_range_controls_are_422(client, caller, subject, field, value):
    form = {**subject, "audio_asset_id": "ast_aaaaaaaa", field: value}
    response = client.post("/v1/generations", headers=caller.headers, data=form)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][-1] == field


def test_exactly_one_audio_source(client, caller, subject, speech_wav):
    neither = client.post("/v1/generations", headers=caller.headers, data=subject)
    assert neither.status_code == 422
    assert "exactly one" in neither.json()["detail"]
    asset = upload_audio(client, caller, speech_wav)
    both = client.post(
        "/v1/generations",
        headers=caller.headers,
        data={**subject, "audio_asset_id": asset["id"]},
        files={"audio": ("a.wav", speech_wav, "audio/wav")},
    )
    assert both.status_code == 422


def test_download_before_success_is_409(client, caller, subject, speech_wav):
    asset = upload_audio(client, caller, speech_wav)
    job = client.post("/v1/generations", headers=caller.headers, data={**subject, "audio_asset_id": asset["id"]})
    response = client.get(f"/v1/generations/{job.json()['id']}/video", headers=caller.headers)
    assert response.status_code == 409
    assert "queued" in response.json()["detail"]


# --- uploads --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory) -> bytes:
    """A real 4 s WAV (sox sine) for the duration limit test."""
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed")
    path = tmp_path_factory.mktemp("long") / "tone.wav"
    # 8 kHz 8-bit keeps it at 32 KB, under the strict app's 64 KiB upload limit.
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-b", "8", "-c", "1", str(path), "synth", "4", "sine", "220"], check=True
    )
    return path.read_bytes()


@pytest.fixture(scope="module")
def strict_client(tmp_path_factory):
    """Small limits: 64 KiB per upload, 3 s of audio, and a rate limit of 2 requests per key."""
    settings = make_settings(
        tmp_path_factory.mktemp("strict"),
        max_upload_bytes=64 * 1024,
        max_audio_seconds=3.0,
        rate_limit_per_s=0.5,
        rate_limit_burst=2,
    )
    with TestClient(create_app(settings, start_worker=False), raise_server_exceptions=False) as client:
        yield client


def _strict_caller(strict_client, name):
    from api_helpers import Admin

    admin = Admin(strict_client.app)
    return admin.key(admin.partner(name), "generate")


def test_upload_size_limit_is_413(strict_client, speech_wav):
    caller = _strict_caller(strict_client, "Big Files")
    big = speech_wav + b"\0" * (64 * 1024)
    response = strict_client.post(
        "/v1/assets/audio", headers=caller.headers, files={"audio": ("a.wav", big, "audio/wav")}
    )
    assert response.status_code == 413
    assert response.json()["type"].endswith("/payload-too-large")


def test_audio_duration_limit_is_422(strict_client, long_wav):
    caller = _strict_caller(strict_client, "Long Talker")
    response = strict_client.post(
        "/v1/assets/audio", headers=caller.headers, files={"audio": ("t.wav", long_wav, "audio/wav")}
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("/audio-too-long")
    assert "3 s" in response.json()["detail"]


def test_rate_limit_is_429_with_retry_after(strict_client):
    caller = _strict_caller(strict_client, "Chatty")
    statuses = [strict_client.get("/v1/generations", headers=caller.headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = strict_client.get("/v1/generations", headers=caller.headers)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    # Buckets are per key: a second key of the same partner is not throttled.
    from api_helpers import Admin

    other = Admin(strict_client.app).key(caller.partner_id, "generate")
    assert strict_client.get("/v1/generations", headers=other.headers).status_code == 200


@pytest.mark.parametrize(
    ("payload", "media_type", "status", "slug"),
    [
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "audio/wav", 422, "invalid-audio"),
        (b"", "audio/wav", 422, "invalid-audio"),
        (b"plain text", "text/plain", 415, "unsupported-media-type"),
    ],
)
def test_bad_audio_is_a_clear_4xx(client, caller, payload, media_type, status, slug):
    response = client.post("/v1/assets/audio", headers=caller.headers, files={"audio": ("x.wav", payload, media_type)})
    assert response.status_code == status, response.text
    assert response.json()["type"].endswith(slug)
    assert str(client.app.state.settings.data_dir) not in response.text  # no server paths


def test_octet_stream_audio_is_sniffed(client, caller, speech_wav):
    response = client.post(
        "/v1/assets/audio",
        headers=caller.headers,
        files={"audio": ("hello.bin", speech_wav, "application/octet-stream")},
    )
    assert response.status_code == 201, response.text


# --- policy limits enforced through the API -------------------------------------------------------


def test_monthly_quota_is_enforced_by_rule(client, admin, portrait_png, speech_wav, consent_pdf):
    # 3 s of video a month: the first ~2.3 s clip fits, the second does not.
    caller = admin.key(admin.partner("Small Quota", monthly_quota_s=3.0), "generate")
    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    asset = upload_audio(client, caller, speech_wav)
    form = {"consent_id": consent["id"], "portrait_id": portrait["id"], "audio_asset_id": asset["id"]}
    assert client.post("/v1/generations", headers=caller.headers, data=form).status_code == 202
    denied = client.post("/v1/generations", headers=caller.headers, data={**form, "seed": "1"})
    assert denied.status_code == 403
    assert denied.json()["rule_id"] == "quota.remaining"
    assert denied.json()["type"].endswith("/quota-exceeded")


def test_audio_longer_than_the_policy_maximum_is_denied(client, caller, subject, tmp_path):
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed")
    path = tmp_path / "long.wav"
    command = ["sox", "-n", "-r", "8000", "-b", "8", "-c", "1", str(path), "synth", "61", "sine", "220"]
    subprocess.run(command, check=True)
    asset = upload_audio(client, caller, path.read_bytes())  # under the 120 s upload limit
    denied = client.post("/v1/generations", headers=caller.headers, data={**subject, "audio_asset_id": asset["id"]})
    assert denied.status_code == 403
    assert denied.json()["rule_id"] == "request.duration_max"


def test_oversized_request_bodies_are_413_problems(strict_client):
    caller = _strict_caller(strict_client, "Streamer")
    # Declared length over the whole-body limit (2 x 64 KiB + 1 MiB): refused before reading.
    files = {"audio": ("a.wav", b"x" * (2 << 20), "audio/wav")}
    declared = strict_client.post("/v1/assets/audio", headers=caller.headers, files=files)
    assert declared.status_code == 413
    assert declared.headers["content-type"].startswith("application/problem+json")

    # Chunked, no Content-Length: refused as soon as the stream passes the limit.
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"y" * 65536

    headers = {**caller.headers, "content-type": "multipart/form-data; boundary=xyz"}
    streamed = strict_client.post("/v1/assets/audio", headers=headers, content=chunks())
    assert streamed.status_code == 413
    assert streamed.json()["type"].endswith("/payload-too-large")


def test_rate_limit_is_shared_through_redis(tmp_path_factory):
    import socket
    import uuid

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    data_dir = tmp_path_factory.mktemp("redis")
    settings = make_settings(data_dir, redis_url="redis://127.0.0.1:6379/0", rate_limit_per_s=0.5, rate_limit_burst=2)
    first, second = create_app(settings, start_worker=False), create_app(settings, start_worker=False)
    # Two app instances stand for two server processes; keys are fresh so old buckets do not matter.
    with TestClient(first) as a, TestClient(second) as b:
        from api_helpers import Admin

        admin = Admin(first)
        caller = admin.key(admin.partner(f"Shared {uuid.uuid4().hex[:6]}"), "generate")
        statuses = [
            a.get("/v1/generations", headers=caller.headers).status_code,
            b.get("/v1/generations", headers=caller.headers).status_code,
            a.get("/v1/generations", headers=caller.headers).status_code,
        ]
        assert statuses == [200, 200, 429]
        limited = b.get("/v1/generations", headers=caller.headers)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
