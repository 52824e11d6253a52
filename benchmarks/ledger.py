"""Generation-log figures: audit append rate, and proof times in a 1,000,000-entry log.

    .venv/bin/python benchmarks/ledger.py                 # SQLite (+ PostgreSQL if reachable)
    .venv/bin/python benchmarks/ledger.py --entries 100000 --appends 500 --no-postgres

1. Append rate: ``GenerationLog.append`` (one transaction per event, ES256 checkpoint signed per
   append, as the service runs it), sequential and from 4 threads, on a SQLite file and on
   PostgreSQL (a throw-away schema).
2. A log of ``--entries`` entries built with ``append_many`` (the same code path, 20,000 events per
   transaction), kept in ``--db`` so a rerun with ``--reuse`` skips the build.
3. Inclusion proofs for random leaves against the current size and random past sizes, and
   consistency proofs: median / p99 milliseconds per call (database round trip included), each
   proof verified against the signed checkpoint's root.
4. With ``--audit``: export the large log and verify the export offline (seconds).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from candor.provenance.audit import verify_log_export, write_export
from candor.provenance.checkpoint import CheckpointSigner, verify_checkpoint
from candor.provenance.ledger import LogEvent
from candor.services.generation_log import GenerationLog
from candor.store.database import make_engine
from candor.store.migrations import upgrade_database

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def percentiles(samples_s: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples_s)
    p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):.3f} ms, p99 {p99:.3f} ms (n={len(ms)})"


def sqlite_engine(path: Path) -> Engine:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    return engine


def event(i: int) -> dict:
    return {"actor": f"partner:{i % 97}", "subject": f"gen-{i}", "details": {"seconds": 12.5, "fps": 25}}


def append_rate(log: GenerationLog, n: int, threads: int) -> tuple[float, list[float]]:
    """(appends per second, per-append latencies) with ``threads`` concurrent appenders."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = n // threads

    def worker(w: int) -> None:
        mine = []
        for i in range(per_thread):
            t0 = time.perf_counter()
            log.append("generation.requested", **event(w * per_thread + i))
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return per_thread * threads / (time.perf_counter() - start), latencies


def bench_appends(name: str, engine: Engine, signer: CheckpointSigner, n: int) -> None:
    log = GenerationLog(engine, signer=signer)
    log.append("partner.created", actor="admin")  # head row and connection pool warm
    for threads in (1, 4):
        rate, latencies = append_rate(log, n, threads)
        print(f"  {name:10s} {threads} thread(s): {rate:7.0f} appends/s; per append {percentiles(latencies)}")
    log.inclusion_proof(log.tree_size() - 1).verify()


def postgres_engine(url: str) -> tuple[Engine, Engine, str] | None:
    base = make_engine(url, connect_args={"connect_timeout": 3})
    try:
        with base.connect():
            pass
    except OperationalError as exc:
        print(f"  postgresql: skipped, not reachable at {url} ({exc.orig})")
        base.dispose()
        return None
    schema = f"ledger_bench_{uuid.uuid4().hex[:10]}"
    with base.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # search_path, not schema_translate_map: Alembic's ALTER TABLE statements ignore the latter.
    engine = make_engine(url, connect_args={"connect_timeout": 3, "options": f"-csearch_path={schema}"})
    upgrade_database(engine)
    return base, engine, schema


def build_large(path: Path, entries: int, reuse: bool) -> tuple[GenerationLog, ec.EllipticCurvePublicKey]:
    """The large log and its checkpoint key (kept next to the database so --reuse can verify)."""
    key_file = Path(f"{path}.key.pem")
    if reuse and path.exists() and key_file.exists():
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        log = GenerationLog(make_engine(f"sqlite:///{path}"), signer=CheckpointSigner.from_private_key(key))
        if log.tree_size() == entries:
            print(f"  reusing {path} ({entries:,} entries)")
            return log, key.public_key()
    key = ec.generate_private_key(ec.SECP256R1())
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    engine = sqlite_engine(path)
    log = GenerationLog(engine)  # unsigned while bulk loading; one checkpoint signed at the end
    start = time.perf_counter()
    events = (LogEvent("generation.requested", **event(i)) for i in range(entries))
    log.append_many(events, batch_size=20_000)
    seconds = time.perf_counter() - start
    size_mb = sum(os.path.getsize(f"{path}{s}") for s in ("", "-wal") if os.path.exists(f"{path}{s}")) / 1e6
    print(f"  built {entries:,} entries in {seconds:.1f} s ({entries / seconds:,.0f} entries/s), {size_mb:.0f} MB")
    log = GenerationLog(engine, signer=CheckpointSigner.from_private_key(key))
    log.sign_checkpoint()
    return log, key.public_key()


def bench_proofs(log: GenerationLog, public_key: ec.EllipticCurvePublicKey, count: int) -> None:
    checkpoint = verify_checkpoint(log.latest_checkpoint().note, public_key)
    size = checkpoint.size
    rng = random.Random(6962)
    for _ in range(50):  # warm the page cache and the statement cache
        log.inclusion_proof(rng.randrange(size))
    current, current_cpu, past, consistency, verify = [], [], [], [], []
    for _ in range(count):
        index = rng.randrange(size)
        t0, c0 = time.perf_counter(), time.thread_time()
        proof = log.inclusion_proof(index)
        current.append(time.perf_counter() - t0)
        current_cpu.append(time.thread_time() - c0)  # wall-clock tails on a shared box are mostly waiting
        assert proof.root == checkpoint.root
        t0 = time.perf_counter()
        proof.verify()
        verify.append(time.perf_counter() - t0)
        past_size = rng.randrange(index + 1, size + 1)
        t0 = time.perf_counter()
        log.inclusion_proof(index, past_size)
        past.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cons = log.consistency_proof(rng.randrange(1, size + 1), size)
        consistency.append(time.perf_counter() - t0)
        assert cons.new_root == checkpoint.root
    print(f"  inclusion proof, size {size:,}:        {percentiles(current)}")
    print(f"    same, CPU time of this thread:       {percentiles(current_cpu)}")
    print(f"  inclusion proof, random past size:     {percentiles(past)}")
    print(f"  consistency proof to size {size:,}:   {percentiles(consistency)}")
    print(f"  verify one inclusion proof (client):   {percentiles(verify)}")


def bench_audit(log: GenerationLog, public_key: ec.EllipticCurvePublicKey, db: Path) -> None:
    export = Path(f"{db}.export.jsonl")
    t0 = time.perf_counter()
    count = write_export(log, export)
    t1 = time.perf_counter()
    report = verify_log_export(export, [public_key])
    t2 = time.perf_counter()
    assert report.ok, report.findings[:3]
    size_mb = export.stat().st_size / 1e6
    export.unlink()
    print(f"  export {count:,} entries: {t1 - t0:.1f} s ({size_mb:.0f} MB); offline verify: {t2 - t1:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="size of the large log")
    parser.add_argument("--appends", type=int, default=2000, help="appends per append-rate run")
    parser.add_argument("--proofs", type=int, default=2000, help="proofs of each kind to time")
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "candor-ledger-bench.db")
    parser.add_argument("--reuse", action="store_true", help="reuse --db when it already holds --entries")
    parser.add_argument("--keep", action="store_true", help="keep --db afterwards")
    parser.add_argument("--postgres", default=PG_URL)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-appends", action="store_true", help="skip the append-rate runs")
    parser.add_argument("--audit", action="store_true", help="also time export + offline verify of the large log")
    args = parser.parse_args()

    key = ec.generate_private_key(ec.SECP256R1())
    signer = CheckpointSigner.from_private_key(key)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared with other work)")

    if not args.no_appends:
        print("audit append rate (one transaction + one ES256 checkpoint per event):")
        with tempfile.TemporaryDirectory() as tmp:
            engine = sqlite_engine(Path(tmp) / "append.db")
            bench_appends("sqlite", engine, signer, args.appends)
            engine.dispose()
        if not args.no_postgres and (pg := postgres_engine(args.postgres)) is not None:
            base, engine, schema = pg
            try:
                bench_appends("postgresql", engine, signer, args.appends)
            finally:
                with base.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                base.dispose()

    print(f"proofs in a {args.entries:,}-entry log (SQLite file {args.db}):")
    log, public_key = build_large(args.db, args.entries, args.reuse)
    bench_proofs(log, public_key, args.proofs)
    if args.audit:
        bench_audit(log, public_key, args.db)
    if not args.keep:
        for suffix in ("", "-wal", "-shm", ".key.pem"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
