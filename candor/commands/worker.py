"""`candor worker`: a process that only claims and runs generation jobs (no HTTP API), so workers
scale apart from API servers: start one per host (or several), all on one database and one file
store (CANDOR_DATABASE_URL, CANDOR_STORAGE_URL).

SIGTERM or SIGINT stops it gracefully: no new claims; a running job gets ``--grace-seconds`` to
finish, then is handed back (its lease released at once, so another worker claims it now). A
second signal hands back at once.
"""

from __future__ import annotations

import signal
import threading

import typer

from candor.commands._common import cli_errors, container, err_console


def worker(
    threads: int | None = typer.Option(None, "--threads", min=1, max=64, help="jobs run at once (CANDOR_WORKERS)"),
    grace_seconds: float = typer.Option(
        30.0, "--grace-seconds", min=0, help="on SIGTERM/SIGINT, how long a running job may finish before hand-back"
    ),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", min=1, max=65535, help="serve Prometheus metrics over HTTP on this port (GET /metrics)"
    ),
    metrics_host: str = typer.Option("127.0.0.1", "--metrics-host", help="interface for --metrics-port"),
) -> None:
    """Claim and run generation jobs until told to stop (no HTTP API)."""
    built = container()  # migrated once (PostgreSQL: advisory-locked, so racing starts are safe)
    built.ledger  # noqa: B018 - the signing key loads now: a worker without its keys fails at start
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host, registry=built.metrics.registry)
    stop = threading.Event()
    grace = {"s": grace_seconds}

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            grace["s"] = 0.0  # a second signal: hand back now
            if built.queue is not None:
                built.queue._handing_back.set()
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    built.start_worker(threads)
    queue = built.queue
    owner = getattr(queue, "owner", "?")
    metrics_note = f"; metrics on http://{metrics_host}:{metrics_port}/metrics" if metrics_port else ""
    err_console.print(f"candor worker {owner} running{metrics_note}", highlight=False, soft_wrap=True)
    while not stop.wait(0.5):
        pass
    err_console.print(f"stopping: running jobs get {grace['s']:.0f} s, then are handed back", highlight=False)
    built.close(grace["s"])
    err_console.print("candor worker stopped", highlight=False)


def register(app: typer.Typer, _keys_app: typer.Typer) -> None:
    app.command("worker")(cli_errors(worker))
