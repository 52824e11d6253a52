"""Job controls through the front door (issue 14, findings 2 and 9): a partner cancels its own job
(idempotent; a finished one is a 409 problem; another partner's is a 404), and a job remembers the
key that requested it, so revoking that key or suspending the partner stops it."""

from __future__ import annotations

from api_helpers import Admin, create_consent, enroll, make_settings, upload_audio
from fastapi.testclient import TestClient

from candor.api.app import create_app


def _job(client, caller, consent_pdf, portrait_png, speech_wav, seed: int = 0) -> dict:  # type: ignore[no-untyped-def]
    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    asset = upload_audio(client, caller, speech_wav)
    response = client.post(
        "/v1/generations",
        headers=caller.headers,
        data={"consent_id": consent["id"], "portrait_id": portrait["id"], "audio_asset_id": asset["id"], "seed": seed},
    )
    assert response.status_code == 202, response.text
    return response.json()


def test_cancel_a_queued_job(tmp_path, portrait_png, speech_wav, consent_pdf) -> None:  # type: ignore[no-untyped-def]
    # No worker: the job stays queued, as it would behind a long one.
    app = create_app(make_settings(tmp_path), start_worker=False)
    with TestClient(app) as client:
        admin = Admin(app)
        caller = admin.key(admin.partner("Canceller"), "generate")
        stranger = admin.key(admin.partner("Stranger"), "generate")
        job = _job(client, caller, consent_pdf, portrait_png, speech_wav)
        url = f"/v1/generations/{job['id']}/cancel"
        assert client.post(url, headers=stranger.headers).status_code == 404  # not revealed to others
        first = client.post(url, headers=caller.headers)
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "cancelled" and first.json()["video_url"] is None
        again = client.post(url, headers=caller.headers)
        assert again.status_code == 200 and again.json()["status"] == "cancelled"  # idempotent
        assert client.get(f"/v1/generations/{job['id']}", headers=caller.headers).json()["status"] == "cancelled"
        assert client.post(url).status_code == 401


def test_revoking_the_requesting_key_stops_its_job_and_then_cancel_is_a_conflict(
    tmp_path, portrait_png, speech_wav, consent_pdf
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path), start_worker=False)
    with TestClient(app) as client:
        admin = Admin(app)
        partner = admin.partner("Two Keys")
        first, second = admin.key(partner, "generate"), admin.key(partner, "generate")
        by_first = _job(client, first, consent_pdf, portrait_png, speech_wav, seed=1)
        by_second = _job(client, second, consent_pdf, portrait_png, speech_wav, seed=2)
        admin.revoke(first)
        stopped = client.get(f"/v1/generations/{by_first['id']}", headers=second.headers).json()
        assert (stopped["status"], stopped["error"]) == ("failed", "stopped: API key revoked")
        assert client.get(f"/v1/generations/{by_second['id']}", headers=second.headers).json()["status"] == "queued"
        conflict = client.post(f"/v1/generations/{by_first['id']}/cancel", headers=second.headers)
        assert conflict.status_code == 409
        assert conflict.headers["content-type"].startswith("application/problem+json")
        assert "failed" in conflict.json()["detail"]
        admin.set_state(partner, "suspended")
        admin.set_state(partner, "approved")
        after = client.get(f"/v1/generations/{by_second['id']}", headers=second.headers).json()
        assert (after["status"], after["error"]) == ("failed", "stopped: partner suspended")
