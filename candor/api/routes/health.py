"""Liveness and readiness: no key needed."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from candor import __version__
from candor.api.deps import StateDep
from candor.api.schemas.health import HealthPublic

router = APIRouter(tags=["health"])


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
