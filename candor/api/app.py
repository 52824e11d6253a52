"""The FastAPI application factory: ``create_app(settings)`` composes routes, errors and state.

Nothing happens at import time. ``create_app`` builds the app object and its database engine
(engines connect lazily); the lifespan starts and stops the in-process job worker pool when
``start_worker`` is true (``candor serve`` does that; most tests do too, to run real jobs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from candor import __version__
from candor.api.bodylimit import BodySizeLimit
from candor.api.console import install_console
from candor.api.errors import install_error_handlers
from candor.api.openapi import install_openapi
from candor.api.ratelimit import make_rate_limiter
from candor.api.routes import ROUTERS
from candor.config import Settings, get_settings
from candor.services.container import Container

API_DESCRIPTION = """\
Candor turns one enrolled portrait and one audio clip into a talking-face video, for vetted
partners only. Every output carries signed C2PA Content Credentials and an invisible watermark,
and every security-relevant decision is appended to a tamper-evident generation log.

Authenticate with `Authorization: Bearer cnd_...` or `X-API-Key: cnd_...` (a key from `candor keys issue`).
Every error is an RFC 9457 `application/problem+json` document.
"""


def create_app(settings: Settings | None = None, *, start_worker: bool | None = None) -> FastAPI:
    """Build the Candor HTTP API.

    ``settings``: the one Settings (default :func:`candor.config.get_settings`);
    ``start_worker``: run the in-process generation worker pool for the app's lifetime
    (default: ``settings.run_jobs``).
    """
    settings = settings or get_settings()
    if start_worker is None:
        start_worker = settings.run_jobs

    state = Container.build(settings)  # engine, sessions, log, keys, policy: once per app

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Database work and joining worker threads happen off the event loop; migrations run once,
        # here at start-up, never per request.
        await run_in_threadpool(state.migrate)
        # The signing key loads now: a service without its keys fails at start-up, not mid-request.
        await run_in_threadpool(lambda: state.ledger)
        if start_worker:
            await run_in_threadpool(state.start_worker)
        try:
            yield
        finally:
            await run_in_threadpool(state.close)

    app = FastAPI(
        title="Candor API",
        version=__version__,
        summary="Responsible talking-face generation for vetted partners",
        description=API_DESCRIPTION,
        docs_url=None,  # served below from the packaged Swagger UI: no CDN, works offline
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = state
    app.state.rate_limiter = make_rate_limiter(settings.rate_limit_per_s, settings.rate_limit_burst, settings.redis_url)
    app.state.client_limiter = make_rate_limiter(
        settings.auth_failure_rate_per_s, settings.auth_failure_burst, settings.redis_url, namespace="candor:rl-client:"
    )
    install_error_handlers(app)
    # Refuse oversized bodies as they stream in, before they are spooled to disk: room for the two
    # evidence files a consent may carry plus the form fields.
    app.add_middleware(BodySizeLimit, max_bytes=2 * settings.max_upload_bytes + (1 << 20))
    for router in ROUTERS:
        app.include_router(router, prefix="/v1")
    state.detector_available = any(router.prefix == "/detections" for router in ROUTERS)
    install_openapi(app)
    install_docs(app)
    install_console(app)
    return app


def install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the swagger-ui-bundle wheel (no CDN, so it works offline)."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )
