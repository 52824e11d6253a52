"""Engines and sessions built from Settings (via candor.store.database.make_engine), one engine per URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from candor.config import Settings, get_settings
from candor.store.database import make_engine, make_session_factory

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for ``settings.resolved_database_url`` (created on first use)."""
    url = (settings or get_settings()).resolved_database_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def session_factory(settings: Settings | None = None) -> sessionmaker[Session]:
    """A sessionmaker bound to :func:`get_engine` (objects stay readable after commit)."""
    return make_session_factory(get_engine(settings))


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit if the block succeeds, roll back if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engines() -> None:
    """Close every pooled connection (tests, forked workers)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
