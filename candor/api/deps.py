"""The one dependency seam of the API: settings, a DB session, the caller, and the container.

Routes declare what they need with these ``Annotated`` aliases; tests swap the underlying
functions with ``app.dependency_overrides``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from candor.api.errors import RateLimited
from candor.config import Settings
from candor.errors import Forbidden, Unauthorized
from candor.services import authenticate_api_key
from candor.services.container import Container
from candor.store.models import ROLE_SCOPES, ApiKey, Partner

Scope = Literal["generate", "detect", "audit:read", "admin"]

# Both header styles appear in the OpenAPI document as security schemes; neither errors by itself
# so a missing key becomes our own 401 problem, not FastAPI's plain 403.
_ROLES_NOTE = (
    "The scopes an operation lists are alternatives: a key holding any one of them may call it. "
    "Partners hold generate, detect and audit:read (their own log entries); auditors audit:read "
    "(the whole log); operators admin."
)
_bearer = HTTPBearer(auto_error=False, scheme_name="BearerKey", description=f"`Bearer <API key>`. {_ROLES_NOTE}")
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="HeaderKey", description=f"The API key. {_ROLES_NOTE}"
)


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


@dataclass(frozen=True)
class Caller:
    """Who is calling: a partner (``partner`` set), an auditor or an operator (``principal_id``)."""

    role: Literal["partner", "auditor", "operator"]
    key_prefix: str
    partner: Partner | None
    principal_id: str | None

    @property
    def partner_id(self) -> str | None:
        return self.partner.id if self.partner is not None else None


def _client(request: HTTPConnection) -> str:
    # The socket peer (the server runs with proxy_headers off, so a header cannot forge it).
    return request.client.host if request.client is not None else "unknown"


def _authenticate(
    request: Request,
    session: Session,
    bearer: HTTPAuthorizationCredentials | None,
    header_key: str | None,
    scopes: tuple[Scope, ...],
) -> ApiKey:
    return authenticate_token(request, session, lambda: _token(bearer, header_key), scopes)


def authenticate_token(
    request: HTTPConnection, session: Session, token: Callable[[], str], scopes: tuple[Scope, ...]
) -> ApiKey:
    """The key ``token()`` names (it raises Unauthorized when there is none), checked: the client's
    failure bucket first (no lookup once it is empty), then the key and one of ``scopes``, then the
    key's own rate limit. ``request``: an HTTP request or a WebSocket."""
    clients = request.app.state.client_limiter
    client = _client(request)
    blocked = clients.peek(client)
    if not blocked.allowed:
        raise RateLimited(
            f"too many failed authentications from this client; retry in {blocked.retry_after_s:.2f} s",
            retry_after_s=blocked.retry_after_s,
        )
    try:
        key = authenticate_api_key(session=session, token=token())
    except Unauthorized:
        clients.hit(client)  # only failures spend the client's bucket: valid keys behind one NAT pass
        raise
    request.state.api_key_id = key.id  # jobs remember the key that asked, to stop when it is revoked
    if not any(s in key.scopes and s in ROLE_SCOPES[key.role] for s in scopes):
        # The role check also disarms keys issued before roles existed (a partner key with admin).
        raise Forbidden(f"API key {key.prefix} ({key.role}) lacks the {' or '.join(map(repr, scopes))} scope")
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
    return key


@functools.cache  # one function per scope set, so tests can override it by identity
def require_caller(*scopes: Scope) -> Callable[..., Caller]:
    """A dependency returning the caller whose valid key holds one of ``scopes`` (and whose role
    may hold it), once its partner (if any) is approved and its rate limit allows a request."""

    # The scopes go into the operation's security requirements in the OpenAPI document (OpenAPI
    # 3.1 allows role names for non-OAuth schemes), so clients and the authorization test read them.
    def dependency(
        request: Request,
        session: SessionDep,
        bearer: HTTPAuthorizationCredentials | None = Security(_bearer, scopes=list(scopes)),
        header_key: str | None = Security(_api_key_header, scopes=list(scopes)),
    ) -> Caller:
        key = _authenticate(request, session, bearer, header_key, scopes)
        return Caller(key.role, key.prefix, key.partner, key.principal_id)  # type: ignore[arg-type]

    dependency.__name__ = "require_" + "_or_".join(s.replace(":", "_") for s in scopes)
    return dependency


@functools.cache  # one function per scope, so tests can override it by identity
def require_scope(scope: Literal["generate", "detect"]) -> Callable[..., Partner]:
    """A dependency returning the calling partner for a tenant scope (only partners hold these)."""

    def dependency(
        request: Request,
        session: SessionDep,
        bearer: HTTPAuthorizationCredentials | None = Security(_bearer, scopes=[scope]),
        header_key: str | None = Security(_api_key_header, scopes=[scope]),
    ) -> Partner:
        key = _authenticate(request, session, bearer, header_key, (scope,))
        if key.partner is None:  # ROLE_SCOPES gives these scopes to partners only; hold that here too
            raise Forbidden(f"API key {key.prefix} ({key.role}) lacks the {scope!r} scope")
        return key.partner

    dependency.__name__ = f"require_scope_{scope}"
    return dependency


# The partner behind the request, per tenant scope (the store's Partner row; it never leaves the API).
GeneratePartner = Annotated[Partner, Depends(require_scope("generate"))]
DetectPartner = Annotated[Partner, Depends(require_scope("detect"))]
CurrentPartner = GeneratePartner  # the default scope of partner-owned resources
# Readers of the log: an auditor (all of it) or a partner (its own entries).
AuditReader = Annotated[Caller, Depends(require_caller("audit:read"))]
# Operators only: no partner key can hold admin.
Operator = Annotated[Caller, Depends(require_caller("admin"))]
# Manifest resolution: a partner's detect key (a verifier) or an auditor.
ManifestReader = Annotated[Caller, Depends(require_caller("detect", "audit:read"))]
