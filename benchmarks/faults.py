"""Fault benchmark: generations survive kill -9 of the worker process at random points.

    .venv/bin/python benchmarks/faults.py                     # 20 generations, 20 kills, seed 0
    .venv/bin/python benchmarks/faults.py --jobs 5 --kills 5 --seed 3

1. A throw-away data directory: migrated SQLite database, an approved partner, a consent record
   with the enrolled astronaut portrait, a short espeak-ng clip (about 1 s, so a run takes
   minutes on 2 cores); two warm-up generations run unharmed (the faster claim-to-publish time
   sets the kill window), then
   ``--jobs`` queued generations (different seeds).
2. A worker process (this file with ``--worker``: the container's in-process job pool with the
   production handler, the release path: motion, render, watermark, C2PA signature) runs them.
3. ``--kills`` times, once a job's first run has started in the current worker, at a random point
   of it (uniform over the measured claim-to-publish time of one generation; past its end the kill
   lands early in the next job), the worker gets SIGKILL, and 1 s later a new one
   starts, as a supervisor would (the dead ones are reaped only at the end: zombies). Then the last worker
   runs to the end and stops.
4. Prints, from the database, the log and the file store: lost (a job not ``succeeded``),
   duplicated (more than one ``generation.completed`` entry for a job, or a stored output no job
   refers to), left-over work files (anything in the store's tmp/), and whether every output
   verifies (C2PA ``proven`` naming its own generation). Expected: 0, 0, 0, all.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def settings(data_dir: Path):  # -> candor.config.Settings
    from candor.config import Settings

    return Settings(data_dir=data_dir, environment="development", workers=1)


def setup(data_dir: Path) -> dict[str, str]:
    """An approved partner, a consent with the enrolled astronaut portrait and a short clip;
    returns the ids a generation request names."""
    from bench_world import seed_world

    from candor.services.container import Container

    state = Container.build(settings(data_dir))
    state.migrate()
    world = seed_world(state, data_dir, partner_name="Faults Partner", speech="Hello there.", espeak_args=("-s", "190"))
    state.close()
    return {"partner": world.partner_id, "consent": world.consent_id, "portrait": world.portrait_id,
            "audio": world.audio_asset_id}  # fmt: skip


def enqueue(data_dir: Path, world: dict[str, str], seeds: range) -> list[str]:
    """Queue one generation per seed; returns their ids."""
    from candor import services
    from candor.services import GenerationRequest
    from candor.services.container import Container

    state = Container.build(settings(data_dir))
    ids: list[str] = []
    with state.session_factory() as session:
        partner = services.get_partner(session=session, partner_id=world["partner"])
        for seed in seeds:
            request = GenerationRequest(
                consent_id=world["consent"], portrait_id=world["portrait"], audio_asset_id=world["audio"], seed=seed
            )
            outcome = services.create_generation(
                session=session, log=state.ledger, partner=partner, request=request, policy=state.policy
            )
            ids.append(outcome.generation.id)
    state.close()
    return ids


def worker_main(data_dir: Path) -> None:
    """The worker process: start the job pool (which first recovers what a dead worker left), then
    wait until SIGTERM (or SIGKILL)."""
    from candor.services.container import Container

    state = Container.build(settings(data_dir))
    stop = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    state.start_worker()
    while not stop:
        time.sleep(0.1)
    state.close()


def start_worker(data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, __file__, "--worker", str(data_dir)], env=env)


def statuses(data_dir: Path, ids: list[str]) -> dict[str, str]:
    from sqlalchemy import select

    from candor.store.database import make_engine, make_session_factory
    from candor.store.models import Generation

    engine = make_engine(settings(data_dir).resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(select(Generation.id, Generation.status).where(Generation.id.in_(ids))).all()
    finally:
        engine.dispose()
    return dict(rows)  # type: ignore[arg-type]


def wait_done(data_dir: Path, ids: list[str], timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    while True:
        now = statuses(data_dir, ids)
        if all(s not in ("queued", "running") for s in now.values()) or time.monotonic() > deadline:
            return now
        time.sleep(0.5)


def first_run_of(data_dir: Path, ids: list[str], pid: int) -> str | None:
    """A job in its first attempt, running in worker ``pid`` (the one to interrupt), or None."""
    from sqlalchemy import select

    from candor.store.database import make_engine, make_session_factory
    from candor.store.models import Generation

    engine = make_engine(settings(data_dir).resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            return session.scalar(
                select(Generation.id).where(
                    Generation.id.in_(ids),
                    Generation.status == "running",
                    Generation.attempts == 1,
                    Generation.lease_owner.like(f"%:{pid}:%"),
                )
            )
    finally:
        engine.dispose()


def first_job_seconds(data_dir: Path, ids: list[str], timeout_s: float) -> float:
    """Run one worker, unharmed, until the warm-up jobs ``ids`` succeed; returns the shortest run
    time in seconds (claim to publish), which sets the window the kills fall in."""
    from candor.store.database import make_engine, make_session_factory
    from candor.store.models import Generation

    worker = start_worker(data_dir)
    began = time.monotonic()
    try:
        while time.monotonic() - began < timeout_s:
            if all(s == "succeeded" for s in statuses(data_dir, ids).values()):
                break
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited with status {worker.returncode}")
            time.sleep(0.2)
        else:
            raise SystemExit("the warm-up generations did not finish in time")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    engine = make_engine(settings(data_dir).resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            done = [g for g in (session.get(Generation, gid) for gid in ids) if g and g.status == "succeeded"]
    finally:
        engine.dispose()
    return min((g.finished_at - g.started_at).total_seconds() for g in done)  # type: ignore[operator]


def audit(data_dir: Path, ids: list[str]) -> dict[str, object]:
    from sqlalchemy import func, select

    from candor.provenance.verify import Outcome
    from candor.services.container import Container
    from candor.store.models import Generation, LogEntryRow, StoredManifest

    state = Container.build(settings(data_dir))
    with state.session_factory() as session:
        gens = {g.id: g for g in session.scalars(select(Generation).where(Generation.id.in_(ids)))}
        completed = Counter(
            session.scalars(select(LogEntryRow.subject).where(LogEntryRow.event_type == "generation.completed"))
        )
        referenced = set(session.scalars(select(Generation.output_sha256).where(Generation.output_sha256.is_not(None))))
        # Signed by an attempt that was killed before publishing: never released, no video carries it.
        unreleased_manifests = session.scalar(
            select(func.count())
            .select_from(StoredManifest)
            .where(
                StoredManifest.generation_id.in_(ids),
                StoredManifest.manifest_id.not_in([g.manifest_id for g in gens.values() if g.manifest_id]),
            )
        )
    outputs = {g.output_sha256 for g in gens.values() if g.output_sha256}
    inputs = {p.name for p in state.files.root.glob("??/??/*")} - outputs
    # Stored MP4s no job refers to would be outputs of a duplicated run.
    stray = [name for name in inputs if name not in referenced and state.files.path(name).read_bytes()[4:8] == b"ftyp"]
    verified = 0
    for g in gens.values():
        if g.status != "succeeded" or g.output_sha256 is None:
            continue
        report = state.verifier.verify_file(state.files.path(g.output_sha256))
        if report.outcome is Outcome.PROVEN and report.summary.generation.get("generation_id") == g.id:
            verified += 1
    leftovers = sorted(str(p.relative_to(state.files.tmp_dir)) for p in state.files.tmp_dir.rglob("*"))
    state.close()
    return {
        "jobs": len(ids),
        "succeeded": sum(g.status == "succeeded" for g in gens.values()),
        "lost": sum(g.status != "succeeded" for g in gens.values()) + (len(ids) - len(gens)),
        "duplicated": sum(n > 1 for n in completed.values()) + len(stray),
        "left_over_work_files": len(leftovers),
        "left_over_examples": leftovers[:5],
        "verified": verified,
        "all_verify": verified == len(ids),
        "attempts": dict(sorted(Counter(g.attempts for g in gens.values()).items())),
        "unreleased_manifests": unreleased_manifests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--restart-after-s", type=float, default=1.0)
    parser.add_argument("--timeout-s", type=float, default=1800.0)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker_main(args.worker)
        return

    rng = random.Random(args.seed)
    data_dir = Path(tempfile.mkdtemp(prefix="candor-faults-"))
    try:
        began = time.monotonic()
        world = setup(data_dir)
        # Two warm-up generations, run by an unharmed worker: the faster one (past the process's
        # first-call warm-up) sets the window the kills fall in.
        one_job_s = first_job_seconds(data_dir, enqueue(data_dir, world, range(1000, 1002)), args.timeout_s)
        ids = enqueue(data_dir, world, range(args.jobs))
        print(f"{args.jobs} generations queued; one takes about {one_job_s:.1f} s here", flush=True)
        kills: list[float] = []
        zombies: list[subprocess.Popen] = []
        worker = start_worker(data_dir)
        deadline = time.monotonic() + args.timeout_s
        while len(kills) < args.kills and time.monotonic() < deadline:
            if all(s not in ("queued", "running") for s in statuses(data_dir, ids).values()):
                break  # everything finished before the kills ran out
            if first_run_of(data_dir, ids, worker.pid) is None:  # starting up, or re-running a killed job
                time.sleep(0.05)
                continue
            delay = rng.uniform(0.0, one_job_s)  # a random point of a job's first run
            time.sleep(delay)
            os.kill(worker.pid, signal.SIGKILL)
            kills.append(round(delay, 2))
            time.sleep(args.restart_after_s)
            # Reaped only at the end, like a careless supervisor: the dead one stays a zombie that
            # answers kill(pid, 0) while the new one recovers its job.
            zombies.append(worker)
            worker = start_worker(data_dir)
        done = wait_done(data_dir, ids, args.timeout_s)
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        for dead in zombies:
            dead.wait()
        result = audit(data_dir, ids)
        result.update(
            kills=len(kills),
            kill_after_s=kills,
            unfinished=[gid for gid, s in done.items() if s in ("queued", "running")],
            wall_s=round(time.monotonic() - began, 1),
        )
        print(json.dumps(result, indent=2))
        ok = result["lost"] == 0 and result["duplicated"] == 0 and result["left_over_work_files"] == 0
        sys.exit(0 if ok and result["all_verify"] else 1)
    finally:
        if args.keep:
            print(f"data kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
