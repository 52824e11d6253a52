"""The generation log's entries and proofs: what an entry is, its exact bytes, and the inclusion and
consistency proofs over the RFC 6962 Merkle tree of those bytes.

Every security-relevant event (partner and key changes, consent created/revoked, generations
requested/denied/completed/downloaded, detections) becomes one entry: canonical JSON (sorted keys,
UTF-8, no whitespace) of ``{index, timestamp, event_type, actor, subject, details}``, and those
exact bytes are the Merkle leaf. Pure values over bytes: the log that stores them is
:class:`candor.services.generation_log.GenerationLog`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from candor.errors import InvalidInput, ProvenanceError
from candor.provenance import merkle
from candor.provenance.checkpoint import format_time, parse_time

MAX_PAGE = 1000  # entries per entries() call
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class EventType(StrEnum):
    """The security-relevant events the service records. Other dotted lowercase names are accepted."""

    PARTNER_CREATED = "partner.created"
    PARTNER_STATE_CHANGED = "partner.state_changed"
    KEY_ISSUED = "key.issued"
    KEY_REVOKED = "key.revoked"
    CONSENT_CREATED = "consent.created"
    CONSENT_REVOKED = "consent.revoked"
    PORTRAIT_ENROLLED = "portrait.enrolled"
    GENERATION_REQUESTED = "generation.requested"
    GENERATION_DENIED = "generation.denied"
    GENERATION_COMPLETED = "generation.completed"
    GENERATION_FAILED = "generation.failed"
    GENERATION_DOWNLOADED = "generation.downloaded"
    DETECTION_PERFORMED = "detection.performed"


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8, no NaN: one byte string per value."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"log entry details must be plain JSON (str keys, no NaN): {exc}") from None
    return text.encode("utf-8")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def aware_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite returns naive UTC


@dataclass(frozen=True)
class LogEvent:
    """An event to append; the log adds the index and the timestamp."""

    event_type: str
    actor: str
    subject: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LogEntry:
    """One entry as stored. ``body`` is the canonical JSON, i.e. the Merkle leaf data."""

    index: int
    timestamp: datetime
    event_type: str
    actor: str
    subject: str | None
    details: dict[str, Any]
    body: bytes

    @property
    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.body)

    @classmethod
    def from_body(cls, body: bytes) -> LogEntry:
        """Parse stored entry bytes; bytes that are no log entry (a damaged row) raise ProvenanceError."""
        try:
            data = json.loads(body)
            return cls(
                index=int(data["index"]),
                timestamp=parse_time(data["timestamp"]),
                event_type=data["event_type"],
                actor=data["actor"],
                subject=data["subject"],
                details=dict(data["details"]),
                body=body,
            )
        except (ValueError, KeyError, TypeError, InvalidInput):
            raise ProvenanceError(
                "a generation log row is not a log entry (damaged or tampered): run `candor audit verify`"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the entry fields, its exact bytes (``entry``) and its base64 leaf hash."""
        return {
            "index": self.index,
            "timestamp": format_time(self.timestamp),
            "event_type": self.event_type,
            "actor": self.actor,
            "subject": self.subject,
            "details": self.details,
            "entry": self.body.decode("utf-8"),
            "leaf_hash": b64(self.leaf_hash),
        }


@dataclass(frozen=True)
class InclusionProof:
    """Leaf ``index`` is in the tree of ``tree_size`` leaves whose root is ``root``."""

    index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]
    root: bytes

    def verify(self) -> None:
        merkle.verify_inclusion(self.index, self.tree_size, self.leaf_hash, self.hashes, self.root)

    def to_dict(self) -> dict[str, Any]:
        return {
            "leaf_index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": b64(self.leaf_hash),
            "root_hash": b64(self.root),
            "audit_path": [b64(h) for h in self.hashes],
        }


@dataclass(frozen=True)
class ConsistencyProof:
    """The tree of ``old_size`` (``old_root``) is a prefix of the tree of ``new_size`` (``new_root``)."""

    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    hashes: list[bytes]

    def verify(self) -> None:
        merkle.verify_consistency(self.old_size, self.new_size, self.old_root, self.new_root, self.hashes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "first": self.old_size,
            "second": self.new_size,
            "first_root_hash": b64(self.old_root),
            "second_root_hash": b64(self.new_root),
            "consistency": [b64(h) for h in self.hashes],
        }


def check_event(event: LogEvent) -> None:
    if not isinstance(event.event_type, str) or not _EVENT_TYPE.match(event.event_type) or len(event.event_type) > 64:
        raise InvalidInput(f"event type must be dotted lowercase words (<= 64 chars): {event.event_type!r}")
    if not isinstance(event.actor, str) or not event.actor or len(event.actor) > 200:
        raise InvalidInput("a log entry needs an actor of 1..200 characters")
    if event.subject is not None and (not isinstance(event.subject, str) or len(event.subject) > 200):
        raise InvalidInput("a log entry's subject must be a string of at most 200 characters or None")
    if not isinstance(event.details, Mapping):
        raise InvalidInput("a log entry's details must be a JSON object")


def check_page(start: int, limit: int) -> int:
    if start < 0 or limit < 1:
        raise InvalidInput(f"pagination needs start >= 0 and limit >= 1, got {start}, {limit}")
    return min(limit, MAX_PAGE)
