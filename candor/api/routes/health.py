"""Liveness and readiness (no key needed) and the job metrics in the Prometheus format (operators:
scope ``admin``, since queue depth and job counts are business figures)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from candor import __version__
from candor.api.deps import Operator, StateDep
from candor.api.openapi import problem_responses
from candor.api.schemas.health import HealthPublic, ReadinessPublic
from candor.services.health import readiness

router = APIRouter(tags=["health"])

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/health", response_model=HealthPublic, summary="Service health")
def health(state: StateDep) -> HealthPublic:
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        database = "unavailable"
    worker = "running" if state.queue is not None else "stopped"
    return HealthPublic(
        status="ok" if database == "ok" else "degraded",
        version=__version__,
        database=database,
        worker=worker,
        detector=state.detector_available,
    )


@router.get(
    "/ready",
    response_model=ReadinessPublic,
    summary="Readiness: database reachable, schema at this build's migration head, file store reachable",
    responses={503: {"model": ReadinessPublic, "description": "Not ready: a check is not ok"}},
)
def ready(state: StateDep) -> JSONResponse:
    """200 when this process can serve (a load balancer sends it traffic), else 503 naming the check."""
    checks = readiness(engine=state.engine, files=state.files)
    ok = all(value == "ok" for value in checks.values())
    body = ReadinessPublic(status="ready" if ok else "not_ready", **checks)  # type: ignore[arg-type]
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    summary="Job metrics in the Prometheus text format: queue depth, claim latency, render seconds, outcomes",
    responses={
        200: {"content": {PROMETHEUS_TEXT: {"schema": {"type": "string"}}}, "description": "Prometheus text"},
        **problem_responses(401, 403, 429),
    },
)
async def metrics(state: StateDep, _operator: Operator) -> Response:
    """The queue depth is cluster-wide (read from the database); histograms and counters are this
    process's (its in-process workers, if any). Workers export theirs with `candor worker --metrics-port`."""
    return Response(await run_in_threadpool(state.metrics.render), media_type=PROMETHEUS_TEXT)
