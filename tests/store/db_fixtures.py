"""Storage fixtures shared by the store and services tests (both conftests import them): every test
runs on SQLite (a file) and on a real PostgreSQL server, in a fresh schema per test session so
parallel runs of other engineers never collide."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).parent))

import store_pg

from candor.store.database import Base, make_engine, make_session_factory

PG_URL = os.environ.get("CANDOR_TEST_POSTGRES_URL", store_pg.DEFAULT_URL)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A reachable PostgreSQL URL: the configured one, else a temporary cluster, else skip."""
    reason = store_pg.reachable(PG_URL)
    if reason is None:
        yield PG_URL
        return
    try:
        cluster = store_pg.TempCluster()
        url = cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(
            f"PostgreSQL not reachable at {PG_URL} ({reason}) and no temporary cluster could be started "
            f"({exc}); set CANDOR_TEST_POSTGRES_URL or install Debian's postgresql package"
        )
    try:
        yield url
    finally:
        cluster.stop()


@dataclass(frozen=True)
class Database:
    backend: str
    engine: Engine
    url: str
    schema: str | None  # PostgreSQL schema of this test session


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated database per backend for the whole session (tables emptied per test)."""
    from candor.store.migrations import upgrade_database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'candor.db'}"
        engine = make_engine(url)
        upgrade_database(engine)
        yield Database("sqlite", engine, url, None)
        engine.dispose()
        return
    server = request.getfixturevalue("postgres_server")
    schema = f"store_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url, kwargs = store_pg.schema_engine_url(server, schema)
    engine = make_engine(url, **kwargs)
    try:
        upgrade_database(engine)
        yield Database("postgresql", engine, server, schema)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def factory(database: Database) -> sessionmaker[Session]:
    """A session factory on an emptied database."""
    with database.engine.begin() as conn:
        present = set(inspect(conn).get_table_names())
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in present:  # tables of modules other tests import but nobody migrated
                conn.execute(table.delete())
    return make_session_factory(database.engine)


@pytest.fixture
def files(tmp_path: Path):
    from candor.store.filestore import LocalFileStore

    return LocalFileStore(tmp_path / "files")


@pytest.fixture
def log(factory: sessionmaker[Session]):
    from candor.services.generation_log import GenerationLog

    return GenerationLog(factory)


@pytest.fixture
def policy():
    from candor.policy import load_policy

    return load_policy()


# --- real media ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def portrait_png() -> bytes:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((256, 256)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def world(factory, log, files, portrait_png, speech_wav):  # type: ignore[no-untyped-def]
    from store_world import make_world

    return make_world(factory, log, files, portrait_png, speech_wav)
