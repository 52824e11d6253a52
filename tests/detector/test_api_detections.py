"""POST/GET /v1/detections against the real app: auth, scope, happy path, audit entry, bad uploads."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from candor.api.app import create_app
from candor.config import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("detector-api"),
        environment="development",
        rate_limit_per_s=1000.0,
        rate_limit_burst=1000,
        max_upload_bytes=400_000,
    )
    with TestClient(create_app(settings, start_worker=False), raise_server_exceptions=False) as test_client:
        yield test_client


def _key(client: TestClient, name: str, scopes: str) -> tuple[str, dict[str, str]]:
    from candor import services

    state = client.app.state.service
    with state.session_factory() as session:  # each service write commits its own unit of work
        partner = services.create_partner(session=session, log=state.ledger, name=name, use_case="education")
        services.set_partner_state(session=session, log=state.ledger, partner_id=partner.id, state="approved")
        partner_id = partner.id
    with state.session_factory() as session:
        issued = services.issue_api_key(session=session, log=state.ledger, partner_id=partner_id, scopes=scopes)
        return partner_id, {"Authorization": f"Bearer {issued.token}"}


def _problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


def _upload(path: Path, name: str = "clip.mp4", media_type: str = "video/mp4") -> dict:
    return {"video": (name, path.read_bytes(), media_type)}


def test_no_key_is_401_and_wrong_scope_is_403(client, real_clip):
    _problem(client.post("/v1/detections", files=_upload(real_clip)), 401)
    _, generate_only = _key(client, "Gen Only Ltd", "generate")
    _problem(client.post("/v1/detections", headers=generate_only, files=_upload(real_clip)), 403)
    _problem(client.get("/v1/detections/det_aaaa", headers=generate_only), 403)


def test_scan_a_real_clip_then_read_it_back(client, real_clip):
    partner_id, headers = _key(client, "Trust and Safety Co", "detect")
    response = client.post("/v1/detections", headers=headers, files=_upload(real_clip))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("det_") and response.headers["Location"] == f"/v1/detections/{body['id']}"
    assert body["verdict"] == "no_evidence" and body["verdict_label"] == "no evidence of synthesis"
    assert [e["kind"] for e in body["evidence"]][-1] == "classifier"
    assert body["classifier"]["samples"] >= 6 and body["video"]["frames"] == 50
    again = client.get(f"/v1/detections/{body['id']}", headers=headers)
    assert again.status_code == 200 and again.json() == body
    # the scan is a row of the service database (digest and verdict, never the video)
    from candor.store.models import Detection

    with client.app.state.service.session_factory() as session:
        row = session.get(Detection, body["id"])
        assert (row.partner_id, row.sha256, row.verdict) == (partner_id, body["sha256"], "no_evidence")
        assert row.size_bytes == real_clip.stat().st_size
    # the scan is in the tamper-evident log, by digest (no video bytes)
    ledger = client.app.state.service.ledger
    entries = ledger.entries(0, ledger.tree_size())
    event = [e for e in entries if e.event_type == "detection.performed"][-1]
    assert event.actor == partner_id and event.subject == body["id"]
    assert event.details["sha256"] == body["sha256"] and event.details["verdict"] == "no_evidence"
    # another partner cannot see it
    _, other = _key(client, "Other Co", "detect")
    _problem(client.get(f"/v1/detections/{body['id']}", headers=other), 404)


def test_bad_uploads_are_problems(client, tmp_path):
    _, headers = _key(client, "Uploader Co", "detect")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    # Bytes of no known container are judged by their content, whatever the declared type: 415.
    assert (
        "unsupported-media-type"
        in _problem(client.post("/v1/detections", headers=headers, files=_upload(junk)), 415)["type"]
    )
    # An MP4 container that does not decode is a corrupt video: 422.
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00garbage" * 200)
    assert (
        "invalid-video" in _problem(client.post("/v1/detections", headers=headers, files=_upload(broken)), 422)["type"]
    )
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\x00" * 500_000)
    _problem(client.post("/v1/detections", headers=headers, files=_upload(big)), 413)
    _problem(client.post("/v1/detections", headers=headers, files=_upload(junk, "a.png", "image/png")), 415)
    _problem(client.get("/v1/detections/not-an-id", headers=headers), 422)
