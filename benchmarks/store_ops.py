"""Service data-layer figures on a SQLite file and on PostgreSQL (a throw-away schema):

    .venv/bin/python benchmarks/store_ops.py                  # both backends
    .venv/bin/python benchmarks/store_ops.py --no-postgres --reads 5000

1. The data work behind ``GET /v1/generations/{id}``: authenticate_api_key + get_generation in a
   fresh session per call (no HTTP): calls/s, median and p99 microseconds.
2. ``create_generation`` (policy over every rule, quota reservation, idempotency record, generation
   row and its log entry, commit): requests/s, median and p99 milliseconds.
3. Durable job throughput with a trivial handler (claim with a lease, heartbeat, publish a small
   file atomically, commit): jobs/s on one thread and on two worker threads.
Counts are bounded by the arguments, so a run takes seconds.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from candor import services
from candor.policy import Policy
from candor.services.generation_log import GenerationLog
from candor.services.jobs import JobContext, JobOutput, ThreadJobQueue
from candor.store.database import make_engine, make_session_factory, session_scope
from candor.store.filestore import LocalFileStore
from candor.store.migrations import upgrade_database
from candor.store.models import Generation

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def media() -> tuple[bytes, bytes]:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((256, 256)).save(buffer, "PNG")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), "Benchmark speech for the store."], check=True)
        return buffer.getvalue(), wav.read_bytes()


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def tiny_job(ctx: JobContext) -> JobOutput:
    ctx.out_path.write_bytes(ctx.generation_id.encode() * 64)
    ctx.progress(1.0)
    return JobOutput(ctx.out_path)


def run(name: str, engine, root: Path, args: argparse.Namespace, portrait: bytes, wav: bytes) -> None:  # type: ignore[no-untyped-def]
    upgrade_database(engine)
    factory = make_session_factory(engine)
    log = GenerationLog(factory)
    files = LocalFileStore(root / "files")
    policy = Policy(default_monthly_seconds=1e9, allowed_use_cases=("education",))
    with session_scope(factory) as s:
        partner = services.create_partner(
            session=s, log=log, name=f"bench-{uuid.uuid4().hex[:6]}", use_case="education"
        )
        services.set_partner_state(session=s, log=log, partner_id=partner.id, state="approved")
        token = services.issue_api_key(session=s, log=log, partner_id=partner.id, scopes="generate").token
        consent = services.create_consent(
            session=s,
            log=log,
            files=files,
            partner=partner,
            subject_name="Bench Subject",
            subject_is_adult=True,
            allowed_uses=["education"],
            evidence_document=b"%PDF-1.4 consent",
            reference=portrait,  # the subject's photo: the portrait must match it
            policy=policy,
        )
        portrait_row = services.enroll_portrait(
            session=s,
            log=log,
            files=files,
            partner=partner,
            consent_id=consent.id,
            image=portrait,
            media_type="image/png",
            face_summary={"face_count": 1},
        )
        audio = services.create_audio_asset(session=s, files=files, partner=partner, data=wav)

    def request(i: int) -> services.GenerationRequest:
        return services.GenerationRequest(
            consent_id=consent.id,
            portrait_id=portrait_row.id,
            audio_asset_id=audio.id,
            seed=i,
            idempotency_key=f"k-{i}",
        )

    # 2. create_generation
    times = []
    ids = []
    for i in range(args.creates):
        t0 = time.perf_counter()
        with session_scope(factory) as s:
            ids.append(
                services.create_generation(
                    session=s, log=log, partner=partner, request=request(i), policy=policy
                ).generation.id
            )
        times.append(time.perf_counter() - t0)
    create_rate = len(times) / sum(times)

    # 1. authenticate + get_generation
    reads = []
    for i in range(args.reads):
        t0 = time.perf_counter()
        with factory() as s:
            key = services.authenticate_api_key(session=s, token=token, scope="generate")
            services.get_generation(session=s, partner=key.partner, generation_id=ids[i % len(ids)])
        reads.append(time.perf_counter() - t0)

    # 3. jobs
    half = len(ids) // 2
    t0 = time.perf_counter()
    ThreadJobQueue(factory, files, tiny_job, allow_private_webhooks=True).run_pending(max_jobs=half)
    one_thread = half / (time.perf_counter() - t0)
    queue = ThreadJobQueue(factory, files, tiny_job, workers=2, poll_s=0.05, allow_private_webhooks=True)
    t0 = time.perf_counter()
    queue.start()
    while True:
        with factory() as s:
            left = s.query(Generation).filter(Generation.status != "succeeded").count()
        if left == 0:
            break
        time.sleep(0.02)
    two_threads = (len(ids) - half) / (time.perf_counter() - t0)
    queue.stop()

    print(
        f"[{name}] GET data path (auth + get_generation): {len(reads) / sum(reads):,.0f} calls/s, "
        f"median {statistics.median(reads) * 1e6:.0f} us, p99 {pct(reads, 0.99) * 1e6:.0f} us ({len(reads)} calls)"
    )
    print(
        f"[{name}] create_generation: {create_rate:,.0f} req/s, median {statistics.median(times) * 1e3:.1f} ms, "
        f"p99 {pct(times, 0.99) * 1e3:.1f} ms ({len(times)} requests)"
    )
    print(
        f"[{name}] jobs (trivial handler): {one_thread:,.0f} jobs/s on 1 thread, {two_threads:,.0f} jobs/s on 2 workers"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    portrait, wav = media()
    root = Path(tempfile.mkdtemp(prefix="candor-bench-"))
    try:
        engine = make_engine(f"sqlite:///{root / 'sqlite' / 'candor.db'}")
        run("sqlite", engine, root / "sqlite", args, portrait, wav)
        engine.dispose()
        if args.no_postgres:
            return
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL)
        try:
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        except OperationalError as exc:
            print(f"[postgresql] skipped: {PG_URL} not reachable ({exc.orig})", file=sys.stderr)
            return
        engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
        try:
            run("postgresql", engine, root / "pg", args, portrait, wav)
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
