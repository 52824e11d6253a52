"""Generation jobs through the API with the in-process worker pool running: a job is queued,
claimed, released as a watermarked C2PA-signed MP4, downloaded (logged) and resolvable by its
watermark; revoking consent fails a still-queued job.

``stills_handler`` renders the enrolled portrait held still for the audio's length through the
product's release path (candor.services.release.release_frames: real watermark, real C2PA signature, real
manifest repository). The talking-face pipeline replaces it via candor.services.jobs.run_generation_job;
``test_production_handler_end_to_end`` runs the production one (candor.services.worker.GenerationWorker).
"""

from __future__ import annotations

import time

import pytest
from api_helpers import Admin, create_consent, enroll, make_settings, upload_audio
from fastapi.testclient import TestClient

from candor.api.app import create_app


def stills_handler(container):  # type: ignore[no-untyped-def]
    """A job handler that releases the portrait held still through the container's release path."""
    from candor.generator.face import analyze_image
    from candor.services.jobs import JobOutput

    releaser = container.releaser

    def handle(ctx):  # type: ignore[no-untyped-def]
        framed = analyze_image(ctx.portrait_path).image
        n = max(1, round(ctx.duration_s * ctx.fps))
        claim = releaser.claim(
            generation_id=ctx.generation_id, partner_id=ctx.partner_id, consent_id=ctx.consent_id, controls=ctx.controls
        )
        result = releaser.release_frames(
            (framed for _ in range(n)),
            out_path=ctx.out_path,
            fps=ctx.fps,
            claim=claim,
            portrait=ctx.portrait_path.read_bytes(),
            audio_path=ctx.audio_path,
            serial=ctx.serial,
            on_frame=lambda i: ctx.progress(i / n),
        )
        return JobOutput(
            path=result.output_path, manifest_id=result.manifest_id, serial=result.serial, duration_s=result.duration_s
        )

    return handle


def _worker_client(data_dir, handler_for):  # type: ignore[no-untyped-def]
    """A client whose app runs jobs with ``handler_for(container)`` (None: the production handler)."""
    app = create_app(make_settings(data_dir), start_worker=True)
    if handler_for is not None:
        app.state.service.job_handler = handler_for(app.state.service)
    return TestClient(app, raise_server_exceptions=False)


def _wait(client, caller, job_id, timeout_s=180.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(f"/v1/generations/{job_id}", headers=caller.headers).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s (last: {body})")


def _run_one_generation(client, portrait_png, speech_wav, consent_pdf, **form):  # type: ignore[no-untyped-def]
    admin = Admin(client.app)
    partner = admin.partner("Jobs School")
    caller = admin.key(partner, "generate,detect,audit:read")
    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    asset = upload_audio(client, caller, speech_wav)
    job = client.post(
        "/v1/generations",
        headers=caller.headers,
        data={"consent_id": consent["id"], "portrait_id": portrait["id"], "audio_asset_id": asset["id"], **form},
    )
    assert job.status_code == 202, job.text
    return caller, consent, _wait(client, caller, job.json()["id"])


def _check_released_video(client, caller, done, tmp_path):  # type: ignore[no-untyped-def]
    from candor.provenance.verify import Outcome

    assert done["status"] == "succeeded", done
    assert done["progress"] == pytest.approx(1.0)
    assert done["video_url"] == f"/v1/generations/{done['id']}/video"
    video = client.get(done["video_url"], headers=caller.headers)
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.headers["etag"].strip('"') == done["output_sha256"]
    path = tmp_path / "out.mp4"
    path.write_bytes(video.content)
    report = client.app.state.service.verifier.verify_file(path)
    assert report.outcome is Outcome.PROVEN, (report.state, report.failure_codes, report.notes)
    assert report.summary.manifest_id == done["manifest_id"]
    assert report.watermark is not None and report.watermark.found

    # The watermark resolves to the same manifest through the soft-binding API.
    matches = client.get(
        "/v1/manifests/matches/byBinding",
        headers=caller.headers,
        params={"alg": report.watermark.alg, "value": report.watermark.binding_value},
    ).json()["matches"]
    assert [m["manifestId"] for m in matches] == [done["manifest_id"]]

    # The download is on the record.
    size = client.get("/v1/audit/checkpoint", headers=caller.headers).json()["tree_size"]
    entries = client.get(
        "/v1/audit/entries", headers=caller.headers, params={"start": max(0, size - 20), "limit": 20}
    ).json()["entries"]
    downloads = [e for e in entries if e["event_type"] == "generation.downloaded"]
    assert any(e["subject"] == done["id"] for e in downloads)


@pytest.fixture()
def webhook_receiver():  # type: ignore[no-untyped-def]
    """A loopback HTTP server recording the POSTs it receives: (headers, body) pairs."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/candor", received
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_job_is_released_downloaded_and_resolvable(
    tmp_path_factory, tmp_path, portrait_png, speech_wav, consent_pdf, webhook_receiver
):
    import json

    from candor.services.webhooks import verify_signature
    from candor.store.models import Partner

    url, received = webhook_receiver
    with _worker_client(tmp_path_factory.mktemp("jobs"), stills_handler) as client:
        caller, _consent, done = _run_one_generation(client, portrait_png, speech_wav, consent_pdf, webhook_url=url)
        _check_released_video(client, caller, done, tmp_path)
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
        with client.app.state.service.session_factory() as session:
            secret = session.get(Partner, caller.partner_id).webhook_secret
    # The completion webhook arrived, signed with the partner's secret (HMAC-SHA256).
    assert len(received) == 1
    headers, body = received[0]
    assert verify_signature(secret, headers["Candor-Timestamp"], body, headers["Candor-Signature"])
    assert not verify_signature("another secret", headers["Candor-Timestamp"], body, headers["Candor-Signature"])
    event = json.loads(body)
    assert event["type"] == "generation.succeeded"
    assert event["generation"]["id"] == done["id"]
    assert event["generation"]["manifest_id"] == done["manifest_id"]


def test_revoking_consent_fails_a_queued_job(tmp_path_factory, portrait_png, speech_wav, consent_pdf):
    # No worker: the job stays queued, as it would behind a long one.
    app = create_app(make_settings(tmp_path_factory.mktemp("revoke")), start_worker=False)
    with TestClient(app) as client:
        admin = Admin(app)
        caller = admin.key(admin.partner("Revoker"), "generate")
        consent = create_consent(client, caller, consent_pdf)
        portrait = enroll(client, caller, consent["id"], portrait_png)
        asset = upload_audio(client, caller, speech_wav)
        job = client.post(
            "/v1/generations",
            headers=caller.headers,
            data={"consent_id": consent["id"], "portrait_id": portrait["id"], "audio_asset_id": asset["id"]},
        ).json()
        assert job["status"] == "queued"
        client.post(f"/v1/consents/{consent['id']}/revoke", headers=caller.headers)
        after = client.get(f"/v1/generations/{job['id']}", headers=caller.headers).json()
        assert after["status"] == "failed"
        assert "revoked" in after["error"]
        assert client.get(f"/v1/generations/{job['id']}/video", headers=caller.headers).status_code == 409


@pytest.mark.slow
def test_production_handler_end_to_end(tmp_path_factory, tmp_path, portrait_png, speech_wav, consent_pdf):
    with _worker_client(tmp_path_factory.mktemp("prod"), None) as client:
        caller, _consent, done = _run_one_generation(client, portrait_png, speech_wav, consent_pdf)
        _check_released_video(client, caller, done, tmp_path)
