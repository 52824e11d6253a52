"""The one place where every error becomes an RFC 9457 ``application/problem+json`` response.

Domain errors (:class:`candor.errors.CandorError` and its subclasses) carry their own status,
type slug and title; HTTP-level errors (unknown route, wrong method), request validation errors
and true bugs are mapped here too, so a client only ever sees one error shape.
"""

from __future__ import annotations

import logging
import re
import tempfile
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from candor.errors import CandorError, InvalidInput, Unauthorized

log = logging.getLogger("candor.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Problem types are absolute URIs (RFC 9457 section 3.1.1); clients match on them, not on titles.
PROBLEM_BASE_URI = "https://candor.dev/problems/"


# --- errors that only exist at the HTTP edge (the domain ones live in candor.errors) -----------


class RateLimited(CandorError):
    status = 429
    type_slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: float) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class UnsupportedMediaType(InvalidInput):
    status = 415
    type_slug = "unsupported-media-type"
    title = "Unsupported media type"


# --- the response -------------------------------------------------------------------------------


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem(
    request: Request,
    *,
    status: int,
    title: str,
    detail: str | None = None,
    type_uri: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> ProblemResponse:
    """One RFC 9457 problem document; ``instance`` is the request path."""
    body: dict[str, Any] = {"type": type_uri, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    body["instance"] = instance_uri(request.url.path)
    body.update({k: v for k, v in extensions.items() if v is not None})
    return ProblemResponse(body, status_code=status, headers=headers)


def instance_uri(path: str) -> str:
    """The request path as a URI reference (RFC 9457 ``instance``): re-encode what decoding let in."""
    return quote(path, safe="/:@!$&'()*+,;=-._~")


def problem_type(slug: str) -> str:
    return PROBLEM_BASE_URI + slug


def _headers_for(exc: CandorError) -> dict[str, str] | None:
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": 'Bearer realm="candor"'}
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        # Retry-After takes whole seconds; round up so a client that waits exactly that long succeeds.
        return {"Retry-After": str(max(1, int(-(-retry_after // 1))))}
    return None


def _without_server_paths(detail: str, request: Request) -> str:
    """Decoder messages can quote the server-side temp path of an upload; clients never see it."""
    roots = [tempfile.gettempdir()]
    settings = getattr(request.app.state, "settings", None)
    if settings is not None:
        roots.insert(0, str(settings.data_dir))  # the longer, more specific prefix first
    for root in roots:
        # Only where a path starts (not inside another path), so ".../files/tmp/x" stays intact.
        detail = re.sub(rf"(?<![\w/.-]){re.escape(root.rstrip('/'))}/", "", detail)
    return detail


async def _candor_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, CandorError)
    return problem(
        request,
        status=exc.status,
        title=exc.title,
        detail=_without_server_paths(exc.detail, request),
        type_uri=problem_type(exc.type_slug),
        headers=_headers_for(exc),
        # A policy denial names the rule that denied it (issue 5: "a 403 naming the rule id").
        rule_id=getattr(exc, "rule_id", None),
    )


def _jsonable_error(err: dict[str, Any]) -> dict[str, Any]:
    # pydantic's ctx may hold exception objects and input may hold bytes: keep what JSON can carry.
    out: dict[str, Any] = {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))}
    if "type" in err:
        out["type"] = str(err["type"])
    return out


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_jsonable_error(e) for e in exc.errors()]
    first = errors[0] if errors else None
    detail = f"{'.'.join(first['loc'])}: {first['msg']}" if first else "the request does not match the schema"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problem(
        request,
        status=422,
        title="Request validation failed",
        detail=detail,
        type_uri=problem_type("validation-error"),
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    try:
        title = HTTPStatus(exc.status_code).phrase
    except ValueError:
        title = "Error"
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    if exc.status_code == 404 and detail is None:
        detail = f"no route {request.method} {request.url.path}"
    return problem(request, status=exc.status_code, title=title, detail=detail, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> ProblemResponse:
    # Only true bugs land here: log the traceback for operators, tell the client nothing internal.
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        request,
        status=500,
        title="Internal Server Error",
        detail="an unexpected error occurred; it has been logged",
        type_uri=problem_type("internal-error"),
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through :func:`problem`."""
    app.add_exception_handler(CandorError, _candor_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


# OpenAPI: the problem schema every error response shares.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "format": "uri-reference"},
        "rule_id": {"type": "string", "description": "the policy rule that denied the request"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
