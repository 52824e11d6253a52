"""What the API holds for its lifetime: database sessions, file store, log, policy, job queue.

One object built from Settings by :meth:`ServiceState.build`; routes reach it only through the
dependencies in :mod:`candor.api.deps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from candor.config import Settings

if TYPE_CHECKING:
    from candor.policy import Policy
    from candor.provenance.ledger import GenerationLog
    from candor.services.jobs import JobHandler, JobQueue
    from candor.store.filestore import FileStore


@dataclass
class ServiceState:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    files: FileStore
    ledger: GenerationLog
    policy: Policy
    queue: JobQueue | None = None  # set while the in-process worker pool runs
    detector_available: bool = False
    job_handler: JobHandler | None = None  # None: candor.services.jobs.run_generation_job

    @classmethod
    def build(cls, settings: Settings) -> ServiceState:
        """Engine, session factory, file store, generation log and policy for ``settings``.

        Connects nothing: engines connect on first use.
        """
        from candor.policy import load_policy
        from candor.store.filestore import FileStore
        from candor.store.session import get_engine, session_factory

        factory = session_factory(settings)
        return cls(
            settings=settings,
            engine=get_engine(settings),
            session_factory=factory,
            files=FileStore.from_settings(settings),
            ledger=generation_log(settings, factory),
            policy=load_policy(settings.policy_file),
        )

    def migrate(self) -> None:
        """Bring the schema to head (idempotent)."""
        from candor.store.migrations import upgrade_database

        upgrade_database(self.engine)

    def start_worker(self) -> None:
        """Start the in-process job queue; starting also re-queues jobs a dead worker left running."""
        from candor.services.jobs import ThreadJobQueue, run_generation_job

        queue = ThreadJobQueue(
            self.session_factory,
            self.files,
            self.job_handler or run_generation_job,
            workers=self.settings.workers,
            log=self.ledger,
            settings=self.settings,
        )
        queue.start()
        self.queue = queue

    def close(self) -> None:
        """Stop the worker pool (a job still running is re-run after its lease expires)."""
        if self.queue is not None:
            self.queue.stop()
            self.queue = None


def generation_log(settings: Settings, sessions: sessionmaker[Session]) -> GenerationLog:
    """The service's tamper-evident log, every checkpoint signed with the service's key."""
    from candor.provenance.checkpoint import checkpoint_signer_from_settings
    from candor.provenance.ledger import GenerationLog

    return GenerationLog(sessions, signer=checkpoint_signer_from_settings(settings))
