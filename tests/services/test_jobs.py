"""The durable job queue on SQLite and PostgreSQL with real handlers: success, failures, retries,
leases, a worker killed with SIGKILL mid-job, consent revoked mid-job, signed webhooks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import select
from store_jobwork import expected_bytes, fingerprint_job

from candor import services
from candor.errors import ConsentRevoked, InvalidInput
from candor.services import webhooks
from candor.services.jobs import JobContext, JobOutput, ThreadJobQueue
from candor.services.worker import publish_job
from candor.store.models import Generation, LogEntryRow, QuotaUsage

HERE = Path(__file__).parents[1] / "store"  # the job-worker script lives beside the fixtures


def make_queue(factory, files, handler=fingerprint_job, **kw) -> ThreadJobQueue:  # type: ignore[no-untyped-def]
    return ThreadJobQueue(factory, files, handler, allow_private_webhooks=True, **kw)


def enqueue(factory, log, policy, world, **changes) -> str:  # type: ignore[no-untyped-def]
    with factory() as session:
        outcome = services.create_generation(
            session=session, log=log, partner=world.partner, request=world.request(**changes), policy=policy
        )
    return outcome.generation.id


def fetch(factory, generation_id: str) -> Generation:  # type: ignore[no-untyped-def]
    with factory() as session:
        return session.get(Generation, generation_id)


def expected_for(files, world, g: Generation) -> bytes:  # type: ignore[no-untyped-def]
    return expected_bytes(
        files.read_bytes(world.portrait.image_sha256), files.read_bytes(world.audio.sha256), g.controls, g.seed
    )


def test_job_runs_and_publishes_atomically(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    gid = enqueue(factory, log, policy, world)
    assert fetch(factory, gid).status == "queued"  # committed before any work
    seen: list[JobContext] = []

    def recording(ctx: JobContext) -> JobOutput:
        seen.append(ctx)
        return fingerprint_job(ctx)

    queue = make_queue(factory, files, recording, log=log)
    assert queue.run_pending() == 1
    # inputs arrive under their real extensions; the claim names generation, partner and consent
    assert (seen[0].portrait_path.suffix, seen[0].audio_path.suffix) == (".png", ".wav")
    assert (seen[0].generation_id, seen[0].partner_id, seen[0].consent_id) == (gid, world.partner.id, world.consent.id)
    g = fetch(factory, gid)
    assert (g.status, g.progress, g.attempts, g.lease_owner) == ("succeeded", 1.0, 1, None)
    assert g.manifest_id == f"urn:test:{gid}" and g.watermark_serial == 7
    assert files.read_bytes(g.output_sha256) == expected_for(files, world, g)
    assert list(files.tmp_dir.iterdir()) == []  # the temp output was renamed in, nothing left
    with factory() as session:
        last = session.scalars(select(LogEntryRow).order_by(LogEntryRow.log_index.desc())).first()
        assert (last.event_type, last.subject) == ("generation.completed", gid)
        services.record_download(session=session, log=log, files=files, partner=world.partner, generation_id=gid)
        session.commit()
    assert fetch(factory, gid).downloaded_count == 1
    with factory() as session:
        services.revoke_consent(session=session, log=log, partner=world.partner, consent_id=world.consent.id)
    with factory() as session, pytest.raises(ConsentRevoked):
        services.record_download(session=session, log=log, files=files, partner=world.partner, generation_id=gid)


def test_bad_input_fails_at_once_and_refunds_quota(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    def bad_input(ctx: JobContext) -> JobOutput:
        ctx.out_path.write_bytes(b"partial")
        raise InvalidInput("the portrait has no usable face")

    gid = enqueue(factory, log, policy, world)
    make_queue(factory, files, bad_input, log=log).run_pending()
    g = fetch(factory, gid)
    assert (g.status, g.attempts, g.output_sha256) == ("failed", 1, None)
    assert "no usable face" in g.error
    with factory() as session:
        assert session.scalar(select(QuotaUsage.seconds)) == pytest.approx(0.0)
    assert list(files.tmp_dir.iterdir()) == []


def test_missing_input_file_fails_the_job_clearly(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    gid = enqueue(factory, log, policy, world)
    files.path(world.audio.sha256).unlink()  # e.g. a data directory restored without its files
    queue = make_queue(factory, files, log=log)
    assert queue.run_pending() == 1
    g = fetch(factory, gid)
    assert g.status == "failed" and world.audio.sha256 in g.error


def test_transient_errors_are_retried_then_failed(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    calls = []

    def flaky(ctx: JobContext) -> JobOutput:
        calls.append(ctx.generation_id)
        if len(calls) == 1:
            raise RuntimeError("GPU fell off the bus")
        return fingerprint_job(ctx)

    gid = enqueue(factory, log, policy, world)
    queue = make_queue(factory, files, flaky, max_attempts=2)
    queue.run_pending(max_jobs=1)
    assert fetch(factory, gid).status == "queued" and "GPU fell" in fetch(factory, gid).error
    queue.run_pending()
    assert (fetch(factory, gid).status, fetch(factory, gid).attempts) == ("succeeded", 2)

    def broken(ctx: JobContext) -> JobOutput:
        raise RuntimeError("always")

    gid2 = enqueue(factory, log, policy, world, seed=8)
    make_queue(factory, files, broken, max_attempts=2).run_pending()
    assert (fetch(factory, gid2).status, fetch(factory, gid2).attempts) == ("failed", 2)


def test_expired_lease_is_reclaimed_and_the_old_holder_is_fenced(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    gid = enqueue(factory, log, policy, world)
    stale = make_queue(factory, files, lease_s=0.5)
    fresh = make_queue(factory, files, lease_s=30.0)
    assert stale.claim() == (gid, 1)
    assert fresh.claim() is None  # leased: nobody else may take it
    time.sleep(0.7)  # the stale holder never heartbeats
    assert fresh.claim() == (gid, 2)
    # the stale worker finishes late: its publish must not win
    out = files.temp_path(".out")
    out.write_bytes(b"late result")
    assert publish_job(factory, files, log, gid, JobOutput(out), owner=stale.owner) is None
    g = fetch(factory, gid)
    assert (g.status, g.lease_owner, g.output_sha256) == ("running", fresh.owner, None)


def test_a_crash_looping_job_is_given_up(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    gid = enqueue(factory, log, policy, world)
    crasher = make_queue(factory, files, lease_s=0.2, max_attempts=2)
    for _ in range(2):  # two workers "die" right after claiming
        assert crasher.claim() is not None
        time.sleep(0.3)
    make_queue(factory, files, max_attempts=2).run_pending()
    g = fetch(factory, gid)
    assert g.status == "failed" and "gave up after 2" in g.error


def test_killed_worker_is_recovered_without_loss(database, factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    """A worker process is SIGKILLed halfway through writing its output: on restart the job runs
    again from the start, and only the complete output is ever published."""
    gid = enqueue(factory, log, policy, world)
    marker = files.root.parent / "marker"
    # This tree's candor first, not whichever one the venv has installed.
    env = {
        **os.environ,
        "CANDOR_TEST_MARKER": str(marker),
        "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parents[1])]),
    }
    url = database.url if database.backend == "postgresql" else str(database.engine.url)
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "store_jobwork.py"), url, database.schema or "-", str(files.root)], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert worker.poll() is None, "worker exited early"
            assert time.monotonic() < deadline, "worker never started the job"
            time.sleep(0.05)
        partial = Path(marker.read_text())
        g = fetch(factory, gid)
        assert g.status == "running" and g.attempts == 1
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert partial.exists() and partial.stat().st_size > 0  # the half-written file is still there...
    assert fetch(factory, gid).output_sha256 is None  # ...but nothing refers to it

    restarted = make_queue(factory, files, log=log, lease_s=60.0)
    assert restarted.recover() == 1  # the dead worker's job is queued again at once, no lease wait
    assert not partial.exists() and list(files.tmp_dir.iterdir()) == []  # its half-written work is cleared
    assert fetch(factory, gid).status == "queued"
    assert restarted.run_pending() == 1
    g = fetch(factory, gid)
    assert (g.status, g.attempts) == ("succeeded", 2)
    assert files.read_bytes(g.output_sha256) == expected_for(files, world, g)
    # the only published files: the inputs, the consent form and this one complete output
    published = {p.name for p in files.root.glob("??/??/*")}
    assert published == {
        world.portrait.image_sha256,
        world.audio.sha256,
        world.consent.evidence_document_sha256,
        g.output_sha256,
    }


def test_consent_revoked_while_running_is_not_published(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    def revoke_midway(ctx: JobContext) -> JobOutput:
        with factory() as session:
            services.revoke_consent(session=session, log=log, partner=world.partner, consent_id=world.consent.id)
        return fingerprint_job(ctx)

    gid = enqueue(factory, log, policy, world)
    make_queue(factory, files, revoke_midway, log=log).run_pending()
    g = fetch(factory, gid)
    assert g.status == "failed" and "revoked" in g.error and g.output_sha256 is None
    assert len(list(files.root.glob("??/??/*"))) == 3  # inputs and evidence only


def test_worker_threads_run_each_job_once(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    ids = [enqueue(factory, log, policy, world, seed=s) for s in range(4)]
    queue = make_queue(factory, files, workers=2, poll_s=0.2, log=log)
    queue.start()
    try:
        for gid in ids:
            queue.submit(gid)
        deadline = time.monotonic() + 60
        while any(fetch(factory, gid).status != "succeeded" for gid in ids):
            assert time.monotonic() < deadline, [fetch(factory, gid).status for gid in ids]
            time.sleep(0.1)
    finally:
        queue.stop()
    gens = [fetch(factory, gid) for gid in ids]
    assert [g.attempts for g in gens] == [1, 1, 1, 1]
    assert len({g.output_sha256 for g in gens}) == 4


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict, bytes]]] = []
    fail_first = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        status = 503 if type(self).fail_first and len(type(self).received) == 1 else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhook_is_signed_and_retried(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        gid = enqueue(factory, log, policy, world, webhook_url=url)
        queue = make_queue(factory, files)
        queue.run_pending()
        g = fetch(factory, gid)
        assert g.webhook_attempts == 1 and g.webhook_next_attempt_at is not None  # 503: retried later
        assert queue.notifier.deliver_due(now=g.webhook_next_attempt_at) == 1
    finally:
        server.shutdown()
    g = fetch(factory, gid)
    assert g.webhook_attempts == 2 and g.webhook_delivered_at is not None  # 503, then delivered
    headers, body = _Receiver.received[-1]
    payload = json.loads(body)
    assert payload["type"] == "generation.succeeded" and payload["generation"]["id"] == gid
    secret = world.partner.webhook_secret
    ts, sig = headers[webhooks.TIMESTAMP_HEADER], headers[webhooks.SIGNATURE_HEADER]
    assert webhooks.verify_signature(secret, ts, body, sig)
    assert not webhooks.verify_signature(secret, ts, body + b" ", sig)  # tampered body
    assert not webhooks.verify_signature("0" * 64, ts, body, sig)  # wrong secret
    assert not webhooks.verify_signature(secret, int(ts) - 3600, body, sig)  # stale / replayed


def test_production_refuses_webhooks_to_internal_addresses() -> None:
    payload = {"type": "generation.succeeded"}
    for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://[::1]/hook", "http://169.254.169.254/"):
        outcome = webhooks.deliver(url, "s" * 64, payload, allow_private=False, timeout_s=0.5)
        assert not outcome.ok and outcome.status is None and "non-public" in outcome.error
    assert webhooks.public_address_error("https://8.8.8.8/hook") is None
