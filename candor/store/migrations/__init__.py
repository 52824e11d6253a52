"""The one Alembic history of every table in :mod:`candor.store.models` (service, manifest repository,
generation log), packaged inside candor/store so it ships with the wheel."""

from __future__ import annotations

import functools
from pathlib import Path

from sqlalchemy import Engine

from candor.store.database import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str | None = None):  # -> alembic.config.Config (imported lazily)
    """An Alembic Config pointing at this package (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (idempotent; safe at every start). On PostgreSQL a
    transaction-scoped advisory lock keeps two starting processes from migrating at once."""
    from alembic import command

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    if isinstance(url_or_engine, str):
        engine.dispose()


@functools.cache
def head_revision() -> str | None:
    """The newest revision of the packaged history (what :func:`upgrade_database` brings a database to)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url_or_engine: str | Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def new_revision(message: str, rev_id: str) -> Path:
    """Autogenerate the next revision from the models' current tables (for developers):

        .venv/bin/python -c "from candor.store.migrations import new_revision as n; n('add x', '0004')"

    Diffs the models against a scratch SQLite database at head; review the file, then ruff-format it.
    """
    import tempfile

    from alembic import command

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'scratch.db'}"
        upgrade_database(url)
        script = command.revision(alembic_config(url), message=message, autogenerate=True, rev_id=rev_id)
    return Path(script.path)  # type: ignore[union-attr]
