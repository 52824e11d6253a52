"""The web console under ``/console``: server-rendered pages for partners (studio), auditors (the
log, proofs checked in the browser), trust-and-safety analysts (scans) and operators (vetting, keys).

All assets ship in this package (``templates/``, ``static/``): no CDN, no run-time download.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from candor.api.console import account, audit, auth, live, operator, safety, studio
from candor.api.console.web import HERE, PREFIX, SecurityHeaders, install_handlers


def install_console(app: FastAPI) -> None:
    """Mount the console's pages and static files on ``app`` (kept out of the OpenAPI document)."""
    for part in (auth, studio, live, account, audit, safety, operator):
        app.include_router(part.router, prefix=PREFIX, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(HERE / "static")), name="console-static")
    app.add_middleware(SecurityHeaders)
    install_handlers(app)
