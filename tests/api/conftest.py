"""Real service fixtures: a fresh database (a SQLite file, and a PostgreSQL schema on the real
server) and file store per test module, real partners and keys made through the store's service
functions, a real portrait and a real espeak-ng WAV."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import Admin, make_settings
from fastapi.testclient import TestClient

from candor.api.app import create_app


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("candor-api")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server URL: 127.0.0.1:5432 when it answers, else a temporary cluster from
    Debian's package (the storage tests' helper), else the PostgreSQL variants are skipped."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "store"))
    import store_pg

    reason = store_pg.reachable(store_pg.DEFAULT_URL)
    if reason is None:
        yield store_pg.DEFAULT_URL
        return
    try:
        cluster = store_pg.TempCluster()
        url = cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"no PostgreSQL at {store_pg.DEFAULT_URL} ({reason}) and none could be started ({exc})")
    try:
        yield url
    finally:
        cluster.stop()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (the SQLite file in data_dir) or a PostgreSQL URL whose search_path is a fresh schema."""
    if request.param == "sqlite":
        yield None
        return
    from sqlalchemy import create_engine, text

    server = request.getfixturevalue("postgres_url")
    schema = f"api_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        # libpq's `options` puts every unqualified table of this module's app into the schema.
        yield f"{server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def client(data_dir: Path, database_url: str | None) -> Iterator[TestClient]:
    """The app with its lifespan (migrations) but no job worker: jobs stay queued, as they would
    in the database while no worker runs."""
    app = create_app(make_settings(data_dir, database_url=database_url), start_worker=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def admin(client: TestClient) -> Admin:
    return Admin(client.app)


# --- real media ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def portrait_png() -> bytes:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def consent_pdf() -> bytes:
    """A small real PDF standing in for the signed consent form (matplotlib writes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 1))
    fig.text(0.1, 0.5, "I consent to being animated.")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="pdf")
    plt.close(fig)
    return buffer.getvalue()
