"""Request body size limit as ASGI middleware, answering with the API's 413 problem document.

A declared ``Content-Length`` over the limit is refused before any byte is read; a chunked body
is counted as it streams and refused the moment it passes the limit (reading stops there and the
response becomes the 413 problem, whatever the body parser made of the interrupted read).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from candor.api.errors import PROBLEM_BASE_URI, PROBLEM_MEDIA_TYPE, instance_uri
from candor.errors import PayloadTooLarge


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, send, f"the request body is {declared} bytes; the limit is {self.max_bytes}")
            return
        seen = 0
        exceeded = False

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise PayloadTooLarge(f"the request body is larger than the {self.max_bytes}-byte limit")
            return message

        async def answer(message: Message) -> None:
            # Body parsers wrap read errors in their own 400; once the limit was passed, the
            # client gets the 413 it earned instead.
            if not exceeded:
                await send(message)
            elif message["type"] == "http.response.start":
                await self._refuse(scope, send, f"the request body is larger than the {self.max_bytes}-byte limit")

        await self.app(scope, counted, answer)

    async def _refuse(self, scope: Scope, send: Send, detail: str) -> None:
        body = json.dumps(
            {
                "type": PROBLEM_BASE_URI + PayloadTooLarge.type_slug,
                "title": PayloadTooLarge.title,
                "status": 413,
                "detail": detail,
                "instance": instance_uri(scope.get("path", "")),
            }
        ).encode()
        headers = [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
