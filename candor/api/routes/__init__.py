"""Routes under ``/v1``: thin handlers that parse, call one service function and return a schema."""

from __future__ import annotations

from fastapi import APIRouter

from candor.api.routes import assets, audit, consents, generations, health, manifests

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(consents.router)
api_router.include_router(assets.router)
api_router.include_router(generations.router)
api_router.include_router(audit.router)
api_router.include_router(manifests.router)
