"""The studio's live page: microphone in, watermarked face out, over the same live session as
``/v1/live``. The page's socket (``/console/studio/live/socket``) sits under the console's cookie
path, so the browser's signed-in session authenticates it: the session cookie, a same-origin
handshake (a cross-site page cannot open it: WebSocket handshakes carry no CORS check) and the
session's CSRF token in the start message. The key behind the session needs ``generate``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import Response

from candor import services
from candor.api.console.studio import CONTROL_FIELDS, active_subjects
from candor.api.console.web import COOKIE, ViewerDep, render
from candor.api.deps import SessionDep
from candor.api.errors import RateLimited
from candor.api.routes.live import serve_live
from candor.api.schemas.consents import ConsentPublic
from candor.errors import Forbidden, Unauthorized
from candor.generator import controls as C
from candor.services import console as console_sessions
from candor.store.models import ROLE_SCOPES, ApiKey

router = APIRouter(prefix="/studio")


@router.get("/live")
def live_page(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    partner = viewer.tenant("generate")
    now = datetime.now(UTC)
    consents = [ConsentPublic.of(c, now) for c in services.list_consents(session=session, partner=partner, limit=100)]
    subjects = active_subjects(consents)
    return render(
        request, "live.html", viewer, subjects=subjects, controls=CONTROL_FIELDS, emotions=C.EMOTIONS
    )  # fmt: skip


def _console_key(websocket: WebSocket, start_message: dict[str, Any]) -> ApiKey:
    """The signed-in session's key, for a same-origin socket that names the session's CSRF token."""
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    if origin is None or host is None or origin.split("://", 1)[-1] != host:
        raise Forbidden("the console's live socket opens only from the console's own pages")
    presented = start_message.pop("csrf_token", None)
    state = websocket.app.state.service
    with state.session_factory() as db:
        try:
            row = console_sessions.resolve_session(session=db, token=websocket.cookies.get(COOKIE))
        except Unauthorized:
            raise Unauthorized("not signed in to the console (or the session ended)") from None
        console_sessions.check_csrf(row, presented if isinstance(presented, str) else None)
        key = row.api_key
        if not ("generate" in key.scopes and "generate" in ROLE_SCOPES[key.role]):
            raise Forbidden(f"this key ({key.role}) lacks the 'generate' scope")
        _ = key.partner  # loaded before the session closes
        db.commit()
    decision = websocket.app.state.rate_limiter.hit(key.prefix)  # the key's one budget
    if not decision.allowed:
        raise RateLimited(f"rate limit of key {key.prefix} exceeded", retry_after_s=decision.retry_after_s)
    return key


@router.websocket("/live/socket")
async def live_socket(websocket: WebSocket) -> None:
    await serve_live(websocket, _console_key)
