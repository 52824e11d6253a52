"""Routes under ``/v1``: thin handlers that parse, call one service function and return a schema."""

from __future__ import annotations

from fastapi import APIRouter

from candor.api.routes import (
    account,
    admin,
    assets,
    audit,
    consents,
    detections,
    generations,
    health,
    live,
    manifests,
)

# Included one by one on the app (not nested in a parent router): each request is matched
# against one flat route list, which is measurably cheaper per request than nested routers.
ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    consents.router,
    assets.router,
    generations.router,
    audit.router,
    manifests.router,
    detections.router,  # the companion detector's scans
    admin.router,
    account.router,  # the partner's own usage and webhook secret
    live.router,  # the /v1/live WebSocket (not in the OpenAPI document)
)
