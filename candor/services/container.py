"""Infrastructure built once per process from Settings: the one place Settings become objects.

The API (one container per app), every CLI command (one per process) and the worker build a
:class:`Container`; libraries below it receive plain values (a key, a signer, a session factory,
PEM roots), never Settings. Nothing connects or migrates at build time except where asked:
:meth:`Container.migrate` runs the one Alembic history once per process start (`candor serve`,
`candor db upgrade`, the first CLI command that touches the database), never per request.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from candor.config import PLACEHOLDER_SECRET, Settings

if TYPE_CHECKING:
    from candor.policy import Policy
    from candor.provenance.checkpoint import CheckpointSigner
    from candor.provenance.keys import KeyStore, SigningIdentity
    from candor.provenance.signer import LocalKeySigner
    from candor.provenance.verify import Verifier
    from candor.provenance.watermark import WatermarkKey
    from candor.services.generation_log import GenerationLog
    from candor.services.jobs import JobQueue
    from candor.services.manifests import ManifestRepository
    from candor.services.metrics import JobMetrics
    from candor.services.release import Releaser
    from candor.services.worker import JobHandler
    from candor.store.filestore import FileStore


# --- Settings -> plain values (also used by `candor keys` and the tests) ------------------------


def key_passphrase(settings: Settings) -> bytes:
    """The signing keys' passphrase named by the settings (a development one is created on first use)."""
    from candor.provenance.keys import resolve_passphrase

    return resolve_passphrase(
        settings.resolved_keys_dir,
        passphrase=settings.key_passphrase.get_secret_value() if settings.key_passphrase else None,
        passphrase_file=settings.key_passphrase_file,
        development=settings.generates_local_secrets,
    )


def key_store(settings: Settings) -> KeyStore:
    """The signing key store (created on first use in development on one host; in a cluster it must
    exist: `candor keys init` once, then the same directory is given to every host)."""
    from candor.provenance.keys import ensure_keys

    development = settings.generates_local_secrets
    passphrase = key_passphrase(settings) if development else b""
    return ensure_keys(settings.resolved_keys_dir, passphrase, development=development)


def signing_identity(settings: Settings) -> SigningIdentity:
    """The current signing key and chain, unlocked with the configured passphrase."""
    return key_store(settings).load_signing(key_passphrase(settings))


def trust_anchors(settings: Settings) -> tuple[str, ...]:
    """PEM roots a verifier trusts: this service's roots plus CANDOR_TRUST_ANCHORS files."""
    from candor.provenance.keys import trust_anchor_pems

    return tuple(trust_anchor_pems(settings.resolved_keys_dir, settings.trust_anchors))


def watermark_key(settings: Settings) -> WatermarkKey:
    """The watermark key for CANDOR_WATERMARK_SECRET (a development secret file when unset)."""
    from candor.provenance.watermark import WatermarkKey

    secret = settings.watermark_secret.get_secret_value()
    return WatermarkKey.from_secret(
        None if secret == PLACEHOLDER_SECRET else secret,
        dev_secret_dir=settings.data_dir,
        production=settings.environment == "production" or settings.cluster,
    )


def checkpoint_signer(settings: Settings) -> CheckpointSigner:
    """The generation log's checkpoint signer: the current ES256 signing key."""
    from candor.provenance.checkpoint import CheckpointSigner

    return CheckpointSigner.from_private_key(signing_identity(settings).private_key)


# --- the container ---------------------------------------------------------------------------------


@dataclass
class Container:
    """Engine, sessions, file store, generation log, manifests, keys, signer, watermark key and
    policy for one process. Build with :meth:`build`; close with :meth:`close`."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    files: FileStore
    manifests: ManifestRepository
    policy: Policy
    queue: JobQueue | None = None  # set while the in-process worker pool runs
    job_handler: JobHandler | None = None  # None: candor.services.worker.GenerationWorker (the release path)
    detector_available: bool = False
    maintenance: Any = None  # the MaintenanceThread while the worker pool runs
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, settings: Settings) -> Container:
        """Everything for ``settings``; connects nothing (engines connect on first use) and loads no
        key until something signs (`candor verify` needs none)."""
        from candor.policy import load_policy
        from candor.services.manifests import ManifestRepository
        from candor.store.database import make_engine, make_session_factory
        from candor.store.filestore import file_store_for

        engine = make_engine(settings.resolved_database_url)
        sessions = make_session_factory(engine)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=sessions,
            files=file_store_for(settings.storage_url, data_dir=settings.data_dir),
            manifests=ManifestRepository(sessions),
            policy=load_policy(settings.policy_file),
        )

    def migrate(self) -> None:
        """Bring the schema to head (idempotent); once per process start."""
        from candor.store.migrations import upgrade_database

        upgrade_database(self.engine)

    # -- built on first use (each at most once) ----------------------------------------------------

    @functools.cached_property
    def ledger(self) -> GenerationLog:
        """The tamper-evident generation log; every append signs a checkpoint with the service key."""
        from candor.services.generation_log import GenerationLog

        return GenerationLog(self.session_factory, signer=checkpoint_signer(self.settings))

    @functools.cached_property
    def signer(self) -> LocalKeySigner:
        """The C2PA claim signer (current key, configured timestamp authority)."""
        from candor.provenance.signer import LocalKeySigner

        return LocalKeySigner(signing_identity(self.settings), tsa_url=self.settings.tsa_url)

    @functools.cached_property
    def metrics(self) -> JobMetrics:
        """This process's job metrics (Prometheus), with the cluster-wide queue depth."""
        from candor.services.metrics import JobMetrics

        return JobMetrics(self.session_factory)

    @functools.cached_property
    def watermark_key(self) -> WatermarkKey:
        return watermark_key(self.settings)

    @functools.cached_property
    def trust_anchors(self) -> tuple[str, ...]:
        return trust_anchors(self.settings)

    @functools.cached_property
    def verifier(self) -> Verifier:
        """Verification against this service's roots, watermark key and manifest repository."""
        from candor.provenance.verify import Verifier

        return Verifier(trust_anchors=self.trust_anchors, watermark_key=self.watermark_key, manifests=self.manifests)

    @functools.cached_property
    def releaser(self) -> Releaser:
        """The one release path (see :mod:`candor.services.release`)."""
        from candor.services.release import Releaser

        return Releaser(
            manifests=self.manifests,
            signer=lambda: self.signer,
            watermark_key=self.watermark_key,
            log=lambda: self.ledger,
            partner_secret=self.settings.secret_key,
            thumbnails=self.settings.c2pa_thumbnails,
        )

    def classifier(self, checkpoint: Path | None = None) -> Any:
        """The detector's classifier (the shipped checkpoint by default), loaded once per process."""
        with self._lock:
            cache = self.__dict__.setdefault("_classifiers", {})
            if checkpoint not in cache:
                from candor.detector.model import load_classifier

                cache[checkpoint] = load_classifier(checkpoint) if checkpoint else load_classifier()
            return cache[checkpoint]

    # -- the in-process worker pool ----------------------------------------------------------------

    def start_worker(self, workers: int | None = None) -> None:
        """Start the in-process job queue with ``workers`` threads (default CANDOR_WORKERS); starting
        also re-queues jobs a dead worker on this host left running."""
        from candor.services.jobs import ThreadJobQueue
        from candor.services.worker import GenerationWorker

        handler = self.job_handler or GenerationWorker(
            self.releaser,
            max_audio_seconds=self.settings.max_audio_seconds,
            max_image_megapixels=self.settings.max_image_megapixels,
        )
        queue = ThreadJobQueue(
            self.session_factory,
            self.files,
            handler,
            workers=workers or self.settings.workers,
            lease_s=self.settings.job_lease_seconds,
            log=self.ledger,
            allow_private_webhooks=self.settings.environment != "production",
            metrics=self.metrics,
        )
        queue.start()
        self.queue = queue
        from candor.services.maintenance import MaintenanceThread

        # Retention and garbage collection beside the workers: the first pass now, then every interval.
        self.maintenance = MaintenanceThread(
            self.session_factory,
            self.ledger,
            self.files,
            retention_days=self.settings.output_retention_days,
            interval_s=self.settings.maintenance_interval_s,
        )
        self.maintenance.start()

    def close(self, grace_s: float = 10.0) -> None:
        """Stop the worker pool (a job unfinished after ``grace_s`` seconds is handed back for another
        worker), release connections."""
        if self.maintenance is not None:
            self.maintenance.stop()
            self.maintenance = None
        if self.queue is not None:
            self.queue.stop(grace_s)
            self.queue = None
        self.engine.dispose()
