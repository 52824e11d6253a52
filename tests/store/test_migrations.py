"""One Alembic history creates exactly the tables of candor.store.models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from candor.store import models
from candor.store.database import Base
from candor.store.migrations import current_revision, upgrade_database


def test_migrated_schema_matches_every_model(database) -> None:  # type: ignore[no-untyped-def]
    assert set(Base.metadata.tables) == {m.__table__.name for m in vars(models).values() if hasattr(m, "__table__")}
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models changed without a migration: {diff}"
    with database.engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
    assert {"partners", "generations", "audit_log_entries", "provenance_manifests"} <= names


def test_upgrade_is_idempotent(database) -> None:  # type: ignore[no-untyped-def]
    head = current_revision(database.engine)
    assert head is not None
    upgrade_database(database.engine)  # a second start changes nothing
    assert current_revision(database.engine) == head


def test_fresh_sqlite_file_from_a_url(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'sub' / 'candor.db'}"
    upgrade_database(url)
    assert current_revision(url) is not None
