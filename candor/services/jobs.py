"""Durable generation jobs: the ``generations`` table is the queue.

A job row is committed (``queued``) before any work starts. A worker claims one with a lease in a
single statement (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite serialises writers) and
heartbeats while it runs (each beat also re-checks the gate: partner approved, key and consent not
revoked, job not cancelled; a stopped job's handler is interrupted at its next progress report);
what running a job means (consent re-check, inputs, the release path,
publishing fenced on the lease) is :mod:`candor.services.worker`, telling the partner is
:mod:`candor.services.webhooks`. A killed worker leaves a ``running`` row whose lease expires (or
whose process is gone: a restarted worker on the same host re-queues it at once), so the next claim
re-runs it; a half-written work folder is never referenced and is removed. A worker that is told
to stop gives its running jobs a grace period, then hands them back: the handler is interrupted
and the lease released at once, so another worker claims the job without waiting for the lease.

:class:`JobQueue` is the seam for a distributed engine later; :class:`ThreadJobQueue` runs jobs on
threads in this process.

Over 400 lines because claiming, the heartbeat, recovery and the failure paths are one fencing
protocol on the lease columns: split apart, each half would have to restate the other's rules.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from candor.errors import CandorError
from candor.services.common import EventLog
from candor.services.metrics import JobMetrics
from candor.services.quota import release_quota
from candor.services.webhooks import GenerationNotifier
from candor.services.worker import (
    JobContext,
    JobHandler,
    JobOutput,
    JobStopped,
    gate_refusal,
    prepare_job,
    publish_job,
)
from candor.store.filestore import FileStore
from candor.store.models import Generation, utcnow

__all__ = ["JobContext", "JobHandler", "JobOutput", "JobQueue", "ThreadJobQueue"]

logger = logging.getLogger("candor.jobs")


class JobQueue(Protocol):
    """What the API needs from any job engine (in-process threads today, a distributed one later)."""

    def submit(self, generation_id: str) -> None:
        """Wake a worker for a job already committed as ``queued``."""

    def start(self) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...

    def recover(self) -> int:
        """Make interrupted jobs claimable again; returns how many were re-queued."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start(pid: int) -> str | None:
    """The start time of live process ``pid`` in clock ticks since boot (Linux ``/proc``), "" where
    there is no ``/proc``, or None when it is gone or a zombie. With the pid it names one process
    incarnation: a pid reused by a restarted worker (PID 1 in a container) or a killed child not yet
    reaped by its parent still answers ``kill(pid, 0)``, which made recovery wait out the lease."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "" if not Path("/proc/self/stat").exists() and _pid_alive(pid) else None
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parens
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def owner_alive(owner: str, host: str) -> bool | None:
    """Whether the worker named by a lease ``owner`` ("host:pid:start:nonce") is still running:
    None when it is on another host (only its lease can tell)."""
    parts = owner.split(":")
    if len(parts) < 3 or parts[0] != host:
        return None
    try:
        pid = int(parts[1])
    except ValueError:
        return None
    if len(parts) == 3:  # an owner written before the start time was recorded: "host:pid:nonce"
        return pid == os.getpid() or _pid_alive(pid)
    start = process_start(pid)
    return start is not None and (start == "" or start == parts[2])


class ThreadJobQueue:
    """Claims and runs jobs on ``workers`` threads. ``lease_s``: seconds a claim stays valid without
    a heartbeat; ``max_attempts``: claims before a job that keeps crashing is failed."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        files: FileStore,
        handler: JobHandler,
        *,
        workers: int = 1,
        lease_s: float = 30.0,
        max_attempts: int = 3,
        log: EventLog | None = None,
        poll_s: float = 1.0,
        webhook_attempts: int = 8,
        webhook_backoff_s: float = 2.0,
        allow_private_webhooks: bool = False,
        metrics: JobMetrics | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.files = files
        self.handler = handler
        self.workers = max(1, workers)
        self.lease = timedelta(seconds=lease_s)
        self.max_attempts = max_attempts
        self.log = log
        self.poll_s = poll_s
        self.notifier = GenerationNotifier(
            session_factory, attempts=webhook_attempts, base_s=webhook_backoff_s, allow_private=allow_private_webhooks
        )
        self.host = socket.gethostname()
        pid = os.getpid()
        self.owner = f"{self.host}:{pid}:{process_start(pid) or '0'}:{uuid.uuid4().hex[:8]}"
        self._wake = threading.Condition()
        self._pending_wakeups = 0
        self._stopping = threading.Event()
        self._handing_back = threading.Event()  # stop() ran out of grace: interrupt and release
        self._threads: list[threading.Thread] = []
        self._running: set[str] = set()  # ids of the jobs this queue's threads are running now
        self._running_lock = threading.Lock()
        self.metrics = metrics or JobMetrics()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self.recover()
        self._stopping.clear()
        self._handing_back.clear()
        for i in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"candor-job-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; running jobs get ``timeout`` s (the grace period) to finish. Past it each
        unfinished job is handed back: its lease is released at once (``queued`` again, the attempt
        not counted against it) and its handler stopped at its next progress report, so another
        worker claims it now instead of after the lease; publishing stays fenced on the lease."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            self._handing_back.set()
            with self._running_lock:
                running = sorted(self._running)
            handed = sum(self.hand_back(gid) for gid in running)
            if handed:
                logger.warning("handed back %d unfinished job(s) at shutdown", handed)
            for thread in self._threads:  # a handler stops at its next progress report
                thread.join(5.0)
        self._threads = [t for t in self._threads if t.is_alive()]

    def hand_back(self, generation_id: str) -> bool:
        """Release this queue's lease on a running job: ``queued`` again at once, the attempt not
        counted (an orderly shutdown is not a crash). False when the lease is no longer ours."""
        with self.session_factory() as session:
            result = session.execute(
                update(Generation)
                .where(
                    Generation.id == generation_id,
                    Generation.lease_owner == self.owner,
                    Generation.status == "running",
                )
                .values(
                    status="queued",
                    lease_owner=None,
                    lease_expires_at=None,
                    attempts=Generation.attempts - 1,
                    progress=0.0,
                )
            )
            session.commit()
        if result.rowcount == 1:  # type: ignore[attr-defined]
            self.metrics.outcome("handed_back")
            return True
        return False

    def submit(self, generation_id: str) -> None:
        with self._wake:
            self._pending_wakeups += 1
            self._wake.notify()

    def recover(self) -> int:
        """Re-queue ``running`` jobs whose worker process on this host is gone (at once, without
        waiting for the lease), remove work folders no live attempt owns, sweep stale temp files and
        send webhooks that are due. Jobs of other hosts are re-claimed when their lease expires."""
        requeued = 0
        with self.session_factory() as session:
            rows = session.execute(
                select(Generation.id, Generation.lease_owner).where(
                    Generation.status == "running", Generation.lease_owner.like(f"{self.host}:%")
                )
            ).all()
            for generation_id, owner in rows:
                if owner_alive(owner, self.host) is False:
                    result = session.execute(
                        update(Generation)
                        .where(Generation.id == generation_id, Generation.lease_owner == owner)
                        .values(status="queued", lease_owner=None, lease_expires_at=None)
                    )
                    requeued += result.rowcount  # type: ignore[attr-defined]
            session.commit()
        self.sweep_work_dirs()
        # Other temp files younger than an hour may belong to a live worker of another process.
        self.files.sweep_temp(older_than_s=3600.0)
        self.notifier.deliver_due()
        if requeued:
            logger.warning("re-queued %d job(s) interrupted by a dead worker", requeued)
        return requeued

    def sweep_work_dirs(self, generation_id: str | None = None) -> int:
        """Remove job work folders (all, or one job's) that no live attempt owns: the job is not
        running, or its holder on this host is dead, or its lease ran out. Returns how many."""
        removed = 0
        now = utcnow()
        for path in self.files.work_dirs(f"job-{generation_id or ''}"):
            gid = path.name[len("job-") :].rsplit("-", 1)[0]
            with self.session_factory() as session:
                row = session.execute(
                    select(Generation.status, Generation.lease_owner, Generation.lease_expires_at).where(
                        Generation.id == gid
                    )
                ).first()
            if row is not None and row.status == "running" and row.lease_owner is not None:
                alive = owner_alive(row.lease_owner, self.host)
                if alive or (alive is None and row.lease_expires_at is not None and row.lease_expires_at > now):
                    continue
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        return removed

    # -- claiming and running --------------------------------------------------------------------

    def claim(self, now: datetime | None = None) -> tuple[str, int] | None:
        """Lease the oldest claimable job to this queue: (generation id, attempt number) or None."""
        now = now or utcnow()
        began = time.perf_counter()
        claimable = or_(
            Generation.status == "queued",
            and_(Generation.status == "running", Generation.lease_expires_at < now),
        )
        with self.session_factory() as session:
            pick = select(Generation.id).where(claimable).order_by(Generation.created_at).limit(1)
            if session.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            row = session.execute(
                update(Generation)
                .where(Generation.id == pick.scalar_subquery(), claimable)
                .values(
                    status="running",
                    lease_owner=self.owner,
                    lease_expires_at=now + self.lease,
                    heartbeat_at=now,
                    attempts=Generation.attempts + 1,
                    started_at=now,
                    progress=0.0,
                )
                .returning(Generation.id, Generation.attempts, Generation.created_at)
            ).first()
            session.commit()
        self.metrics.claim_seconds.observe(time.perf_counter() - began)
        if row is None:
            return None
        created = row[2] if row[2].tzinfo is not None else row[2].replace(tzinfo=now.tzinfo)
        self.metrics.queue_wait_seconds.observe(max(0.0, (now - created).total_seconds()))
        return row[0], row[1]

    def run_pending(self, max_jobs: int | None = None) -> int:
        """Claim and run jobs on the calling thread until none is claimable; returns how many ran."""
        done = 0
        while max_jobs is None or done < max_jobs:
            claimed = self.claim()
            if claimed is None:
                break
            self._run(*claimed)
            done += 1
        return done

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = self.claim()
            except Exception:  # a database outage must not kill the worker thread: retry later
                logger.exception("claiming a job failed")
                claimed = None
            if claimed is not None:
                try:
                    self._run(*claimed)
                except Exception:  # keep the thread alive; the job's lease expires and it is retried
                    logger.exception("running generation %s failed unexpectedly", claimed[0])
                continue
            try:
                self.notifier.deliver_due()  # retries on the backoff schedule, while the worker runs
            except Exception:  # a database outage must not kill the worker thread: retry later
                logger.exception("retrying webhooks failed")
            with self._wake:
                if self._pending_wakeups == 0:
                    self._wake.wait(self.poll_s)
                self._pending_wakeups = max(0, self._pending_wakeups - 1)

    def _run(self, generation_id: str, attempt: int) -> None:
        with self._running_lock:
            self._running.add(generation_id)
        try:
            self._run_claimed(generation_id, attempt)
        finally:
            with self._running_lock:
                self._running.discard(generation_id)

    def _run_claimed(self, generation_id: str, attempt: int) -> None:
        # We hold the lease: any folder of this job is an earlier attempt's, left by a dead worker.
        for stale in self.files.work_dirs(f"job-{generation_id}-"):
            shutil.rmtree(stale, ignore_errors=True)
        with self.session_factory() as session:
            generation = session.get(Generation, generation_id)
            if generation is None:  # erased with its consent since it was claimed
                return
            if attempt > self.max_attempts:
                self._finish_failed(session, generation, f"gave up after {attempt - 1} interrupted attempts")
                self.metrics.outcome("failed")
                self.notifier.notify(generation_id)
                return
            try:
                ctx = prepare_job(session, generation, self.files)  # the gate re-checked, inputs linked
            except JobStopped as exc:
                self._finish_failed(session, generation, f"stopped: {exc}", event="generation.stopped")
                self.metrics.outcome("stopped")
                self.notifier.notify(generation_id)
                return
            except CandorError as exc:
                self._finish_failed(session, generation, exc.detail)
                self.metrics.outcome("failed")
                self.notifier.notify(generation_id)
                return
        heartbeat = _Heartbeat(self, generation_id)
        heartbeat.start()
        began = time.perf_counter()
        try:
            output = self.handler(replace(ctx, progress=heartbeat.set_progress))
        except JobStopped:
            heartbeat.stop()
            self.metrics.render_seconds.observe(time.perf_counter() - began)
            shutil.rmtree(ctx.out_path.parent, ignore_errors=True)
            if self._handing_back.is_set() and heartbeat.refused is None:
                self.hand_back(generation_id)  # usually done by stop() already: then a no-op
                return
            if heartbeat.refused is not None:  # the gate closed; the lease is still ours to end
                self._stop_refused(generation_id, heartbeat.refused)
            self.metrics.outcome("stopped")
            self.notifier.notify(generation_id)
            return
        except CandorError as exc:  # bad input: deterministic, retrying cannot help
            heartbeat.stop()
            self.metrics.render_seconds.observe(time.perf_counter() - began)
            self._fail_or_retry(generation_id, exc.detail, retry=False)
            shutil.rmtree(ctx.out_path.parent, ignore_errors=True)
            return
        except Exception as exc:
            heartbeat.stop()
            self.metrics.render_seconds.observe(time.perf_counter() - began)
            logger.exception("generation %s failed on attempt %d", generation_id, attempt)
            self._fail_or_retry(generation_id, f"{type(exc).__name__}: {exc}", retry=attempt < self.max_attempts)
            shutil.rmtree(ctx.out_path.parent, ignore_errors=True)
            return
        heartbeat.stop()
        self.metrics.render_seconds.observe(time.perf_counter() - began)
        try:
            refused = publish_job(self.session_factory, self.files, self.log, generation_id, output, owner=self.owner)
        finally:
            shutil.rmtree(ctx.out_path.parent, ignore_errors=True)
        if refused is not None:  # the gate closed while rendering: never release the video
            self._stop_refused(generation_id, refused)
            self.metrics.outcome("stopped")
        else:
            with self.session_factory() as session:
                status = session.scalar(select(Generation.status).where(Generation.id == generation_id))
            self.metrics.outcome("succeeded" if status == "succeeded" else "stopped")
        self.notifier.notify(generation_id)

    def _stop_refused(self, generation_id: str, reason: str) -> None:
        with self.session_factory() as session:
            generation = session.get(Generation, generation_id)
            if generation is not None and generation.lease_owner == self.owner and generation.status == "running":
                self._finish_failed(session, generation, f"stopped: {reason}", event="generation.stopped")

    def _fail_or_retry(self, generation_id: str, error: str, *, retry: bool) -> None:
        with self.session_factory() as session:
            generation = session.get(Generation, generation_id)
            if generation is None or generation.lease_owner != self.owner or generation.status != "running":
                return  # someone else holds it now
            if retry:
                generation.status = "queued"
                generation.lease_owner = None
                generation.lease_expires_at = None
                generation.error = error[:4000]
                session.commit()
                self.metrics.outcome("retried")
                return
            self._finish_failed(session, generation, error)
        self.metrics.outcome("failed")
        self.notifier.notify(generation_id)

    def _finish_failed(
        self, session: Session, generation: Generation, error: str, *, event: str = "generation.failed"
    ) -> None:
        generation.status = "failed"
        generation.error = error[:4000]
        generation.finished_at = utcnow()
        generation.lease_owner = None
        generation.lease_expires_at = None
        release_quota(session=session, generation=generation)
        if self.log is not None:
            self.log.append_in(session, event, actor="worker", subject=generation.id, details={"error": error[:500]})
        session.commit()


class _Heartbeat:
    """Renews a job's lease and saves its progress every ``min(lease/3, 1 s)`` while it runs."""

    def __init__(self, queue: ThreadJobQueue, generation_id: str) -> None:
        self.queue = queue
        self.generation_id = generation_id
        self.interval = min(queue.lease.total_seconds() / 3.0, 1.0)
        self.progress = 0.0
        self.lost = False
        self.refused: str | None = None  # why the gate closed (partner, key, consent), seen by a beat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{generation_id}", daemon=True)

    def set_progress(self, fraction: float) -> None:
        """The handler's progress callback; raises JobStopped once the job was stopped (or is being
        handed back at shutdown), so the handler ends early instead of rendering a video nobody may
        publish."""
        if self.queue._handing_back.is_set():
            raise JobStopped("the worker is shutting down; the job was handed back")
        if self.lost or self.refused is not None:
            raise JobStopped(self.refused or "the job was cancelled or its lease lost")
        self.progress = min(1.0, max(0.0, float(fraction)))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            now = utcnow()
            try:
                with self.queue.session_factory() as session:
                    result = session.execute(
                        update(Generation)
                        .where(
                            Generation.id == self.generation_id,
                            Generation.lease_owner == self.queue.owner,
                            Generation.status == "running",
                        )
                        .values(
                            lease_expires_at=now + self.queue.lease,
                            heartbeat_at=now,
                            progress=min(self.progress, 0.99),
                        )
                    )
                    session.commit()
                    if result.rowcount != 1:  # type: ignore[attr-defined]
                        self.lost = True  # cancelled, stopped or re-claimed: publishing is fenced
                        return
                    generation = session.get(Generation, self.generation_id)
                    assert generation is not None
                    self.refused = gate_refusal(session, generation)
                    if self.refused is not None:
                        return
            except Exception:  # a missed beat is survivable; the lease is several beats long
                logger.exception("heartbeat for %s failed", self.generation_id)
