"""What every console page shares: the signed-in viewer, CSRF, security headers and rendering.

The console is a front door beside the JSON API: server-rendered pages (Jinja2, autoescaped) with
small same-origin scripts, calling the same services with the same scopes. A session cookie
(HttpOnly, SameSite=Strict, Secure over https) stands for the API key it was opened with.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from candor.api.deps import SessionDep
from candor.errors import CandorError, Forbidden, Unauthorized
from candor.services import console as sessions
from candor.store.models import ROLE_SCOPES, ApiKey, ConsoleSession, Partner

HERE = Path(__file__).parent
COOKIE = "candor_console"
LOGIN_COOKIE = "candor_console_login"  # double-submit CSRF token of the sign-in form (no session yet)
PREFIX = "/console"

# No inline script or style anywhere: scripts and styles come from /console/static only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make form posts send "Origin: null"
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

templates = Jinja2Templates(directory=str(HERE / "templates"))


class SecurityHeaders:
    """ASGI middleware: the console's CSP and friends on every response under /console."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra, (b"cache-control", b"no-store")]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SignInRequired(Exception):
    """No live session: pages redirect to the sign-in form, scripts get a 401."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class PageError(Exception):
    """A refusal shown as a console page (status and message of the domain error)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Viewer:
    """The signed-in principal: its session, key, role and (for a partner) the tenant."""

    row: ConsoleSession
    key: ApiKey
    partner: Partner | None

    @property
    def role(self) -> str:
        return self.key.role

    @property
    def csrf(self) -> str:
        return self.row.csrf_token

    @property
    def name(self) -> str:
        owner = self.partner or self.key.principal
        return owner.name if owner is not None else self.key.prefix

    def has(self, scope: str) -> bool:
        """The API's rule: the key holds the scope and its role may hold it."""
        return scope in self.key.scopes and scope in ROLE_SCOPES[self.role]

    def require(self, *scopes: str) -> None:
        if not any(self.has(s) for s in scopes):
            raise PageError(403, f"this key ({self.role}) lacks the {' or '.join(map(repr, scopes))} scope")

    def tenant(self, scope: str) -> Partner:
        """The partner for a tenant scope (generate, detect), as the API's require_scope gives it."""
        self.require(scope)
        if self.partner is None:
            raise PageError(403, f"only partners hold the {scope!r} scope")
        return self.partner


def page_error(exc: CandorError | ValidationError) -> PageError:
    if isinstance(exc, ValidationError):
        messages = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in exc.errors())
        return PageError(422, messages)
    return PageError(exc.status, exc.detail)


def _viewer(request: Request, session: Session) -> Viewer:
    try:
        row = sessions.resolve_session(session=session, token=request.cookies.get(COOKIE))
    except (Unauthorized, Forbidden) as exc:
        raise SignInRequired(exc.detail) from None
    key = row.api_key
    viewer = Viewer(row=row, key=key, partner=key.partner)
    session.commit()  # hand the pooled connection back before slow work, as the API's auth does
    decision = request.app.state.rate_limiter.hit(key.prefix)  # the key's one budget, API or console
    if not decision.allowed:
        raise PageError(429, f"rate limit of key {key.prefix} exceeded; retry in {decision.retry_after_s:.2f} s")
    request.state.api_key_id = key.id
    return viewer


async def current_viewer(request: Request, session: SessionDep) -> Viewer:
    return await run_in_threadpool(_viewer, request, session)


def _same_origin(request: Request) -> None:
    """Refuse a cross-site POST outright (SameSite=Strict already keeps the cookie off it)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise PageError(403, "cross-origin form posts are refused")


async def posting_viewer(request: Request, viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    """The viewer of a state-changing request, once its CSRF token (form field ``csrf_token`` or
    header ``X-CSRF-Token``) matches the session's."""
    _same_origin(request)
    presented = request.headers.get("x-csrf-token")
    if presented is None and request.headers.get("content-type", "").startswith(
        ("multipart/form-data", "application/x-www-form-urlencoded")
    ):
        presented = (await request.form()).get("csrf_token")  # type: ignore[assignment]
    try:
        sessions.check_csrf(viewer.row, presented if isinstance(presented, str) else None)
    except Forbidden as exc:
        raise PageError(403, exc.detail) from None
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
PostingViewer = Annotated[Viewer, Depends(posting_viewer)]


def render(request: Request, template: str, viewer: Viewer | None, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, template, {"viewer": viewer, "flash": request.query_params.get("flash"), **context}, status_code=status
    )


def redirect(path: str, flash: str | None = None) -> RedirectResponse:
    from urllib.parse import urlencode

    return RedirectResponse(path + (f"?{urlencode({'flash': flash})}" if flash else ""), status_code=303)


def set_session_cookie(response: Response, request: Request, token: str, max_age_s: int) -> None:
    response.set_cookie(
        COOKIE, token, max_age=max_age_s, path=PREFIX, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip


def login_token(request: Request) -> str:
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)


def install_handlers(app: Any) -> None:
    async def sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        if request.method == "GET" and "application/json" not in request.headers.get("accept", ""):
            return redirect(f"{PREFIX}/login", exc.detail)
        return JSONResponse({"detail": exc.detail}, status_code=401)

    async def page(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        return render(request, "error.html", None, status=exc.status, message=exc.detail, code=exc.status)

    app.add_exception_handler(SignInRequired, sign_in)
    app.add_exception_handler(PageError, page)
