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
