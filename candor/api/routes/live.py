"""``/v1/live``: a WebSocket that moves messages between the client and a live session.

Protocol (the session's service, :mod:`candor.services.live`, holds the details):

- authenticate with the same API keys as HTTP (``generate`` scope): ``Authorization: Bearer``
  or ``X-API-Key`` headers, a subprotocol entry holding the key (browsers cannot set headers:
  ``new WebSocket(url, ["candor.live.v1", key])``), or ``api_key`` in the start message;
- client: one JSON ``start`` message, then binary PCM16 mono chunks, JSON ``controls`` messages
  whenever, and a JSON ``end``;
- server: a JSON ``ready``, binary frames (12-byte header + JPEG) as they are made, JSON
  ``controls``/``stopped`` notes, a JSON ``recorded`` summary, then the close (1000 when recorded,
  else the code and reason of what went wrong: 1003/1007/1009 bad messages, 4000 + HTTP status).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from candor.api.deps import authenticate_token
from candor.errors import CandorError, Unauthorized
from candor.services.live import (
    CLOSE_IDLE,
    CLOSE_UNSUPPORTED,
    Close,
    LiveSession,
    LiveStart,
    ProtocolError,
    close_for,
    parse_text,
)
from candor.store.models import ApiKey

router = APIRouter(tags=["live"])
SUBPROTOCOL = "candor.live.v1"
START_TIMEOUT_S = 10.0  # for the start message
IDLE_TIMEOUT_S = 15.0  # between messages once streaming


def _token(websocket: WebSocket, start: dict[str, Any]) -> str:
    auth = websocket.headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and auth[7:].strip():
        return auth[7:].strip()
    if websocket.headers.get("x-api-key"):
        return websocket.headers["x-api-key"].strip()
    offered = [p for p in websocket.scope.get("subprotocols", []) if p.startswith("cnd_")]
    if offered:
        return offered[0]
    if isinstance(start.get("api_key"), str) and start["api_key"]:
        return start["api_key"]
    raise Unauthorized("no API key: send a Bearer header, a subprotocol holding the key, or api_key in the start")


async def _receive(websocket: WebSocket, timeout: float) -> dict[str, Any]:
    message = await asyncio.wait_for(websocket.receive(), timeout)
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    return message


async def _close(websocket: WebSocket, close: Close) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(close.code, close.reason.encode()[:123].decode(errors="ignore"))


Authenticate = Callable[[WebSocket, dict[str, Any]], ApiKey]  # (socket, start message) -> a checked key


def _api_key(websocket: WebSocket, start_message: dict[str, Any]) -> ApiKey:
    """The API's way: the key from a header, a subprotocol or the start message (``generate``)."""
    with websocket.app.state.service.session_factory() as db:
        return authenticate_token(websocket, db, lambda: _token(websocket, start_message), ("generate",))


async def _open(websocket: WebSocket, authenticate: Authenticate) -> tuple[LiveSession, asyncio.Queue, dict[str, Any]]:
    """Start message, key, session: everything before the first frame."""
    message = await _receive(websocket, START_TIMEOUT_S)
    if message.get("text") is None:
        raise ProtocolError(CLOSE_UNSUPPORTED, "the first message must be a JSON start message, not binary")
    start_message = parse_text(message["text"])
    state = websocket.app.state.service
    key = await run_in_threadpool(authenticate, websocket, start_message)
    if key.partner is None:
        raise Unauthorized("live sessions are for partner keys")
    start = LiveStart.parse(start_message)
    loop, outbox = asyncio.get_running_loop(), asyncio.Queue()
    session = LiveSession(
        sessions=state.session_factory, log=state.ledger, policy=state.policy, files=state.files,
        releaser=state.releaser, partner=key.partner, api_key_id=key.id, start=start,
        emit=lambda item: loop.call_soon_threadsafe(outbox.put_nowait, item),
        max_image_megapixels=state.settings.max_image_megapixels,
    )  # fmt: skip
    ready = await run_in_threadpool(session.open)
    return session, outbox, ready


async def _send_all(websocket: WebSocket, outbox: asyncio.Queue) -> None:
    """Send what the session emits until its Close; after a disconnect keep draining silently."""
    connected = True
    while True:
        item = await outbox.get()
        try:
            if isinstance(item, Close):
                if connected:
                    await _close(websocket, item)
                return
            if connected:
                await (websocket.send_bytes(item) if isinstance(item, bytes) else websocket.send_json(item))
        except (WebSocketDisconnect, RuntimeError, OSError):
            connected = False


@router.websocket("/live")
async def live(websocket: WebSocket) -> None:
    await serve_live(websocket, _api_key)


async def serve_live(websocket: WebSocket, authenticate: Authenticate) -> None:
    """Run one live session on an accepted-to-be socket; ``authenticate`` turns the start message
    (and the handshake) into a checked partner key. The console's socket passes its own."""
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in websocket.scope.get("subprotocols", []) else None)
    try:
        session, outbox, ready = await _open(websocket, authenticate)
    except (CandorError, ProtocolError) as exc:
        await _close(websocket, close_for(exc))
        return
    except TimeoutError:
        await _close(websocket, Close(CLOSE_IDLE, f"no start message within {START_TIMEOUT_S:.0f} s"))
        return
    except WebSocketDisconnect:
        return
    await websocket.send_json(ready)
    sender = asyncio.create_task(_send_all(websocket, outbox))
    try:
        while True:
            message = await _receive(websocket, IDLE_TIMEOUT_S)
            if message.get("bytes") is not None:
                session.audio(message["bytes"])
            elif session.text(parse_text(message.get("text") or "")):
                break
    except WebSocketDisconnect:
        session.disconnected()
    except TimeoutError:
        session.end(Close(CLOSE_IDLE, f"no message for {IDLE_TIMEOUT_S:.0f} s; the session was recorded"))
    except (CandorError, ProtocolError) as exc:
        session.end(close_for(exc))
    await sender
