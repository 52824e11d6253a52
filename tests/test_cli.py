import subprocess
import sys

from typer.testing import CliRunner

from candor import __version__
from candor.cli import app


def test_version_flag_prints_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_help_is_fast_and_imports_nothing_heavy():
    # `candor --help` must not import mediapipe/torch/c2pa at module import time.
    code = (
        "import sys, candor.cli; "
        "heavy = [m for m in ('mediapipe', 'torch', 'c2pa', 'cv2', 'sqlalchemy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_db_upgrade_migrates_once_and_is_idempotent(tmp_path, monkeypatch):
    from sqlalchemy import create_engine, inspect

    from candor.config import get_settings
    from candor.store.migrations import MIGRATIONS_DIR

    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        head = max(p.name.split("_")[0] for p in (MIGRATIONS_DIR / "versions").glob("0*.py"))
        first = CliRunner().invoke(app, ["db", "upgrade"])
        assert first.exit_code == 0, first.output
        assert f"at revision {head}" in first.stdout
        tables = set(inspect(create_engine(f"sqlite:///{tmp_path / 'candor.db'}")).get_table_names())
        assert {"generations", "audit_log_entries", "provenance_manifests", "detections"} <= tables
        again = CliRunner().invoke(app, ["db", "upgrade"])
        assert again.exit_code == 0 and f"at revision {head}" in again.stdout
    finally:
        get_settings.cache_clear()


def test_the_portrait_analysed_in_its_own_process_is_the_one_analysed_here():
    import numpy as np

    from candor.commands._analysis import PortraitAnalysis
    from candor.commands.generator import load_bundled_portrait
    from candor.generator.face import analyze_image

    with PortraitAnalysis("bundled:grace_hopper", False, None) as analysis:
        there = analysis.result()
    here = analyze_image(load_bundled_portrait("grace_hopper"))
    assert np.array_equal(there.image, here.image)
    np.testing.assert_allclose(there.landmarks, here.landmarks, atol=1e-4)
    np.testing.assert_allclose(there.baseline, here.baseline, atol=1e-4)


def test_the_analysis_process_reports_errors_as_their_own_types(tmp_path):
    import numpy as np
    import pytest
    from PIL import Image

    from candor.commands._analysis import PortraitAnalysis
    from candor.errors import InvalidImage, InvalidInput, NoFaceFound

    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(blank)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(NoFaceFound), PortraitAnalysis(str(blank), False, None) as analysis:
        analysis.result()
    with pytest.raises(InvalidImage), PortraitAnalysis(str(junk), False, None) as analysis:
        analysis.result()
    with (
        pytest.raises(InvalidInput, match="unknown bundled portrait"),
        PortraitAnalysis("bundled:nobody", False, None) as analysis,
    ):
        analysis.result()


def test_an_analysis_never_asked_for_is_stopped():
    from candor.commands._analysis import PortraitAnalysis

    with PortraitAnalysis("bundled:astronaut", False, None) as analysis:
        pass
    assert analysis._proc.returncode is not None  # gone with the block, not left running


def test_generate_reports_a_bad_portrait_cleanly(tmp_path):
    import numpy as np
    import soundfile as sf

    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(16000, np.float32), 16000)
    out = tmp_path / "x.mp4"
    result = CliRunner().invoke(app, ["generate", "--image", "bundled:nobody", "--audio", str(audio), "-o", str(out)])
    assert result.exit_code == 2
    assert "unknown bundled portrait" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == [audio]
