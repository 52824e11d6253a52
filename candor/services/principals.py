"""Principals apart from partners (auditors and operators), their keys, and what of the
generation log belongs to one partner.

An auditor reads the whole log and its proofs and can generate nothing; an operator reads the
partner list with vetting states and quotas. A partner's ``audit:read`` reaches only the entries
that name it: its own actions (actor = the partner id) or its own rows as the subject (the
partner, its keys, consents, portraits, audio, generations and detections).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, CompoundSelect, or_, select, union_all
from sqlalchemy.orm import Session

from candor.errors import Conflict, InvalidInput, NotFound
from candor.provenance.ledger import LogEntry
from candor.services.common import EventLog
from candor.services.partners import IssuedKey, _new_key
from candor.store.models import (
    ApiKey,
    Asset,
    Consent,
    Detection,
    ErasedSubject,
    Generation,
    LogEntryRow,
    Portrait,
    Principal,
    StoredManifest,
)

PRINCIPAL_ROLES = ("auditor", "operator")


def create_principal(*, session: Session, log: EventLog, name: str, role: str, actor: str = "admin") -> Principal:
    """A new auditor or operator; Conflict if the name is taken."""
    name = (name or "").strip()
    if role not in PRINCIPAL_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(PRINCIPAL_ROLES)}, got {role!r}")
    if not name or len(name) > 200 or re.search(r"[\x00-\x1f]", name):
        raise InvalidInput("a principal's name must be 1-200 printable characters")
    if session.scalar(select(Principal.id).where(Principal.name == name)) is not None:
        raise Conflict(f"a principal named {name!r} already exists")
    principal = Principal(name=name, role=role)
    session.add(principal)
    session.flush()
    log.append_in(session, "principal.created", actor=actor, subject=principal.id, details={"role": role})
    session.commit()
    return principal


def get_principal(*, session: Session, principal_id: str) -> Principal:
    """By id (``prn_…``) or exact name; NotFound otherwise."""
    principal = session.get(Principal, principal_id) or session.scalar(
        select(Principal).where(Principal.name == principal_id)
    )
    if principal is None:
        raise NotFound(f"principal {principal_id} not found")
    return principal


def list_principals(*, session: Session, role: str | None = None) -> list[Principal]:
    query = select(Principal).order_by(Principal.created_at)
    if role is not None:
        query = query.where(Principal.role == role)
    return list(session.scalars(query))


def issue_principal_key(
    *,
    session: Session,
    log: EventLog,
    principal_id: str,
    scopes: Iterable[str] | str | None = None,
    name: str | None = None,
    expires_in_days: float | None = None,
    actor: str = "admin",
    now: datetime | None = None,
) -> IssuedKey:
    """A key for an auditor (audit:read) or an operator (admin); ``scopes`` default to the role's."""
    principal = get_principal(session=session, principal_id=principal_id)
    default = "audit:read" if principal.role == "auditor" else "admin"
    return _new_key(
        session=session, log=log, owner=principal, scopes=scopes or default, name=name,
        expires_in_days=expires_in_days, actor=actor, now=now,
    )  # fmt: skip


# --- a partner's share of the generation log -----------------------------------------------------


def _owned_ids(partner_id: str) -> CompoundSelect:
    """Every id a log entry's subject may name that belongs to ``partner_id``."""
    return union_all(
        select(ApiKey.id).where(ApiKey.partner_id == partner_id),
        select(Consent.id).where(Consent.partner_id == partner_id),
        select(Portrait.id).where(Portrait.partner_id == partner_id),
        select(Asset.id).where(Asset.partner_id == partner_id),
        select(Generation.id).where(Generation.partner_id == partner_id),
        select(Detection.id).where(Detection.partner_id == partner_id),
        select(ErasedSubject.subject_id).where(ErasedSubject.partner_id == partner_id),
    )


def _belongs(partner_id: str) -> ColumnElement[bool]:
    return or_(
        LogEntryRow.actor == partner_id,
        LogEntryRow.subject == partner_id,
        LogEntryRow.subject.in_(_owned_ids(partner_id)),
    )


def partner_entries(*, session: Session, partner_id: str, start: int, limit: int, below: int) -> list[LogEntry]:
    """The log entries (ascending, indexes ``start`` .. ``below - 1``, at most ``limit``) that
    belong to the partner, parsed from their stored bytes in one query (a damaged row raises
    ProvenanceError). ``below``: the tree size the page reports, so every entry is provable in it."""
    query = (
        select(LogEntryRow.body)
        .where(LogEntryRow.log_index >= start, LogEntryRow.log_index < below, _belongs(partner_id))
        .order_by(LogEntryRow.log_index)
        .limit(limit)
    )
    return [LogEntry.from_body(body.encode("utf-8")) for body in session.scalars(query)]


def entry_belongs_to(*, session: Session, partner_id: str, index: int) -> bool:
    """Whether log entry ``index`` names the partner (as actor) or one of its rows (as subject)."""
    query = select(LogEntryRow.log_index).where(LogEntryRow.log_index == index, _belongs(partner_id))
    return session.scalar(query) is not None


def owned_manifest_ids(*, session: Session, partner_id: str, manifest_ids: Iterable[str]) -> set[str]:
    """Those of ``manifest_ids`` signed for one of the partner's generations."""
    wanted = list(manifest_ids)
    if not wanted:
        return set()
    query = (
        select(StoredManifest.manifest_id)
        .join(Generation, Generation.id == StoredManifest.generation_id)
        .where(StoredManifest.manifest_id.in_(wanted), Generation.partner_id == partner_id)
    )
    return set(session.scalars(query))
