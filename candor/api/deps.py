"""The one dependency seam of the API: settings, a DB session, the caller, and the container.

Routes declare what they need with these ``Annotated`` aliases; tests swap the underlying
functions with ``app.dependency_overrides``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Literal

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from candor.api.errors import RateLimited
from candor.config import Settings
from candor.errors import Unauthorized
from candor.services import authenticate_api_key
from candor.services.container import Container
from candor.store.models import Partner

Scope = Literal["generate", "detect", "audit:read", "admin"]

# Both header styles appear in the OpenAPI document as security schemes; neither errors by itself
# so a missing key becomes our own 401 problem, not FastAPI's plain 403.
_bearer = HTTPBearer(auto_error=False, scheme_name="BearerKey", description="`Bearer <API key>`")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="HeaderKey")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_state(request: Request) -> Container:
    return request.app.state.service


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; routes commit explicitly, anything uncommitted rolls back.

    Async so that opening and closing it costs no threadpool hop: a Session connects lazily, on
    first use inside a (threadpool) route or dependency, and closing returns that connection.
    """
    session: Session = request.app.state.service.session_factory()
    try:
        yield session
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
StateDep = Annotated[Container, Depends(get_state)]
SessionDep = Annotated[Session, Depends(get_session)]


def _token(bearer: HTTPAuthorizationCredentials | None, header_key: str | None) -> str:
    if bearer is not None and bearer.credentials:
        return bearer.credentials.strip()
    if header_key:
        return header_key.strip()
    raise Unauthorized("no API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")


@functools.cache  # one function per scope, so tests can override it by identity
def require_scope(scope: Scope) -> Callable[..., Partner]:
    """A dependency returning the calling partner when their key is valid, their partner approved,
    the key holds ``scope`` and its rate limit allows one more request."""

    def dependency(
        request: Request,
        session: SessionDep,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
        header_key: Annotated[str | None, Security(_api_key_header)],
    ) -> Partner:

        key = authenticate_api_key(session=session, token=_token(bearer, header_key), scope=scope)
        request.state.api_key_id = key.id  # jobs remember the key that asked, to stop when it is revoked
        # End the read transaction so its pooled connection goes back now: routes whose services
        # open their own sessions (the generation log) must not hold two connections at once, or
        # enough concurrent requests deadlock on the pool. expire_on_commit=False keeps key.partner.
        session.commit()
        decision = request.app.state.rate_limiter.hit(key.prefix)
        if not decision.allowed:
            raise RateLimited(
                f"rate limit of key {key.prefix} exceeded; retry in {decision.retry_after_s:.2f} s",
                retry_after_s=decision.retry_after_s,
            )
        return key.partner

    dependency.__name__ = f"require_scope_{scope.replace(':', '_')}"
    return dependency


# The partner behind the request, per scope (the store's Partner row; it never leaves the API).
GeneratePartner = Annotated[Partner, Depends(require_scope("generate"))]
DetectPartner = Annotated[Partner, Depends(require_scope("detect"))]
AuditPartner = Annotated[Partner, Depends(require_scope("audit:read"))]
AdminPartner = Annotated[Partner, Depends(require_scope("admin"))]
CurrentPartner = GeneratePartner  # the default scope of partner-owned resources
