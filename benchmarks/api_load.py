"""HTTP API load figures: requests/s and latency of ``GET /v1/generations/{id}`` on loopback.

    .venv/bin/python benchmarks/api_load.py                       # 2 server processes, 20 s / 30,000 requests max
    .venv/bin/python benchmarks/api_load.py --processes 1 --seconds 10 --connections 8

1. A throw-away data directory: migrated SQLite database, an approved partner with a key, a real
   consent record with the enrolled astronaut portrait, an espeak-ng clip and one generation job.
2. ``uvicorn candor.api.app:create_app --factory`` on 127.0.0.1 (a free port) with ``--processes``
   worker processes, API only (CANDOR_RUN_JOBS=false) and the rate limit lifted.
3. A lean asyncio HTTP/1.1 keep-alive client on ``--connections`` connections (one request in
   flight per connection) sends authenticated GETs until ``--requests`` or ``--seconds`` runs out;
   then the server is stopped. Prints requests/s and p50/p90/p99 latency (ms).
4. The same for ``GET /v1/audit/proofs/inclusion`` (an inclusion proof served over HTTP on the
   small log built by step 1). Audit append rate and 1,000,000-entry proof times come from
   ``benchmarks/ledger.py``.

The client shares the machine's cores with the server, so the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup(data_dir: Path) -> tuple[str, str]:
    """Create the rows the load reads; returns (API key, generation id)."""
    from bench_world import seed_world

    from candor import services
    from candor.config import Settings
    from candor.services import GenerationRequest
    from candor.services.container import Container

    state = Container.build(Settings(data_dir=data_dir, environment="development"))
    state.migrate()
    world = seed_world(state, data_dir, partner_name="Load Partner", speech="Hello from the load test.")
    with state.session_factory() as session:
        token = services.issue_api_key(
            session=session, log=state.ledger, partner_id=world.partner_id, scopes="generate,audit:read"
        ).token
        partner = services.get_partner(session=session, partner_id=world.partner_id)
        outcome = services.create_generation(
            session=session,
            log=state.ledger,
            partner=partner,
            request=GenerationRequest(
                consent_id=world.consent_id, portrait_id=world.portrait_id, audio_asset_id=world.audio_asset_id
            ),
            policy=state.policy,
        )
        return token, outcome.generation.id


def start_server(data_dir: Path, port: int, processes: int, code: Path | None = None) -> subprocess.Popen:
    """``code``: the checkout whose ``candor`` the server runs (default: whatever Python imports)."""
    env = {
        **os.environ,
        **({"PYTHONPATH": str(code)} if code is not None else {}),
        "CANDOR_DATA_DIR": str(data_dir),
        "CANDOR_ENVIRONMENT": "development",
        "CANDOR_RUN_JOBS": "false",
        "CANDOR_RATE_LIMIT_PER_S": "1000000",
        "CANDOR_RATE_LIMIT_BURST": "1000000",
    }
    command = [
        sys.executable, "-m", "uvicorn", "candor.api.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(processes),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    # Its own process group, so stopping it also stops uvicorn's worker processes. Started in the
    # checkout: `python -m` puts the working directory ahead of PYTHONPATH.
    return subprocess.Popen(command, env=env, start_new_session=True, cwd=code)


def wait_ready(port: int, server: subprocess.Popen, timeout_s: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready")


def _process_group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of every live process in ``pgid`` (the server and its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[2]) == pgid:  # field 5 of stat: the process group
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


async def _connection(
    port: int, request: bytes, stop_at: float, budget: list[int], latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while budget[0] > 0 and time.perf_counter() < stop_at:
            budget[0] -= 1
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != b"200":
                errors.append(status.decode())
    finally:
        writer.close()


def load(
    port: int, path: str, token: str, *, connections: int, requests: int, seconds: float, server_pgid: int
) -> dict:
    """Closed-loop load: ``connections`` keep-alive connections, one request in flight on each.

    Also measures the server's CPU time per request, which does not depend on how busy the rest of
    the machine is (the requests/s figure does)."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
    latencies: list[float] = []
    errors: list[str] = []
    budget = [requests]

    async def run() -> float:
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(
            *(_connection(port, request, stop_at, budget, latencies, errors) for _ in range(connections))
        )
        return time.perf_counter() - started

    cpu_before = _process_group_cpu_s(server_pgid)
    elapsed = asyncio.run(run())
    server_cpu_s = _process_group_cpu_s(server_pgid) - cpu_before
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(ordered) * 1000,
        "errors": len(errors),
        "server_cpu_ms": server_cpu_s / max(1, len(latencies)) * 1000,
    }


def report(name: str, figures: dict) -> None:
    print(
        f"{name}: {figures['rps']:.0f} req/s over {figures['requests']} requests in {figures['seconds']:.1f} s; "
        f"latency p50 {figures['p50_ms']:.2f} ms, p90 {figures['p90_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms; "
        f"non-200: {figures['errors']}; server CPU {figures['server_cpu_ms']:.2f} ms/request "
        f"(= {1000 / figures['server_cpu_ms']:.0f} req/s per fully available core)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--requests", type=int, default=30_000, help="at most this many requests per phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="at most this long per phase")
    parser.add_argument("--proof-requests", type=int, default=2_000, help="inclusion-proof requests")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="candor-api-load-"))
    server = None
    try:
        token, generation_id = setup(data_dir)
        port = free_port()
        server = start_server(data_dir, port, args.processes)
        wait_ready(port, server)
        print(
            f"server: {args.processes} uvicorn process(es) on 127.0.0.1:{port}, SQLite; "
            f"client: {args.connections} connections, {os.cpu_count()} CPU cores shared"
        )
        path = f"/v1/generations/{generation_id}"
        common = {"connections": args.connections, "seconds": args.seconds, "server_pgid": server.pid}
        load(port, path, token, **{**common, "seconds": 5.0}, requests=1_000)  # warm-up
        report(f"GET {path}", load(port, path, token, **common, requests=args.requests))
        proof = "/v1/audit/proofs/inclusion?index=0"
        report(f"GET {proof}", load(port, proof, token, **common, requests=args.proof_requests))
        print(f"machine load average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
