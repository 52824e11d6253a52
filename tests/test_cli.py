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
