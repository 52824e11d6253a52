"""Scale-out benchmark: generations per minute with 1 and 2 `candor worker` processes, and the
queue's claim latency.

    .venv/bin/python benchmarks/scale.py                   # 8 generations per run, 1 then 2 workers
    .venv/bin/python benchmarks/scale.py --jobs 20 --workers 1,2,3

Each run is a fresh cluster on this machine (tests/cluster_harness.py): an API-only server, the
workers as separate processes with their own data directories, one PostgreSQL database (the server
on 127.0.0.1:5432, or a temporary one from Debian's package), one S3 bucket (moto_server) and the
shared keys. Each worker first runs one warm-up generation (model loading is a per-process cost,
paid once at start), then ``--jobs`` generations of about 1 s of speech are requested over HTTP.

Printed per run: generations per minute (jobs / time from the first claim to the last publish),
mean seconds per generation, and from the workers' own Prometheus metrics (scraped over
--metrics-port) the claim statement's mean and p95 upper bound in milliseconds and the mean
queue wait.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "store"))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _metric(text: str, name: str) -> float:
    return sum(float(v) for v in re.findall(rf"^{name} ([0-9.e+-]+)$", text, flags=re.M))


def _p95_bound(texts: list[str], name: str) -> float:
    """The smallest histogram bucket bound holding 95% of the observations of all workers."""
    buckets: dict[float, float] = {}
    for text in texts:
        for le, count in re.findall(rf'^{name}_bucket{{le="([^"]+)"}} ([0-9.e+-]+)$', text, flags=re.M):
            bound = float("inf") if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0.0) + float(count)
    total = buckets.get(float("inf"), 0.0)
    return next((b for b in sorted(buckets) if total and buckets[b] >= 0.95 * total), float("nan"))


def run(server_url: str, s3, workers: int, jobs: int) -> dict[str, float]:
    from cluster_harness import Cluster
    from sqlalchemy import create_engine, func, select

    from candor.store.models import Generation

    with tempfile.TemporaryDirectory(prefix="candor-scale-") as tmp:
        cluster = Cluster(Path(tmp), server_url, s3.endpoint, s3.new_bucket(), lease_s=10.0)
        cluster.create()
        try:
            cluster.start_api()
            cluster.seed()
            ports = [_port() for _ in range(workers)]
            for i, port in enumerate(ports):
                cluster.start_worker(f"worker-{i}", metrics_port=port)
            warm = cluster.submit(range(1000, 1000 + workers))
            if set(cluster.wait(warm, timeout_s=900).values()) != {"succeeded"}:
                raise SystemExit(f"warm-up failed:\n{cluster.log('worker-0')}")
            ids = cluster.submit(range(jobs))
            statuses = cluster.wait(ids, timeout_s=3600)
            if set(statuses.values()) != {"succeeded"}:
                raise SystemExit(f"not every generation succeeded: {statuses}")
            engine = create_engine(cluster.database_url)
            with engine.connect() as conn:
                first, last, busy = conn.execute(
                    select(
                        func.min(Generation.started_at),
                        func.max(Generation.finished_at),
                        func.sum(func.extract("epoch", Generation.finished_at - Generation.started_at)),
                    ).where(Generation.id.in_(ids))
                ).one()
            engine.dispose()
            texts = [httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text for port in ports]
            claims = sum(_metric(t, "candor_job_claim_seconds_count") for t in texts)
            claim_sum = sum(_metric(t, "candor_job_claim_seconds_sum") for t in texts)
            waits = sum(_metric(t, "candor_job_queue_wait_seconds_count") for t in texts)
            wait_sum = sum(_metric(t, "candor_job_queue_wait_seconds_sum") for t in texts)
            span = (last - first).total_seconds()
            return {
                "workers": workers,
                "jobs": jobs,
                "span_s": span,
                "per_minute": jobs / span * 60.0,
                "s_per_generation": float(busy) / jobs,
                "claims": claims,
                "claim_ms_mean": 1000.0 * claim_sum / max(claims, 1),
                "claim_ms_p95_bound": 1000.0 * _p95_bound(texts, "candor_job_claim_seconds"),
                "queue_wait_s_mean": wait_sum / max(waits, 1),
            }
        finally:
            cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker-process counts")
    args = parser.parse_args()

    import os

    import store_pg
    from s3_server import TEST_ENV, S3Server

    os.environ.update(TEST_ENV)
    temp_pg = None
    server_url = store_pg.DEFAULT_URL
    if store_pg.reachable(server_url) is not None:
        temp_pg = store_pg.TempCluster()
        server_url = temp_pg.start()
    s3 = S3Server()
    s3.start()
    try:
        print(f"scale-out on this machine: {os.cpu_count()} CPUs; {args.jobs} generations of ~1 s speech per run")
        print("workers  gen/min  s/gen(claim->publish)  span_s  claims  claim_ms_mean  claim_ms_p95<=  wait_s_mean")
        for count in (int(w) for w in args.workers.split(",")):
            began = time.monotonic()
            r = run(server_url, s3, count, args.jobs)
            print(
                f"{r['workers']:>7}  {r['per_minute']:7.2f}  {r['s_per_generation']:21.2f}  {r['span_s']:6.1f}  "
                f"{r['claims']:6.0f}  {r['claim_ms_mean']:13.2f}  {r['claim_ms_p95_bound']:14.1f}  "
                f"{r['queue_wait_s_mean']:11.1f}   (run took {time.monotonic() - began:.0f} s)",
                flush=True,
            )
    finally:
        s3.stop()
        if temp_pg is not None:
            temp_pg.stop()


if __name__ == "__main__":
    main()
