"""Liveness and readiness (no key needed) and the job metrics in the Prometheus format (operators:
scope ``admin``, since queue depth and job counts are business figures)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from candor import __version__
from candor.api.deps import Operator, StateDep
from candor.api.errors import problem, problem_type
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
    responses=problem_responses(503),
)
def ready(request: Request, state: StateDep) -> Response:
    """200 when this process can serve (a load balancer sends it traffic), else a 503 problem naming
    the failing checks (each check's value is a member of the problem document too)."""
    checks = readiness(engine=state.engine, files=state.files)
    failing = {name: value for name, value in checks.items() if value != "ok"}
    if not failing:
        return JSONResponse(ReadinessPublic(status="ready", **checks).model_dump())  # type: ignore[arg-type]
    return problem(
        request,
        status=503,
        title="Not ready",
        detail="; ".join(f"{name}: {value}" for name, value in failing.items()),
        type_uri=problem_type("not-ready"),
        headers={"Retry-After": "5"},
        **checks,
    )


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
