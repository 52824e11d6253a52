"""The gate holds over queued and running jobs (issue 14, findings 2, 7 and 9): suspending a partner,
revoking the requesting key or the consent, or the partner's own cancel stops a job, queued or
running, and nothing is published afterwards; a restarted worker recovers its own dead jobs at
once and leaves no work folder; webhooks are retried on a persistent schedule. SQLite and
PostgreSQL, real handlers and a real worker process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from sqlalchemy import select, update
from store_jobwork import fingerprint_job
from test_jobs import HERE, fetch, make_queue

from candor import services
from candor.errors import Conflict
from candor.services.jobs import JobContext, JobOutput
from candor.store.models import ApiKey, Generation, LogEntryRow, Partner, QuotaUsage, utcnow

ROOT = HERE.parents[1]


def key_id(factory, world) -> str:  # type: ignore[no-untyped-def]
    prefix = "_".join(world.token.split("_")[:2])
    with factory() as session:
        return session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix))


def enqueue(factory, log, policy, world, api_key_id=None, **changes) -> str:  # type: ignore[no-untyped-def]
    with factory() as session:
        outcome = services.create_generation(
            session=session,
            log=log,
            partner=world.partner,
            request=world.request(**changes),
            policy=policy,
            **({} if api_key_id is None else {"api_key_id": api_key_id}),
        )
    return outcome.generation.id


def quota_used(factory, world) -> float:  # type: ignore[no-untyped-def]
    with factory() as session:
        return float(sum(session.scalars(select(QuotaUsage.seconds).where(QuotaUsage.partner_id == world.partner.id))))


def events(factory, subject: str) -> list[str]:  # type: ignore[no-untyped-def]
    with factory() as session:
        rows = session.scalars(
            select(LogEntryRow).where(LogEntryRow.subject == subject).order_by(LogEntryRow.log_index)
        )
        return [r.event_type for r in rows]


def stored_files(files) -> int:  # type: ignore[no-untyped-def]
    return len(list(files.root.glob("??/??/*")))


def suspend(factory, log, world) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        services.set_partner_state(session=session, log=log, partner_id=world.partner.id, state="suspended")


# -- finding 2: queued jobs stop at once ------------------------------------------------------------


def test_suspending_a_partner_stops_its_queued_jobs(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    gid = enqueue(factory, log, policy, world)
    assert quota_used(factory, world) > 0
    suspend(factory, log, world)
    g = fetch(factory, gid)
    assert (g.status, g.error) == ("failed", "stopped: partner suspended")
    assert quota_used(factory, world) == pytest.approx(0.0)  # the reservation is given back
    assert events(factory, gid)[-1] == "generation.stopped"
    assert make_queue(factory, files, log=log).run_pending() == 0  # nothing left to claim


def test_revoking_a_key_stops_the_jobs_it_requested_only(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        other = services.issue_api_key(session=session, log=log, partner_id=world.partner.id, scopes="generate")
    mine = enqueue(factory, log, policy, world, api_key_id=key_id(factory, world), seed=1)
    theirs = enqueue(factory, log, policy, world, api_key_id=other.key.id, seed=2)
    with factory() as session:
        services.revoke_api_key(session=session, log=log, key_id=key_id(factory, world))
    assert (fetch(factory, mine).status, fetch(factory, mine).error) == ("failed", "stopped: API key revoked")
    assert fetch(factory, theirs).status == "queued"
    make_queue(factory, files, log=log).run_pending()
    assert fetch(factory, theirs).status == "succeeded"


# -- finding 2: running jobs stop early and publish nothing ----------------------------------------


def _interruptible(before):  # type: ignore[no-untyped-def]
    """A handler that runs ``before(ctx)`` (closing the gate), then keeps reporting progress for up
    to 10 s: a stopped job must be interrupted at a progress report long before that."""
    seen: dict[str, float] = {}

    def handle(ctx: JobContext) -> JobOutput:
        before(ctx)
        start = time.monotonic()
        try:
            while time.monotonic() - start < 10.0:
                ctx.progress(0.5)
                time.sleep(0.05)
        finally:
            seen["ran_s"] = time.monotonic() - start
        return fingerprint_job(ctx)

    return handle, seen


@pytest.mark.parametrize("how", ["suspend", "revoke_key", "revoke_consent", "cancel"])
def test_a_running_job_stops_early_and_publishes_nothing(how, factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    gid = enqueue(factory, log, policy, world, api_key_id=key_id(factory, world) if how == "revoke_key" else None)
    before_files = stored_files(files)

    def close_gate(ctx: JobContext) -> None:
        with factory() as session:
            if how == "suspend":
                services.set_partner_state(session=session, log=log, partner_id=world.partner.id, state="suspended")
            elif how == "revoke_key":
                services.revoke_api_key(session=session, log=log, key_id=key_id(factory, world))
            elif how == "revoke_consent":
                services.revoke_consent(session=session, log=log, partner=world.partner, consent_id=world.consent.id)
            else:
                services.cancel_generation(session=session, log=log, partner=world.partner, generation_id=gid)

    handler, seen = _interruptible(close_gate)
    make_queue(factory, files, handler, log=log, lease_s=3.0).run_pending()
    g = fetch(factory, gid)
    assert seen["ran_s"] < 3.0  # stopped at a heartbeat (1 s), not after rendering everything
    assert g.output_sha256 is None and g.lease_owner is None
    assert g.status == ("cancelled" if how == "cancel" else "failed")
    assert "generation.completed" not in events(factory, gid)
    assert stored_files(files) == before_files  # no output in the store
    assert quota_used(factory, world) == pytest.approx(0.0)
    assert list(files.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("gate", ["partner", "key"])
def test_publish_rechecks_partner_and_key_in_its_transaction(gate, factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    """The gate closes behind the services' back (a direct write, no stop) after the last progress
    report: the publish itself must refuse, and the rendered file must not stay in the store."""
    gid = enqueue(factory, log, policy, world, api_key_id=key_id(factory, world) if gate == "key" else None)
    before_files = stored_files(files)

    def close_silently(ctx: JobContext) -> JobOutput:
        output = fingerprint_job(ctx)
        with factory() as session:
            if gate == "partner":
                session.execute(update(Partner).where(Partner.id == world.partner.id).values(state="suspended"))
            else:
                session.execute(update(ApiKey).where(ApiKey.id == key_id(factory, world)).values(revoked_at=utcnow()))
            session.commit()
        return output

    make_queue(factory, files, close_silently, log=log).run_pending()
    g = fetch(factory, gid)
    assert g.status == "failed" and g.error.startswith("stopped:") and g.output_sha256 is None
    assert stored_files(files) == before_files
    assert events(factory, gid)[-1] == "generation.stopped"


# -- finding 9: cancellation --------------------------------------------------------------------------


def test_cancel_is_idempotent_and_a_finished_job_is_a_conflict(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    queued = enqueue(factory, log, policy, world, seed=1)
    with factory() as session:
        first = services.cancel_generation(session=session, log=log, partner=world.partner, generation_id=queued)
        again = services.cancel_generation(session=session, log=log, partner=world.partner, generation_id=queued)
    assert first.status == again.status == "cancelled" and first.cancelled_at is not None
    assert events(factory, queued).count("generation.cancelled") == 1
    assert quota_used(factory, world) == pytest.approx(0.0)
    done = enqueue(factory, log, policy, world, seed=2)
    make_queue(factory, files, log=log).run_pending()
    with factory() as session, pytest.raises(Conflict):
        services.cancel_generation(session=session, log=log, partner=world.partner, generation_id=done)
    assert fetch(factory, queued).status == "cancelled"  # the queue never ran it


def test_a_stopped_job_is_announced_by_webhook(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    server, url = _serve_flaky(failures=0)
    try:
        gid = enqueue(factory, log, policy, world, webhook_url=url)
        with factory() as session:
            services.cancel_generation(session=session, log=log, partner=world.partner, generation_id=gid)
        assert make_queue(factory, files).notifier.deliver_due() == 1
    finally:
        server.shutdown()
    g = fetch(factory, gid)
    assert g.webhook_delivered_at is not None and _Flaky.bodies[0]["type"] == "generation.cancelled"


# -- finding 7: recovery -----------------------------------------------------------------------------


def _start_worker(database, files, marker):  # type: ignore[no-untyped-def]
    # This tree's candor, not whichever one the venv has installed.
    env = {**os.environ, "CANDOR_TEST_MARKER": str(marker), "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    url = database.url if database.backend == "postgresql" else str(database.engine.url)
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "store_jobwork.py"), url, database.schema or "-", str(files.root)], env=env
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert worker.poll() is None, "worker exited early"
        assert time.monotonic() < deadline, "worker never started the job"
        time.sleep(0.05)
    return worker


def test_a_killed_worker_not_yet_reaped_is_recovered_at_once(database, factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    """kill -9 and a restart 1 s later, before the parent has reaped the dead worker (a zombie still
    answers kill(pid, 0)): its job is re-queued at once, not after its 60 s lease, and its work
    folder is removed."""
    gid = enqueue(factory, log, policy, world)
    marker = files.root.parent / "marker"
    worker = _start_worker(database, files, marker)
    try:
        os.kill(worker.pid, signal.SIGKILL)
        time.sleep(1.0)  # not reaped: no wait() yet
        restarted = make_queue(factory, files, log=log, lease_s=60.0)
        assert restarted.recover() == 1
        assert fetch(factory, gid).status == "queued"
        assert files.work_dirs("job-") == []
    finally:
        worker.kill()
        worker.wait(10)
    assert restarted.run_pending() == 1 and fetch(factory, gid).status == "succeeded"


def test_a_restarted_worker_that_got_the_same_pid_recovers_its_old_jobs(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    """A container restart gives the new worker the dead one's pid (often 1): the lease owner names
    a different process start, so the job is the dead incarnation's and is re-queued at once."""
    gid = enqueue(factory, log, policy, world)
    queue = make_queue(factory, files, log=log, lease_s=60.0)
    assert queue.claim() is not None
    dead_owner = f"{socket.gethostname()}:{os.getpid()}:1:deadbeef"  # this pid, started at tick 1
    with factory() as session:
        session.execute(update(Generation).where(Generation.id == gid).values(lease_owner=dead_owner))
        session.commit()
    leftover = files.work_dir(f"job-{gid}-")
    (leftover / "output.mp4").write_bytes(b"\0" * 4096)
    assert queue.recover() == 1
    assert not leftover.exists()
    # A job this very process holds is never taken from it.
    assert queue.claim() is not None and queue.recover() == 0


def test_a_lease_expired_job_leaves_no_work_folder(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    """A worker on another host died mid-job: the job is re-claimed after its lease, and the dead
    attempt's folder is removed, not kept for ever."""
    gid = enqueue(factory, log, policy, world)
    dead = make_queue(factory, files, lease_s=0.2)
    assert dead.claim() is not None
    with factory() as session:
        session.execute(update(Generation).where(Generation.id == gid).values(lease_owner="elsewhere:7:1:cafe"))
        session.commit()
    leftover = files.work_dir(f"job-{gid}-")
    (leftover / "output.mp4").write_bytes(b"\0" * 4096)
    time.sleep(0.3)
    assert make_queue(factory, files, log=log).run_pending() == 1
    assert fetch(factory, gid).status == "succeeded"
    assert files.work_dirs("job-") == []


# -- finding 7: webhooks retried on a schedule by the running worker -------------------------------


class _Flaky(BaseHTTPRequestHandler):
    received: ClassVar[list[float]] = []
    bodies: ClassVar[list[dict]] = []
    failures = 3

    def do_POST(self) -> None:
        type(self).bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        type(self).received.append(time.monotonic())
        self.send_response(503 if len(type(self).received) <= type(self).failures else 204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _serve_flaky(failures: int):  # type: ignore[no-untyped-def]
    _Flaky.received, _Flaky.bodies, _Flaky.failures = [], [], failures
    server = HTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/hook"


def test_the_running_worker_retries_webhooks_with_backoff(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    server, url = _serve_flaky(failures=3)
    queue = make_queue(factory, files, log=log, poll_s=0.05, webhook_backoff_s=0.2)
    try:
        gid = enqueue(factory, log, policy, world, webhook_url=url)
        queue.start()
        queue.submit(gid)
        deadline = time.monotonic() + 20
        while fetch(factory, gid).webhook_delivered_at is None:
            assert time.monotonic() < deadline, fetch(factory, gid).webhook_attempts
            time.sleep(0.05)
    finally:
        queue.stop()
        server.shutdown()
    g = fetch(factory, gid)
    assert g.webhook_attempts == 4 and g.webhook_next_attempt_at is None
    gaps = [b - a for a, b in zip(_Flaky.received, _Flaky.received[1:], strict=False)]
    assert gaps[0] >= 0.18 and gaps[1] >= 0.75 and gaps[2] >= 3.0  # 0.2 s, 0.8 s, 3.2 s: backing off


def test_webhook_tries_are_bounded_and_survive_a_restart(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    server, url = _serve_flaky(failures=100)
    try:
        gid = enqueue(factory, log, policy, world, webhook_url=url)
        make_queue(factory, files, webhook_attempts=3, webhook_backoff_s=60.0).run_pending()
        g = fetch(factory, gid)
        assert g.webhook_attempts == 1 and g.webhook_next_attempt_at is not None  # scheduled, not spent
        restarted = make_queue(factory, files, webhook_attempts=3, webhook_backoff_s=60.0)
        assert restarted.notifier.deliver_due() == 0  # not due yet: 60 s backoff
        assert restarted.notifier.deliver_due(now=g.webhook_next_attempt_at) == 1  # a new process sends it
        far = utcnow() + timedelta(days=1)
        assert restarted.notifier.deliver_due(now=far) == 1
        assert restarted.notifier.deliver_due(now=far) == 0  # 3 tries in all: given up
    finally:
        server.shutdown()
    g = fetch(factory, gid)
    assert (g.webhook_attempts, g.webhook_delivered_at, g.webhook_next_attempt_at) == (3, None, None)
    assert g.webhook_error == "HTTP 503" and len(_Flaky.received) == 3
