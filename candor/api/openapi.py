"""OpenAPI 3.1 document tweaks: every error response is the shared problem+json schema."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from candor.api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_SCHEMA

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}

_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, unknown, revoked or expired API key",
    403: "The partner is not approved, the key lacks the scope, or a policy rule denied the request (see rule_id)",
    404: "No such resource (or it belongs to another partner)",
    409: "Conflict (e.g. an Idempotency-Key reused with a different request)",
    410: "Removed on purpose: an output past the retention period, a manifest whose subject was erased",
    413: "Upload too large",
    415: "Unsupported media type",
    422: "The request failed validation",
    429: "Rate limit exceeded (per key, or failed authentications per client); retry after Retry-After",
    503: "Not ready: the problem names the failing checks (database, migrations, files)",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the listed error statuses as problem+json."""
    return {s: {"description": _DESCRIPTIONS.get(s, "Error"), "content": _PROBLEM_CONTENT} for s in statuses}


def install_openapi(app: FastAPI) -> None:
    """Generate the schema once, replacing FastAPI's default 422 body with the problem schema."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.get("responses", {})
                if "422" in responses:
                    responses["422"] = {"description": _DESCRIPTIONS[422], "content": _PROBLEM_CONTENT}
                # Every operation may fail with a bug-free 500 problem; declared so clients expect it.
                responses.setdefault("default", {"description": "Any other error", "content": _PROBLEM_CONTENT})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
