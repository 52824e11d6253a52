"""Fixtures: a migrated database per backend (SQLite, PostgreSQL), a file store, the log, a world."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "store"))

from db_fixtures import *  # noqa: F403 - pytest collects the fixtures imported here
