"""Stopping jobs before anything is published: the partner's own cancel, and the gate closing
(partner suspended, the requesting key or the consent revoked). Both end a queued or running job
in one conditional UPDATE, give its quota back and log why; a worker holding it is fenced off
publishing and stops at its next heartbeat (:mod:`candor.services.jobs`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from candor.errors import Conflict
from candor.services.common import EventLog
from candor.services.generations import get_generation
from candor.services.quota import release_quota
from candor.store.models import Generation, Partner, utcnow

ACTIVE_STATES = ("queued", "running")


def _end_values(status: str, error: str, now: datetime) -> dict[str, Any]:
    """Columns of a job finished without output. Dropping the lease fences the worker that holds
    it off publishing; it notices at its next heartbeat and stops."""
    values: dict[str, Any] = {
        "status": status,
        "error": error,
        "finished_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "webhook_next_attempt_at": now,  # the running worker tells the partner (if it gave a URL)
    }
    if status == "cancelled":
        values["cancelled_at"] = now
    return values


def stop_generations(
    *,
    session: Session,
    log: EventLog,
    reason: str,
    actor: str,
    partner_id: str | None = None,
    api_key_id: str | None = None,
    consent_id: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Fail every queued or running generation of a partner, a key or a consent (all given must
    match) because of ``reason`` (e.g. "partner suspended"), in the caller's transaction (no
    commit): quota given back, a ``generation.stopped`` log entry each. Returns the stopped ids."""
    if partner_id is None and api_key_id is None and consent_id is None:
        raise ValueError("stop_generations needs a partner, a key or a consent")
    now = now or utcnow()
    where = [Generation.status.in_(ACTIVE_STATES)]
    if partner_id is not None:
        where.append(Generation.partner_id == partner_id)
    if api_key_id is not None:
        where.append(Generation.api_key_id == api_key_id)
    if consent_id is not None:
        where.append(Generation.consent_id == consent_id)
    # One conditional UPDATE: a job a worker publishes at the same moment is either stopped or
    # published, never both (the publish is fenced on status and lease).
    ids = list(
        session.scalars(
            update(Generation)
            .where(*where)
            .values(**_end_values("failed", f"stopped: {reason}", now))
            .returning(Generation.id)
        )
    )
    for generation in session.scalars(select(Generation).where(Generation.id.in_(ids)).order_by(Generation.created_at)):
        release_quota(session=session, generation=generation)
        log.append_in(session, "generation.stopped", actor=actor, subject=generation.id, details={"reason": reason})
    session.flush()
    return ids


def cancel_generation(
    *, session: Session, log: EventLog, partner: Partner, generation_id: str, now: datetime | None = None
) -> Generation:
    """The partner cancels its own queued or running job and commits: nothing is published, the
    quota is given back, a running worker stops at its next heartbeat. Idempotent (a cancelled job
    is returned as it is); Conflict once it succeeded or failed; NotFound for another partner's."""
    generation = get_generation(session=session, partner=partner, generation_id=generation_id)
    result = session.execute(
        update(Generation)
        .where(Generation.id == generation.id, Generation.status.in_(ACTIVE_STATES))
        .values(**_end_values("cancelled", "cancelled by the partner", now or utcnow()))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        release_quota(session=session, generation=generation)
        log.append_in(session, "generation.cancelled", actor=partner.id, subject=generation.id, details={})
        session.commit()
    session.refresh(generation)
    if generation.status != "cancelled":
        raise Conflict(
            f"generation {generation.id} already {generation.status}; only a queued or running job can be cancelled"
        )
    return generation
