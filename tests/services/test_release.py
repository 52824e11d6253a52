import io

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from candor.config import Settings
from candor.services.release import release_frames


@pytest.fixture()
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", environment="development")


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


def test_released_video_is_watermarked_signed_and_recorded(settings, tmp_path):
    from candor.provenance.repository import ManifestRepository
    from candor.provenance.verify import verify_file
    from candor.provenance.watermark import binding_value

    out = tmp_path / "out" / "clip.mp4"
    result = release_frames(
        _frames(100),
        out_path=out,
        fps=25,
        settings=settings,
        generation_id="gen_release_test",
        partner_pseudonym="pp_test",
        portrait=_png(),
    )
    assert out.is_file() and result.frames == 100 and result.duration_s == pytest.approx(4.0)
    report = verify_file(out, settings=settings).to_dict()
    assert report["state"] == "Trusted"
    assert report["watermark"]["found"] and report["watermark"]["serial"] == result.serial
    assert report["summary"]["generation"]["generation_id"] == "gen_release_test"
    repo = ManifestRepository.from_settings(settings)
    try:
        matches = repo.matches_by_binding(alg=report["watermark"]["alg"], value=binding_value(result.serial))
    finally:
        repo.dispose()
    assert [m["manifestId"] for m in matches["matches"]] == [result.manifest_id]
    assert sorted(p.name for p in out.parent.iterdir()) == ["clip.mp4"]  # no temporary files left


def test_a_failed_render_leaves_nothing_behind(settings, tmp_path):
    out = tmp_path / "out" / "broken.mp4"
    with pytest.raises(RuntimeError, match="renderer crashed"):
        release_frames(
            _frames(50, fail_at=20),
            out_path=out,
            fps=25,
            settings=settings,
            generation_id="gen_broken",
            partner_pseudonym="pp_test",
            portrait=_png(),
        )
    assert list(out.parent.iterdir()) == []


def test_generation_job_end_to_end(settings, tmp_path):
    """The job the API runs: a real portrait and real speech -> a proven Candor video."""
    import subprocess

    from candor.generator.controls import Controls
    from candor.generator.video import probe
    from candor.provenance.verify import verify_file
    from candor.services.release import release_generation

    portrait = tmp_path / "portrait.png"
    portrait.write_bytes(_png())
    speech = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(speech), "Good morning, this is a consented generation."], check=True)
    fractions = []
    result = release_generation(
        portrait_path=portrait,
        audio_path=speech,
        out_path=tmp_path / "out" / "generation.mp4",
        controls=Controls(emotion="happy", intensity=0.5),
        seed=7,
        fps=25,
        claim={"generation_id": "gen_e2e", "partner": "partner-123", "consent_id": "consent-9"},
        serial=None,
        settings=settings,
        progress=fractions.append,
    )
    info = probe(result.output_path)
    assert info.frames == result.frames and info.audio_duration is not None
    assert fractions and fractions[-1] == pytest.approx(1.0, abs=0.05)
    report = verify_file(result.output_path, settings=settings).to_dict()
    assert report["outcome"] == "proven"
    generation = report["summary"]["generation"]
    assert generation["generation_id"] == "gen_e2e" and generation["consent_id"] == "consent-9"
    assert generation["partner"].startswith("pp_") and "partner-123" not in generation["partner"]
    assert generation["controls"]["emotion"] == "happy"
