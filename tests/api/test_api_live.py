"""/v1/live over a real WebSocket (Starlette's test client): a real partner, consent and portrait,
espeak-ng speech streamed as PCM16; frames decoded, their watermark read, the recording verified.
No timing is asserted: the protocol, the policy, the quota and the recording are."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from api_helpers import create_consent, enroll

from candor.services.live import decode_frame

RATE = 16_000


@pytest.fixture(scope="module")
def caller(admin):
    return admin.key(admin.partner("Live Academy"), "generate")


@pytest.fixture(scope="module")
def subject(client, caller, portrait_png, consent_pdf):
    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    return {"consent_id": consent["id"], "portrait_id": portrait["id"]}


@pytest.fixture(scope="module")
def pcm(speech_wav) -> np.ndarray:
    """The speech as 16 kHz PCM16 mono."""
    import soundfile as sf

    from candor.generator.audio import to_mono_16k

    data, sr = sf.read(io.BytesIO(speech_wav), dtype="float32")
    return (np.clip(to_mono_16k(data, sr), -1, 1) * 32767).astype("<i2")


def start(subject, **extra) -> dict:
    return {"type": "start", "sample_rate": RATE, **subject, **extra}


def stream(ws, pcm: np.ndarray, chunk_s: float = 0.2, rate: int = RATE) -> None:
    step = int(chunk_s * rate)
    for i in range(0, len(pcm), step):
        ws.send_bytes(pcm[i : i + step].tobytes())


def collect(ws) -> tuple[list[bytes], list[dict], tuple[int, str]]:
    """Everything the server sends until it closes: frames, JSON messages, (code, reason)."""
    frames, notes = [], []
    while True:
        message = ws.receive()
        if message["type"] == "websocket.close":
            return frames, notes, (message["code"], message.get("reason", ""))
        if message.get("bytes") is not None:
            frames.append(message["bytes"])
        else:
            notes.append(json.loads(message["text"]))


def test_a_session_streams_watermarked_frames_and_records_a_verifiable_video(client, caller, subject, pcm, tmp_path):
    with client.websocket_connect("/v1/live", headers=caller.headers) as ws:
        ws.send_json(start(subject, controls={"emotion": "happy", "intensity": 0.5}))
        ready = ws.receive_json()
        assert ready["type"] == "ready" and ready["generation_id"].startswith("gen_")
        stream(ws, pcm)
        ws.send_json({"type": "end"})
        frames, notes, (code, reason) = collect(ws)
    assert code == 1000, reason
    recorded = notes[-1]
    assert recorded["type"] == "recorded" and recorded["status"] == "succeeded"
    # One frame per 40 ms of audio, in order, each a JPEG carrying the session's watermark.
    expected = int(np.ceil(len(pcm) / RATE * 25 - 1e-6))
    assert len(frames) == recorded["frames"] == expected
    from candor.provenance.watermark import detect_frames

    key = client.app.state.service.watermark_key
    decoded = [decode_frame(f) for f in frames]
    assert [d[0] for d in decoded] == list(range(expected))
    assert [d[1] for d in decoded] == [round(1000 * i / 25) for i in range(expected)]
    import cv2

    for _index, _pts, jpeg in decoded:
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        assert image.shape == (512, 512, 3)
        found = detect_frames([image], key)
        assert found.serial == ready["watermark_serial"], found
    # The recording: downloadable like any generation, and it verifies (credentials + watermark).
    video = client.get(recorded["video"], headers=caller.headers)
    assert video.status_code == 200
    path = tmp_path / "live.mp4"
    path.write_bytes(video.content)
    report = client.app.state.service.verifier.verify_file(path)
    assert report.exit_code == 0, report
    generation = client.get(f"/v1/generations/{recorded['generation_id']}", headers=caller.headers).json()
    assert generation["status"] == "succeeded"
    # Its credentials name the model that made it.
    import c2pa

    from candor.files import file_sha256
    from candor.generator.motion_generator import DEFAULT_CHECKPOINT

    with c2pa.Reader(str(path)) as reader:
        manifest = reader.json()
    assert file_sha256(DEFAULT_CHECKPOINT) in manifest


def closed_with(client, caller_headers, first, *, subprotocols=None) -> tuple[int, str]:
    """Connect, send ``first`` (a dict as JSON, bytes as binary), return the close the server sends."""
    with client.websocket_connect("/v1/live", headers=caller_headers, subprotocols=subprotocols) as ws:
        if isinstance(first, bytes):
            ws.send_bytes(first)
        elif isinstance(first, str):
            ws.send_text(first)
        else:
            ws.send_json(first)
        _frames, _notes, close = collect(ws)
    return close


def test_no_key_and_bad_keys_close_4401(client, caller, subject):
    assert closed_with(client, {}, start(subject))[0] == 4401
    assert closed_with(client, {"Authorization": "Bearer cnd_nope_nope"}, start(subject))[0] == 4401
    assert closed_with(client, {}, start(subject, api_key="not a key"))[0] == 4401


def test_wrong_scope_and_suspended_partner_close_4403(client, admin, subject):
    detect_only = admin.key(admin.partner("Live Detector"), "detect")
    code, reason = closed_with(client, detect_only.headers, start(subject))
    assert code == 4403 and "generate" in reason
    suspended_id = admin.partner("Live Suspended")
    suspended = admin.key(suspended_id, "generate")
    admin.set_state(suspended_id, "suspended")
    assert closed_with(client, suspended.headers, start(subject))[0] == 4403


def test_another_partners_consent_is_4404(client, admin, subject):
    other = admin.key(admin.partner("Live Other"), "generate")
    code, reason = closed_with(client, other.headers, start(subject))
    assert code == 4404 and "consent" in reason


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (b"\x00\x01" * 100, 1003),  # audio before the start
        ("not json", 1007),
        ("[1, 2]", 1007),
        ({"type": "hello"}, 1003),
    ],
)
def test_a_bad_first_message_closes_with_a_clear_code(client, caller, first, code):
    assert closed_with(client, caller.headers, first)[0] == code


@pytest.mark.parametrize(
    "change",
    [
        {"sample_rate": 11025},
        {"sample_rate": "16000"},
        {"controls": {"distance": 9}},
        {"controls": {"emotion": "bored"}},
        {"controls": {"volume": 1}},
        {"seed": -1},
        {"portrait_id": 7},
        {"surprise": True},
    ],
)
def test_an_invalid_start_is_4422(client, caller, subject, change):
    code, reason = closed_with(client, caller.headers, {**start(subject), **change})
    assert code == 4422, reason


def test_the_key_may_come_in_the_start_message_or_a_subprotocol(client, caller, subject, pcm):
    for headers, subprotocols, extra in (
        ({}, None, {"api_key": caller.token}),
        ({}, ["candor.live.v1", caller.token], {}),
    ):
        with client.websocket_connect("/v1/live", headers=headers, subprotocols=subprotocols) as ws:
            ws.send_json(start(subject, **extra))
            assert ws.receive_json()["type"] == "ready"
            if subprotocols:
                assert ws.accepted_subprotocol == "candor.live.v1"
            ws.send_json({"type": "end"})
            _frames, _notes, (code, reason) = collect(ws)
        # Nothing was streamed: nothing to record, said so.
        assert code == 4422 and "no audio" in reason


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"\x00\x01\x02", 1007),  # half a sample
        (b"\x00" * (256 * 1024 + 2), 1009),
        ({"type": "pause"}, 1003),
        ({"type": "controls", "controls": {"gaze_yaw": 90}}, 4422),
        ("{", 1007),
    ],
)
def test_a_bad_message_mid_stream_closes_after_recording_what_was_streamed(client, caller, subject, pcm, message, code):
    with client.websocket_connect("/v1/live", headers=caller.headers) as ws:
        ws.send_json(start(subject))
        ready = ws.receive_json()
        stream(ws, pcm[: RATE // 2])
        if isinstance(message, bytes):
            ws.send_bytes(message)
        elif isinstance(message, str):
            ws.send_text(message)
        else:
            ws.send_json(message)
        frames, notes, (got, reason) = collect(ws)
    assert got == code, reason
    recorded = notes[-1]
    assert recorded["type"] == "recorded" and recorded["frames"] == len(frames) == 13  # 0.5 s at 25 fps
    assert recorded["generation_id"] == ready["generation_id"]


def test_controls_change_mid_stream_and_are_logged(client, caller, subject, pcm):
    with client.websocket_connect("/v1/live", headers=caller.headers) as ws:
        ws.send_json(start(subject))
        ready = ws.receive_json()
        stream(ws, pcm[:RATE])
        ws.send_json({"type": "controls", "controls": {"gaze_yaw": 20, "emotion": "happy", "intensity": 1.0}})
        stream(ws, pcm[RATE:])
        ws.send_json({"type": "end"})
        frames, notes, (code, _reason) = collect(ws)
    assert code == 1000
    change = next(n for n in notes if n["type"] == "controls")
    assert change["controls"]["gaze_yaw"] == 20 and 0 < change["from_frame"] <= len(frames)
    ledger = client.app.state.service.ledger
    entries = ledger.entries(0, 1000, actor=caller.partner_id)
    ended = [e for e in entries if e.event_type == "live.ended" and e.subject == ready["generation_id"]]
    assert ended[0].details["control_changes"][0]["emotion"] == "happy"


@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_other_sample_rates_are_resampled(client, caller, subject, pcm, rate):
    import soxr

    other = (soxr.resample(pcm.astype(np.float32), RATE, rate)).astype("<i2")
    with client.websocket_connect("/v1/live", headers=caller.headers) as ws:
        ws.send_json(start(subject, sample_rate=rate))
        ws.receive_json()
        stream(ws, other, rate=rate)
        ws.send_json({"type": "end"})
        frames, notes, (code, _reason) = collect(ws)
    assert code == 1000
    seconds = len(other) / rate
    assert abs(notes[-1]["duration_s"] - seconds) < 1e-3
    assert abs(len(frames) - seconds * 25) <= 1


def test_a_disconnect_still_records_the_session(client, caller, subject, pcm):
    with client.websocket_connect("/v1/live", headers=caller.headers) as ws:
        ws.send_json(start(subject))
        ready = ws.receive_json()
        stream(ws, pcm[:RATE])
        ws.receive_bytes()  # at least one frame came back before the client left
    generation_id = ready["generation_id"]
    for _ in range(600):  # the session records on its own thread after the socket is gone
        response = client.get(f"/v1/generations/{generation_id}", headers=caller.headers)
        if response.status_code == 200:
            break
        time.sleep(0.1)
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert response.json()["duration_s"] == pytest.approx(1.0)


def test_the_quota_counts_seconds_streamed_and_stops_the_session(client, admin, portrait_png, consent_pdf, pcm):
    caller = admin.key(admin.partner("Live Small Quota", monthly_quota_s=1.0), "generate")
    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    subject = {"consent_id": consent["id"], "portrait_id": portrait["id"]}
    with client.websocket_connect("/v1/live", headers=caller.headers) as ws:
        ws.send_json(start(subject))
        assert ws.receive_json()["quota_remaining_s"] == 0
        stream(ws, pcm)  # ~2 s: past the 1 s quota
        ws.send_json({"type": "end"})
        frames, notes, (code, reason) = collect(ws)
    assert code == 4403 and reason.startswith("quota.remaining")
    assert any(n["type"] == "stopped" and n["rule_id"] == "quota.remaining" for n in notes)
    assert notes[-1]["duration_s"] <= 1.0 and len(frames) == notes[-1]["frames"] == 25
    # The month's quota is spent: the next session is refused at the start, by name.
    code, reason = closed_with(client, caller.headers, start(subject))
    assert code == 4403 and reason.startswith("quota.remaining")


def test_revoking_the_consent_refuses_new_sessions(client, caller, portrait_png, consent_pdf):
    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    revoked = client.post(f"/v1/consents/{consent['id']}/revoke", headers=caller.headers, json={"reason": "withdrew"})
    assert revoked.status_code == 200
    code, reason = closed_with(
        client, caller.headers, start({"consent_id": consent["id"], "portrait_id": portrait["id"]})
    )
    assert code == 4403 and "consent" in reason
