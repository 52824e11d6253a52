"""Sign-in (an API key of a partner, an auditor or an operator), sign-out, and the home page."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from candor.api.console.web import (
    COOKIE,
    LOGIN_COOKIE,
    PREFIX,
    PageError,
    PostingViewer,
    ViewerDep,
    _same_origin,
    login_token,
    redirect,
    render,
    set_session_cookie,
)
from candor.api.deps import SessionDep, StateDep
from candor.errors import Forbidden, Unauthorized
from candor.services import console as sessions
from candor.store.models import utcnow

router = APIRouter()


def home_of(role: str) -> str:
    return {"partner": f"{PREFIX}/studio", "auditor": f"{PREFIX}/audit", "operator": f"{PREFIX}/operator"}[role]


@router.get("")
def index(viewer: ViewerDep) -> Response:
    return redirect(home_of(viewer.role))


@router.get("/login")
def login_form(request: Request) -> Response:
    token = login_token(request)
    response = render(request, "login.html", None, login_csrf=token)
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=3600, path=PREFIX, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    state: StateDep,
    api_key: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=200)],
) -> Response:
    _same_origin(request)
    expected = request.cookies.get(LOGIN_COOKIE)
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        raise PageError(403, "the sign-in form expired; reload it and try again")
    clients = request.app.state.client_limiter
    client = request.client.host if request.client is not None else "unknown"
    if not clients.peek(client).allowed:
        raise PageError(429, "too many failed sign-ins from this address; wait a minute")
    try:
        opened = sessions.open_session(session=session, log=state.ledger, api_key=api_key)
    except (Unauthorized, Forbidden) as exc:
        clients.hit(client)  # failures spend the client's bucket, as the API's authentication does
        return render(request, "login.html", None, status=exc.status, login_csrf=expected, error=exc.detail)
    response = redirect(home_of(opened.row.api_key.role))
    max_age = int((opened.row.expires_at - utcnow()).total_seconds())
    set_session_cookie(response, request, opened.token, max(1, max_age))
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
async def logout(request: Request, session: SessionDep, state: StateDep, viewer: PostingViewer) -> Response:
    await run_in_threadpool(
        lambda: sessions.close_session(session=session, log=state.ledger, token=request.cookies.get(COOKIE))
    )
    response = redirect(f"{PREFIX}/login", "signed out")
    response.delete_cookie(COOKIE, path=PREFIX)
    return response
