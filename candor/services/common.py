"""What every service module shares: the event-log seam, partner-scoped lookups, pipeline stages."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
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


class Stage:
    """``fn`` run on a thread of its own over the items ``put`` in, in order (a bounded queue), so
    a pipeline's steps overlap on several cores (numpy, OpenCV and torch release the GIL; PyAV's x264
    encode does not, so the release path encodes in a process of its own: generator/encoder.py).
    ``close()`` waits for the items still queued; the first error ``fn`` raised is re-raised by the
    next ``put`` or by ``close`` (later items are dropped)."""

    _END = object()

    def __init__(self, fn: Callable[[Any], None], name: str, depth: int = 64) -> None:
        self._fn = fn
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not Stage._END:
            if self.error is None:
                try:
                    self._fn(item)
                except BaseException as exc:  # handed to the producer by put/close
                    self.error = exc

    def put(self, item: Any) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(item)

    def close(self) -> None:
        self._queue.put(Stage._END)
        self._thread.join()
        if self.error is not None:
            raise self.error
