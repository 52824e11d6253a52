"""Suite-wide isolation: nothing a test does may touch the user's real Candor data directory."""

import os
import tempfile

# Set before any test imports candor.config: get_settings() is cached per process.
_DATA_DIR = tempfile.mkdtemp(prefix="candor-tests-")
os.environ["CANDOR_DATA_DIR"] = _DATA_DIR
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
