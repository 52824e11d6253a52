"""Job metrics in the Prometheus format: queue depth, claim latency, queue wait, render seconds and
jobs by outcome.

Each process (an API server, a ``candor worker``) holds one :class:`JobMetrics` with a registry of its
own (not prometheus_client's global one, so several apps in one test process never collide). The
queue depth is read from the database at scrape time, so every process reports the same cluster-wide
figure; the histograms and counters are this process's own (sum them across workers in PromQL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from candor.store.models import Generation

logger = logging.getLogger("candor.metrics")

OUTCOMES = ("succeeded", "failed", "stopped", "retried", "handed_back")
# Claim statements take milliseconds; queue waits and renders seconds to minutes.
_CLAIM_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_JOB_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class _QueueDepth(Collector):
    """``candor_jobs_queue_depth{status}``: queued and running jobs, counted in the database."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "candor_jobs_queue_depth", "Generation jobs waiting (queued) or in progress (running)", labels=["status"]
        )
        counts = {"queued": 0, "running": 0}
        try:
            with self.session_factory() as session:
                rows = session.execute(
                    select(Generation.status, func.count())
                    .where(Generation.status.in_(tuple(counts)))
                    .group_by(Generation.status)
                ).all()
        except SQLAlchemyError:  # a scrape during an outage reports no depth rather than failing whole
            logger.warning("queue depth unavailable: the database did not answer")
            return
        counts.update({status: n for status, n in rows})
        for status, n in counts.items():
            family.add_metric([status], n)
        yield family


class JobMetrics:
    """The metrics one process exports; ``session_factory`` (optional) adds the queue depth."""

    def __init__(self, session_factory: sessionmaker[Session] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.claim_seconds = Histogram(
            "candor_job_claim_seconds",
            "Seconds one claim statement took (FOR UPDATE SKIP LOCKED + lease), whether or not it found a job",
            buckets=_CLAIM_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait_seconds = Histogram(
            "candor_job_queue_wait_seconds",
            "Seconds from a job's request to its claim",
            buckets=_JOB_BUCKETS,
            registry=self.registry,
        )
        self.render_seconds = Histogram(
            "candor_job_render_seconds",
            "Seconds a job's handler ran (motion, render, watermark, signature) until it returned or stopped",
            buckets=_JOB_BUCKETS,
            registry=self.registry,
        )
        self.jobs = Counter(
            "candor_jobs",
            "Job attempts this process ended, by outcome (retried: re-queued after an error; "
            "handed_back: released at shutdown for another worker)",
            labelnames=["outcome"],
            registry=self.registry,
        )
        for outcome in OUTCOMES:
            self.jobs.labels(outcome)  # every series exists from the start (0), so rates work at once
        if session_factory is not None:
            self.registry.register(_QueueDepth(session_factory))

    def outcome(self, outcome: str) -> None:
        self.jobs.labels(outcome).inc()

    def render(self) -> bytes:
        """The text exposition format (``text/plain; version=0.0.4``)."""
        return generate_latest(self.registry)
