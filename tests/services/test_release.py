"""The one release path (candor.services.release.Releaser): watermark, sign, store, publish, log."""

import io

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from candor.config import Settings
from candor.services.container import Container


@pytest.fixture()
def container(tmp_path):
    built = Container.build(Settings(data_dir=tmp_path / "data", environment="development"))
    built.migrate()
    yield built
    built.close()


def _frames(n: int, fail_at: int | None = None):
    base = skimage.data.astronaut()
    for i in range(n):
        if i == fail_at:
            raise RuntimeError("renderer crashed")
        shift = np.float32([[1, 0, 3 * np.sin(i / 9)], [0, 1, 2 * np.cos(i / 7)]])
        yield cv2.warpAffine(base, shift, (512, 512), borderMode=cv2.BORDER_REFLECT)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, format="PNG")
    return buf.getvalue()


def test_released_video_is_watermarked_signed_stored_and_logged(container, tmp_path):
    from candor.provenance.watermark import binding_value

    releaser = container.releaser
    out = tmp_path / "out" / "clip.mp4"
    claim = releaser.claim(generation_id="gen_release_test", partner_id="ptn_test")
    result = releaser.release_frames(_frames(100), out_path=out, fps=25, claim=claim, portrait=_png())
    releaser.record(result)
    assert out.is_file() and result.frames == 100 and result.duration_s == pytest.approx(4.0)
    report = container.verifier.verify_file(out).to_dict()
    assert report["state"] == "Trusted"
    assert report["watermark"]["found"] and report["watermark"]["serial"] == result.serial
    assert report["summary"]["generation"]["generation_id"] == "gen_release_test"
    matches = container.manifests.matches_by_binding(alg=report["watermark"]["alg"], value=binding_value(result.serial))
    assert [m["manifestId"] for m in matches["matches"]] == [result.manifest_id]
    assert sorted(p.name for p in out.parent.iterdir()) == ["clip.mp4"]  # no temporary files left
    # the release is in the generation log, with the file's digest, as the local operator
    (entry,) = container.ledger.entries()
    assert (entry.event_type, entry.actor, entry.subject) == (
        "generation.completed",
        "local-operator",
        "gen_release_test",
    )
    assert entry.details == {
        "output_sha256": result.sha256,
        "manifest_id": result.manifest_id,
        "watermark_serial": result.serial,
    }


def test_a_failed_render_leaves_nothing_behind(container, tmp_path):
    releaser = container.releaser
    out = tmp_path / "out" / "broken.mp4"
    claim = releaser.claim(generation_id="gen_broken")
    with pytest.raises(RuntimeError, match="renderer crashed"):
        releaser.release_frames(_frames(50, fail_at=20), out_path=out, fps=25, claim=claim, portrait=_png())
    assert list(out.parent.iterdir()) == []
    assert container.ledger.tree_size() == 0  # nothing released, nothing logged


def test_an_encoder_error_reaches_the_caller_and_leaves_nothing_behind(container, tmp_path):
    """A frame the encoder refuses stops the release at that frame: the caller sees the error,
    and no file or log entry is left."""
    from candor.errors import InvalidInput

    def frames():
        yield from _frames(10)
        yield np.zeros((256, 256, 3), np.uint8)  # the wrong size for the 512x512 video
        yield from _frames(40)

    releaser = container.releaser
    out = tmp_path / "out" / "bad.mp4"
    progress: list[int] = []
    with pytest.raises(InvalidInput, match="512x512x3"):
        releaser.release_frames(frames(), out_path=out, fps=25, claim=releaser.claim(generation_id="gen_bad"),
                                portrait=_png(), on_frame=progress.append)  # fmt: skip
    assert list(out.parent.iterdir()) == []
    assert container.ledger.tree_size() == 0
    assert progress == list(range(1, 11))  # counted on the caller's thread as frames were handed over


def test_generation_job_end_to_end(container, tmp_path):
    """The job the API runs: a real portrait and real speech -> a proven Candor video."""
    import subprocess

    from candor.generator.controls import Controls
    from candor.generator.video import probe

    portrait = tmp_path / "portrait.png"
    portrait.write_bytes(_png())
    speech = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(speech), "Good morning, this is a consented generation."], check=True)
    fractions = []
    releaser = container.releaser
    controls = Controls(emotion="happy", intensity=0.5)
    claim = releaser.claim(
        generation_id="gen_e2e",
        partner_id="partner-123",
        consent_id="consent-9",
        controls=controls.as_record(seed=7, fps=25),
    )
    result = releaser.release_generation(
        portrait_path=portrait,
        audio_path=speech,
        out_path=tmp_path / "out" / "generation.mp4",
        controls=controls,
        seed=7,
        fps=25,
        claim=claim,
        max_audio_seconds=120.0,
        max_image_megapixels=50.0,
        progress=fractions.append,
    )
    info = probe(result.output_path)
    assert info.frames == result.frames and info.audio_duration is not None
    assert fractions and fractions[-1] == pytest.approx(1.0, abs=0.05)
    report = container.verifier.verify_file(result.output_path).to_dict()
    assert report["outcome"] == "proven"
    generation = report["summary"]["generation"]
    assert generation["generation_id"] == "gen_e2e" and generation["consent_id"] == "consent-9"
    assert generation["partner"].startswith("pp_") and "partner-123" not in generation["partner"]
    assert generation["controls"]["emotion"] == "happy"
