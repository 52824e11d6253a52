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
from candor.services.container import Container
from candor.services.jobs import JobContext, JobOutput, ThreadJobQueue
from candor.services.worker import GenerationWorker
from candor.store.models import Generation


@pytest.mark.slow
def test_generation_job_releases_a_signed_watermarked_mp4(tmp_path: Path, portrait_png, speech_wav) -> None:  # type: ignore[no-untyped-def]
    container = Container.build(Settings(environment="development", data_dir=tmp_path / "data"))
    container.migrate()
    factory, log, files = container.session_factory, container.ledger, container.files
    world = make_world(factory, log, files, portrait_png, speech_wav)
    with factory() as session:
        generation = services.create_generation(
            session=session,
            log=log,
            partner=world.partner,
            request=world.request(controls={"emotion": "happy", "intensity": 0.6, "gaze_yaw": 5.0}),
            policy=container.policy,
        ).generation
        session.commit()

    progress: list[float] = []

    def handler(ctx: JobContext) -> JobOutput:
        """The production handler, watching the progress it reports."""
        forward = ctx.progress

        def report(fraction: float) -> None:
            progress.append(fraction)
            forward(fraction)

        return production(replace(ctx, progress=report))

    production = GenerationWorker(container.releaser, max_audio_seconds=120.0, max_image_megapixels=50.0)
    queue = ThreadJobQueue(factory, files, handler, log=log)
    assert queue.run_pending() == 1
    with factory() as session:
        g = session.get(Generation, generation.id)
    assert g.status == "succeeded", g.error
    assert g.manifest_id and g.watermark_serial is not None and g.output_sha256
    assert progress and progress[-1] == pytest.approx(1.0, abs=0.05)

    report = container.verifier.verify_file(files.path(g.output_sha256)).to_dict()
    assert report["state"] == "Trusted"
    assert report["watermark"]["found"] and report["watermark"]["serial"] == g.watermark_serial
    assert report["summary"]["generation"]["generation_id"] == g.id
    assert list(files.tmp_dir.iterdir()) == []
    # published and logged once, by the worker, with the stored file's digest
    completed = [e for e in log.entries(0, 100) if e.event_type == "generation.completed"]
    assert [(e.actor, e.subject, e.details["output_sha256"]) for e in completed] == [("worker", g.id, g.output_sha256)]
    container.close()
