"""What the API holds for its lifetime: database sessions, file store, log, policy, job queue.

One object built from Settings by :meth:`ServiceState.build`; routes reach it only through the
dependencies in :mod:`candor.api.deps`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from candor.config import Settings

log = logging.getLogger("candor.api")


@dataclass
class ServiceState:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker
    files: Any  # candor.store.filestore.FileStore
    ledger: Any  # candor.provenance.ledger.GenerationLog
    policy: Any  # candor.policy.Policy
    queue: Any = None  # candor.store.jobs.JobQueue, made on start_worker()
    detector_available: bool = False
    job_handler: Any = None  # JobContext -> JobOutput; None = candor.store.jobs.run_generation_job
    _started: bool = field(default=False, repr=False)

    @classmethod
    def build(cls, settings: Settings) -> ServiceState:
        """Engine, session factory, file store, generation log and policy for ``settings``.

        Connects nothing: engines connect on first use.
        """
        from candor.policy import load_policy
        from candor.store.filestore import FileStore
        from candor.store.session import get_engine, session_factory

        engine = get_engine(settings)
        factory = session_factory(settings)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=factory,
            files=FileStore.from_settings(settings),
            ledger=generation_log(settings, factory),
            policy=load_policy(settings.policy_file),
        )

    def migrate(self) -> None:
        """Bring the schema to head (idempotent)."""
        migrate_database(self.engine)

    def start_worker(self) -> None:
        """Run migrations, then start the in-process job queue (recovering interrupted jobs)."""
        from candor.store.jobs import ThreadJobQueue, run_generation_job

        self.queue = ThreadJobQueue(
            self.session_factory,
            self.files,
            self.job_handler or run_generation_job,
            workers=self.settings.workers,
            log=self.ledger,
            settings=self.settings,
        )
        self.queue.start()
        self._started = True

    def close(self) -> None:
        if self.queue is not None and self._started:
            self.queue.stop()
            self._started = False


def generation_log(settings: Settings, sessions: sessionmaker) -> Any:
    """The service's tamper-evident log, its checkpoints signed with the service's key."""
    from candor.provenance import ledger

    factory = getattr(ledger, "open_generation_log", None)
    if factory is not None:
        return factory(settings)
    from candor.provenance.checkpoint import CheckpointSigner
    from candor.provenance.keys import load_signing_identity

    signer = CheckpointSigner.from_private_key(load_signing_identity(settings).private_key)
    return ledger.GenerationLog(sessions, signer=signer)


def migrate_database(engine: Engine) -> None:
    try:
        from candor.store.migrations import upgrade_database
    except ModuleNotFoundError:  # until the store's Alembic history lands
        from candor.db import Base
        from candor.provenance import ledger, repository  # noqa: F401 - register their tables
        from candor.store import models  # noqa: F401

        Base.metadata.create_all(engine)
        return
    upgrade_database(engine)
