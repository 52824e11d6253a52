"""What every service module shares: the event-log seam and partner-scoped lookups."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from candor.errors import InvalidInput, NotFound
from candor.store.models import Base, Partner

T = TypeVar("T", bound=Base)


class EventLog(Protocol):
    """The tamper-evident log (candor.services.generation_log.GenerationLog): appends one entry inside
    the caller's transaction, so the event and the change it records commit or vanish together, or
    in a transaction of its own."""

    def append_in(
        self, session: Session, event_type: str, *, actor: str, subject: str, details: dict[str, Any]
    ) -> Any: ...

    def append(self, event_type: str, *, actor: str, subject: str, details: dict[str, Any]) -> Any: ...


def get_owned(session: Session, model: type[T], partner: Partner, object_id: str, noun: str) -> T:
    """The row ``object_id`` of ``model`` if ``partner`` owns it; NotFound otherwise, so another
    partner's resources are indistinguishable from absent ones."""
    row = session.get(model, object_id) if isinstance(object_id, str) else None
    if row is None or getattr(row, "partner_id", None) != partner.id:
        raise NotFound(f"{noun} {object_id} not found")
    return row


def require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput(f"{name} must carry a timezone (UTC), got {value.isoformat()}")
    return value
