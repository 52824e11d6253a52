"""Durability through the front door: `candor serve` is SIGKILLed while a generation runs; the
restarted server re-runs the job and publishes a complete, verifiable video."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from candor.cli import app as cli
from candor.config import get_settings


def _serve(data_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "CANDOR_DATA_DIR": str(data_dir), "CANDOR_ENVIRONMENT": "development"}
    command = [sys.executable, "-m", "candor.cli", "serve", "--port", str(port), "--log-level", "warning"]
    # Its own process group, so the kill takes uvicorn and the job threads down together.
    return subprocess.Popen(command, env=env, start_new_session=True, stderr=subprocess.DEVNULL)


def _wait_healthy(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("the server did not come up")


def _stop(server: subprocess.Popen, sig: int) -> None:
    if server.poll() is None:
        os.killpg(server.pid, sig)
        server.wait(30)


@pytest.mark.slow
def test_generation_survives_a_killed_server(tmp_path, monkeypatch, portrait_png, consent_pdf):
    from candor.provenance.verify import Outcome
    from candor.services.container import Container

    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CANDOR_ENVIRONMENT", "development")
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(cli, ["partners", "add", "Durable Co", "--use-case", "education"]).exit_code == 0
    assert runner.invoke(cli, ["partners", "approve", "Durable Co"]).exit_code == 0
    token = runner.invoke(cli, ["keys", "issue", "Durable Co"]).stdout.strip()
    get_settings.cache_clear()
    wav = tmp_path / "long.wav"
    speech = "This clip is long enough that the server can be killed while the video is being made. " * 2
    subprocess.run(["espeak-ng", "-w", str(wav), speech], check=True, capture_output=True)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = f"http://127.0.0.1:{port}/v1"
    headers = {"Authorization": f"Bearer {token}"}
    server = _serve(tmp_path, port)
    try:
        _wait_healthy(port, server)
        consent = httpx.post(
            f"{api}/consents",
            headers=headers,
            data={"subject_name": "D. Urable", "subject_is_adult": "true", "allowed_uses": "education"},
            files={
                "evidence_document": ("consent.pdf", consent_pdf, "application/pdf"),
                "reference": ("subject.png", portrait_png, "image/png"),
            },
            timeout=60,
        ).json()
        portrait = httpx.post(
            f"{api}/consents/{consent['id']}/portraits",
            headers=headers,
            files={"image": ("p.png", portrait_png, "image/png")},
            timeout=60,
        ).json()
        job = httpx.post(
            f"{api}/generations",
            headers=headers,
            data={"consent_id": consent["id"], "portrait_id": portrait["id"]},
            files={"audio": ("long.wav", wav.read_bytes(), "audio/wav")},
            timeout=60,
        ).json()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = httpx.get(f"{api}/generations/{job['id']}", headers=headers).json()
            if state["status"] == "running" and state["progress"] > 0:
                break
            assert state["status"] in ("queued", "running"), state
            time.sleep(0.2)
        else:
            raise AssertionError("the job never started")
        _stop(server, signal.SIGKILL)  # mid-render: no graceful shutdown, no cleanup

        server = _serve(tmp_path, port)
        _wait_healthy(port, server)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            state = httpx.get(f"{api}/generations/{job['id']}", headers=headers).json()
            if state["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        assert state["status"] == "succeeded", state
        video = httpx.get(f"{api}/generations/{job['id']}/video", headers=headers, timeout=60)
        assert video.status_code == 200
    finally:
        _stop(server, signal.SIGTERM)

    path = tmp_path / "recovered.mp4"
    path.write_bytes(video.content)
    get_settings.cache_clear()
    report = Container.build(get_settings()).verifier.verify_file(path)
    assert report.outcome is Outcome.PROVEN, (report.state, report.failure_codes)
    assert report.summary.generation["generation_id"] == job["id"]
    # It really ran twice: the first claim died with the server, the restart re-ran it.
    from candor.store.database import make_engine, make_session_factory
    from candor.store.models import Generation

    with make_session_factory(make_engine(get_settings().resolved_database_url))() as session:
        assert session.get(Generation, job["id"]).attempts == 2
    # Nothing half-written was published: every file in the content-addressed store (its tmp/
    # work area aside) hashes to its own name, the video included.
    import hashlib

    store = tmp_path / "files"
    published = [p for p in store.rglob("*") if p.is_file() and "tmp" not in p.relative_to(store).parts]
    assert hashlib.sha256(video.content).hexdigest() in {p.name for p in published}
    for path in published:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, path
    get_settings.cache_clear()
