"""The first real generation job: portrait + speech queued in the database, run by the worker
through the production handler (candor.services.release), published to the file store as a watermarked,
C2PA-signed MP4 that verifies as Trusted and names this generation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from store_world import make_world

from candor import services
from candor.config import Settings
from candor.provenance.ledger import GenerationLog
from candor.services.jobs import JobContext, JobOutput, ThreadJobQueue, run_generation_job
from candor.store.database import make_engine, make_session_factory
from candor.store.filestore import FileStore
from candor.store.migrations import upgrade_database
from candor.store.models import Generation


@pytest.mark.slow
def test_generation_job_releases_a_signed_watermarked_mp4(tmp_path: Path, portrait_png, speech_wav) -> None:  # type: ignore[no-untyped-def]
    from candor.policy import load_policy
    from candor.provenance.verify import verify_file

    settings = Settings(environment="development", data_dir=tmp_path / "data")
    engine = make_engine(f"sqlite:///{tmp_path / 'service.db'}")
    upgrade_database(engine)
    factory = make_session_factory(engine)
    log = GenerationLog(factory)
    files = FileStore(tmp_path / "files")
    world = make_world(factory, log, files, portrait_png, speech_wav)
    with factory() as session:
        generation = services.create_generation(
            session=session,
            log=log,
            partner=world.partner,
            request=world.request(controls={"emotion": "happy", "intensity": 0.6, "gaze_yaw": 5.0}),
            policy=load_policy(),
        ).generation
        session.commit()

    progress: list[float] = []

    def handler(ctx: JobContext) -> JobOutput:
        """The production handler, watching the progress it reports."""
        forward = ctx.progress

        def report(fraction: float) -> None:
            progress.append(fraction)
            forward(fraction)

        return run_generation_job(replace(ctx, progress=report))

    queue = ThreadJobQueue(factory, files, handler, settings=settings, log=log)
    assert queue.run_pending() == 1
    with factory() as session:
        g = session.get(Generation, generation.id)
    assert g.status == "succeeded", g.error
    assert g.manifest_id and g.watermark_serial is not None and g.output_sha256
    assert progress and progress[-1] == pytest.approx(1.0, abs=0.05)

    report = verify_file(files.path(g.output_sha256), settings=settings).to_dict()
    assert report["state"] == "Trusted"
    assert report["watermark"]["found"] and report["watermark"]["serial"] == g.watermark_serial
    assert report["summary"]["generation"]["generation_id"] == g.id
    assert list(files.tmp_dir.iterdir()) == []
    engine.dispose()
