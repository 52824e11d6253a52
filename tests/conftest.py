"""Suite-wide isolation (nothing a test does may touch the user's real Candor data directory) and the
bundled public-domain portraits every area's tests use."""

import os
import tempfile

# Set before any test imports candor.config: get_settings() is cached per process.
_DATA_DIR = tempfile.mkdtemp(prefix="candor-tests-")
os.environ["CANDOR_DATA_DIR"] = _DATA_DIR
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import shutil  # noqa: E402 - after the environment above
import subprocess  # noqa: E402

import matplotlib.cbook  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import skimage.data  # noqa: E402
from PIL import Image  # noqa: E402


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as img:
        return np.asarray(img.convert("RGB"))


@pytest.fixture(scope="session")
def astronaut_face(astronaut):
    from candor.generator.face import analyze_image

    return analyze_image(astronaut)


@pytest.fixture(scope="session")
def grace_face(grace_hopper):
    from candor.generator.face import analyze_image

    return analyze_image(grace_hopper)


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """About 2 s of English speech from espeak-ng (areas that need a file path define their own)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is required (make system-deps installs it)")
    path = tmp_path_factory.mktemp("speech") / "hello.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(path), "Hello, this is a consented test."],
        check=True,
        capture_output=True,
    )
    return path.read_bytes()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto_server) on loopback for the whole session; boto3 in this
    process gets the test credentials through the environment."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from s3_server import TEST_ENV, S3Server

    for name, value in TEST_ENV.items():
        os.environ[name] = value
    server = S3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()
