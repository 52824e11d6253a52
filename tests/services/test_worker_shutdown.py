"""Graceful worker shutdown: a job that finishes within the grace period is published; one that
does not is handed back at once (queued, the attempt not counted, no lease wait) and runs to
completion on the next worker. The job metrics count what happened."""

from __future__ import annotations

import threading
import time

from store_jobwork import fingerprint_job
from test_jobs import enqueue, fetch, make_queue

from candor.services.jobs import JobContext, JobOutput
from candor.services.metrics import JobMetrics


def _sample(metrics: JobMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


def _wait_running(factory, gid: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while fetch(factory, gid).status != "running":
        assert time.monotonic() < deadline, "the job was never claimed"
        time.sleep(0.05)


def test_a_job_unfinished_after_the_grace_period_is_handed_back(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    started = threading.Event()

    def slow(ctx: JobContext) -> JobOutput:
        started.set()
        for i in range(600):  # reports progress every 50 ms; never finishes by itself in time
            ctx.progress(i / 600)
            time.sleep(0.05)
        raise AssertionError("should have been handed back")

    gid = enqueue(factory, log, policy, world)
    metrics = JobMetrics(factory)
    queue = make_queue(factory, files, slow, log=log, poll_s=0.1, lease_s=60.0, metrics=metrics)
    queue.start()
    queue.submit(gid)
    assert started.wait(30)
    began = time.monotonic()
    queue.stop(timeout=0.3)
    assert time.monotonic() - began < 10  # not the 60 s lease
    g = fetch(factory, gid)
    assert (g.status, g.lease_owner, g.attempts, g.output_sha256) == ("queued", None, 0, None)
    assert list(files.tmp_dir.iterdir()) == []  # its work folder is gone
    assert _sample(metrics, "candor_jobs_total", outcome="handed_back") == 1
    assert _sample(metrics, "candor_jobs_total", outcome="stopped") == 0
    assert _sample(metrics, "candor_jobs_queue_depth", status="queued") == 1

    # The next worker claims it at once and finishes it; the hand-back did not use up an attempt.
    assert make_queue(factory, files, log=log).run_pending() == 1
    g = fetch(factory, gid)
    assert (g.status, g.attempts) == ("succeeded", 1)


def test_a_job_finishing_within_the_grace_period_is_published(factory, log, files, policy, world) -> None:  # type: ignore[no-untyped-def]
    started = threading.Event()

    def short(ctx: JobContext) -> JobOutput:
        started.set()
        time.sleep(0.5)
        return fingerprint_job(ctx)

    gid = enqueue(factory, log, policy, world)
    metrics = JobMetrics(factory)
    queue = make_queue(factory, files, short, log=log, poll_s=0.1, metrics=metrics)
    queue.start()
    queue.submit(gid)
    assert started.wait(30)
    queue.stop(timeout=30.0)
    g = fetch(factory, gid)
    assert (g.status, g.attempts) == ("succeeded", 1) and g.output_sha256 is not None
    assert _sample(metrics, "candor_jobs_total", outcome="succeeded") == 1
    assert _sample(metrics, "candor_jobs_total", outcome="handed_back") == 0
    assert _sample(metrics, "candor_job_render_seconds_count") == 1
    assert _sample(metrics, "candor_job_render_seconds_sum") >= 0.5
    assert _sample(metrics, "candor_job_claim_seconds_count") >= 1  # every claim is timed
    assert _sample(metrics, "candor_job_queue_wait_seconds_count") == 1
    text = metrics.render().decode()
    assert 'candor_jobs_queue_depth{status="queued"} 0.0' in text
