"""Partners (vetting states) and API keys: issue, revoke, authenticate.

A key belongs to a partner (a tenant: scopes generate, detect and its own audit:read) or to a
principal apart from every tenant (an auditor: audit:read over the whole log; an operator: admin);
see :mod:`candor.services.principals`. Keys expire: ``DEFAULT_KEY_LIFETIME_DAYS`` unless told.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from candor.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from candor.services.cancellation import stop_generations
from candor.services.common import EventLog
from candor.store.models import PARTNER_STATES, ROLE_SCOPES, SCOPES, ApiKey, Partner, Principal, utcnow

TOKEN_SCHEME = "cnd"
# cnd_<12 hex visible prefix>_<43 url-safe chars of secret (256 bits)>
_TOKEN = re.compile(r"^cnd_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
LAST_USED_RESOLUTION = timedelta(seconds=60)  # write last_used_at at most once a minute per key
DEFAULT_KEY_LIFETIME_DAYS = 90  # a leaked key stops working on its own; 0 means never expires
MAX_KEY_LIFETIME_DAYS = 3650


@dataclass(frozen=True)
class IssuedKey:
    """``token`` is the full API key; it exists only here and is never stored or shown again."""

    key: ApiKey
    token: str


def create_partner(
    *,
    session: Session,
    log: EventLog,
    name: str,
    use_case: str,
    monthly_quota_s: float | None = None,
    actor: str = "admin",
) -> Partner:
    """A new partner in state ``pending`` (vetting comes next). Conflict if the name is taken."""
    name = (name or "").strip()
    use_case = (use_case or "").strip().lower()
    if not name or len(name) > 200:
        raise InvalidInput("partner name must be 1-200 characters")
    if not re.fullmatch(r"[a-z][a-z0-9_-]{1,63}", use_case):
        raise InvalidInput(f"use case must be a short lowercase word, got {use_case!r}")
    if monthly_quota_s is not None and monthly_quota_s < 0:
        raise InvalidInput("monthly quota must be >= 0 seconds")
    if session.scalar(select(Partner.id).where(Partner.name == name)) is not None:
        raise Conflict(f"a partner named {name!r} already exists")
    partner = Partner(name=name, use_case=use_case, state="pending", monthly_quota_s=monthly_quota_s)
    session.add(partner)
    session.flush()
    log.append_in(
        session,
        "partner.created",
        actor=actor,
        subject=partner.id,
        details={"use_case": use_case, "state": "pending", "monthly_quota_s": monthly_quota_s},
    )
    session.commit()
    return partner


def get_partner(*, session: Session, partner_id: str) -> Partner:
    """By id (``ptn_…``) or exact name; NotFound otherwise."""
    partner = session.get(Partner, partner_id) or session.scalar(select(Partner).where(Partner.name == partner_id))
    if partner is None:
        raise NotFound(f"partner {partner_id} not found")
    return partner


def list_partners(*, session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(Partner.created_at)))


def set_partner_state(*, session: Session, log: EventLog, partner_id: str, state: str, actor: str = "admin") -> Partner:
    """Move a partner between pending / approved / suspended; takes effect on the next request."""
    if state not in PARTNER_STATES:
        raise InvalidInput(f"state must be one of {', '.join(PARTNER_STATES)}, got {state!r}")
    partner = get_partner(session=session, partner_id=partner_id)
    previous = partner.state
    partner.state = state
    session.flush()
    log.append_in(
        session,
        "partner.state_changed",
        actor=actor,
        subject=partner.id,
        details={"from": previous, "to": state},
    )
    if state == "suspended":  # queued jobs end now; running ones stop before publishing
        stop_generations(session=session, log=log, reason="partner suspended", actor=actor, partner_id=partner.id)
    session.commit()
    return partner


def _normalize_scopes(scopes: Iterable[str] | str, role: str = "partner") -> list[str]:
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    cleaned = sorted({s.strip() for s in items if s and s.strip()})
    unknown = [s for s in cleaned if s not in SCOPES]
    if unknown or not cleaned:
        raise InvalidInput(f"scopes must be a non-empty subset of {', '.join(SCOPES)}; got {items}")
    allowed = ROLE_SCOPES[role]
    refused = [s for s in cleaned if s not in allowed]
    if refused:
        # A tenant's key must never read other tenants: admin belongs to operators, the whole log
        # to auditors (`candor operators|auditors add`, then `keys issue --principal`).
        raise InvalidInput(
            f"a {role} key may hold only {', '.join(allowed)}; {', '.join(refused)} refused"
            + (" (admin is for operators, the whole log for auditors)" if role == "partner" else "")
        )
    return cleaned


def _expiry(expires_in_days: float | None, now: datetime) -> datetime | None:
    days = DEFAULT_KEY_LIFETIME_DAYS if expires_in_days is None else expires_in_days
    if not 0 <= days <= MAX_KEY_LIFETIME_DAYS:
        raise InvalidInput(f"a key lifetime must be 0-{MAX_KEY_LIFETIME_DAYS} days (0: never expires), got {days}")
    return None if days == 0 else now + timedelta(days=days)


def _new_key(
    *, session: Session, log: EventLog, owner: Partner | Principal, scopes: Iterable[str] | str,
    name: str | None, expires_in_days: float | None, actor: str, now: datetime | None,
) -> IssuedKey:  # fmt: skip
    role = owner.role if isinstance(owner, Principal) else "partner"
    scope_list = _normalize_scopes(scopes, role)
    expires_at = _expiry(expires_in_days, now or utcnow())
    visible = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        partner_id=owner.id if role == "partner" else None,
        principal_id=owner.id if role != "partner" else None,
        prefix=f"{TOKEN_SCHEME}_{visible}",
        secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
        scopes=scope_list,
        name=name,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    log.append_in(
        session,
        "key.issued",
        actor=actor,
        subject=key.id,
        details={
            ("partner" if role == "partner" else "principal"): owner.id,
            "role": role,
            "prefix": key.prefix,
            "scopes": scope_list,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    session.commit()
    return IssuedKey(key=key, token=f"{key.prefix}_{secret}")


def issue_api_key(
    *,
    session: Session,
    log: EventLog,
    partner_id: str,
    scopes: Iterable[str] | str,
    name: str | None = None,
    expires_in_days: float | None = None,
    actor: str = "admin",
    now: datetime | None = None,
) -> IssuedKey:
    """A new key for a partner (any state: it only works once the partner is approved).

    ``scopes``: a subset of generate, detect, audit:read (its own entries); InvalidInput for
    admin. ``expires_in_days``: None = DEFAULT_KEY_LIFETIME_DAYS, 0 = never.
    """
    partner = get_partner(session=session, partner_id=partner_id)
    return _new_key(
        session=session, log=log, owner=partner, scopes=scopes, name=name,
        expires_in_days=expires_in_days, actor=actor, now=now,
    )  # fmt: skip


def _find_key(session: Session, key_ref: str) -> ApiKey:
    key = session.get(ApiKey, key_ref) or session.scalar(select(ApiKey).where(ApiKey.prefix == key_ref))
    if key is None:
        raise NotFound(f"API key {key_ref} not found")
    return key


def revoke_api_key(
    *, session: Session, log: EventLog, key_id: str, actor: str = "admin", now: datetime | None = None
) -> ApiKey:
    """Revoke by id (``key_…``) or visible prefix; effective on the next request. Idempotent."""
    key = _find_key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()
        session.flush()
        log.append_in(
            session,
            "key.revoked",
            actor=actor,
            subject=key.id,
            details={"partner": key.partner_id, "principal": key.principal_id, "prefix": key.prefix},
        )
        stop_generations(session=session, log=log, reason="API key revoked", actor=actor, api_key_id=key.id)
        session.commit()
    return key


def list_api_keys(*, session: Session, partner_id: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at)
    if partner_id is not None:
        query = query.where(ApiKey.partner_id == get_partner(session=session, partner_id=partner_id).id)
    return list(session.scalars(query))


def check_key_usable(key: ApiKey, now: datetime) -> None:
    """Unauthorized if ``key`` is revoked or expired at ``now``; Forbidden if its partner is not
    approved. What every request re-checks, whether it carries the key or a console session."""
    if key.revoked_at is not None:
        raise Unauthorized(f"API key {key.prefix} was revoked")
    if key.expires_at is not None and now >= key.expires_at:
        raise Unauthorized(f"API key {key.prefix} expired at {key.expires_at:%Y-%m-%dT%H:%M:%SZ}; ask for a new key")
    if key.partner is not None and key.partner.state != "approved":
        raise Forbidden(f"partner is {key.partner.state}; only approved partners may use the API")


def authenticate_api_key(
    *, session: Session, token: str, scope: str | None = None, now: datetime | None = None
) -> ApiKey:
    """The key for ``token`` with its owner loaded (``key.partner`` or ``key.principal``).

    Unauthorized: malformed, unknown, wrong secret, revoked, expired. Forbidden: the partner is
    not approved, or the key lacks ``scope``. The secret's hash is compared in constant time.
    """
    match = _TOKEN.match(token or "")
    if match is None:
        raise Unauthorized("malformed API key")
    prefix = f"{TOKEN_SCHEME}_{match.group(1)}"
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    presented = hashlib.sha256(match.group(2).encode()).hexdigest()
    # Compare even when the prefix is unknown, so both failures cost the same.
    stored = key.secret_sha256 if key is not None else "0" * 64
    if not hmac.compare_digest(presented, stored) or key is None:
        raise Unauthorized("invalid API key")
    now = now or utcnow()
    check_key_usable(key, now)
    if scope is not None and (scope not in key.scopes or scope not in ROLE_SCOPES[key.role]):
        # The role check also disarms keys issued before roles existed (a partner key with admin).
        raise Forbidden(f"API key {key.prefix} ({key.role}) lacks the {scope!r} scope")
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        # Its own tiny transaction, throttled, so a busy GET path does not write on every request.
        key.last_used_at = now
        session.commit()
    return key
