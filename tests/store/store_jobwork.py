"""Real job handlers for the queue tests (importable by a worker subprocess, too).

``fingerprint_job`` reads the stored portrait and audio and writes a small report file in four
chunks, reporting progress: its bytes depend only on the inputs, so a re-run must reproduce them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

from candor.services.jobs import JobContext, JobOutput

HEADER = b"CANDOR-TEST-OUTPUT\n"


def expected_bytes(portrait: bytes, audio: bytes, controls: dict, seed: int) -> bytes:
    body = json.dumps(
        {
            "portrait": hashlib.sha256(portrait).hexdigest(),
            "audio": hashlib.sha256(audio).hexdigest(),
            "controls": controls,
            "seed": seed,
        },
        sort_keys=True,
    ).encode()
    return HEADER + body * 64 + b"\nEND\n"


def fingerprint_job(ctx: JobContext) -> JobOutput:
    data = expected_bytes(ctx.portrait_path.read_bytes(), ctx.audio_path.read_bytes(), ctx.controls, ctx.seed)
    quarter = len(data) // 4 + 1
    with ctx.out_path.open("wb") as out:
        for i in range(4):
            out.write(data[i * quarter : (i + 1) * quarter])
            out.flush()
            ctx.progress((i + 1) / 4)
    return JobOutput(ctx.out_path, manifest_id=f"urn:test:{ctx.generation_id}", serial=ctx.seed, duration_s=1.0)


def half_then_hang(ctx: JobContext) -> JobOutput:
    """Writes half the output, tells the test where it is, then waits to be killed -9."""
    data = expected_bytes(ctx.portrait_path.read_bytes(), ctx.audio_path.read_bytes(), ctx.controls, ctx.seed)
    with ctx.out_path.open("wb") as out:
        out.write(data[: len(data) // 2])
        out.flush()
        os.fsync(out.fileno())
    Path(os.environ["CANDOR_TEST_MARKER"]).write_text(str(ctx.out_path))
    time.sleep(600)
    raise AssertionError("should have been killed")


def main() -> None:
    """Worker process: python store_jobwork.py URL SCHEMA FILES_ROOT (SCHEMA '-' for none)."""
    from candor.services.jobs import ThreadJobQueue
    from candor.store.database import make_engine, make_session_factory
    from candor.store.filestore import LocalFileStore

    url, schema, root = sys.argv[1:4]
    kwargs = {} if schema == "-" else {"connect_args": {"options": f"-csearch_path={schema}"}}
    engine = make_engine(url, **kwargs)
    queue = ThreadJobQueue(
        make_session_factory(engine),
        LocalFileStore(root),
        half_then_hang,
        lease_s=60.0,  # long: recovery must not depend on the lease running out
        allow_private_webhooks=True,
    )
    queue.run_pending(max_jobs=1)


if __name__ == "__main__":
    main()
