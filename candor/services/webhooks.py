"""Completion webhooks signed with HMAC-SHA256 over ``"<timestamp>.<body>"``, and the notifier that
sends one when a generation finishes and retries it on a persistent backoff schedule.

Headers: ``Candor-Timestamp: <unix seconds>`` and ``Candor-Signature: v1=<hex digest>``. A receiver
recomputes the digest with its partner webhook secret and rejects stale timestamps (replays).

A partner rotates its secret (:func:`rotate_webhook_secret`); for an overlap window afterwards every
delivery carries two signatures, ``v1=<new>, v1=<old>``, so a receiver that still holds the old
secret keeps accepting while it switches: it accepts a delivery when any one of them matches.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from candor.errors import InvalidInput
from candor.services.common import EventLog
from candor.store.models import Generation, Partner, utcnow

SIGNATURE_HEADER = "Candor-Signature"
TIMESTAMP_HEADER = "Candor-Timestamp"


def sign(secret: str | Sequence[str], timestamp: int, body: bytes) -> str:
    """The ``v1=<hex>`` signature of ``body`` sent at ``timestamp`` (unix seconds); with several
    secrets (a rotation's overlap), one signature each, newest first: ``v1=<a>, v1=<b>``."""
    keys = [secret] if isinstance(secret, str) else list(secret)
    return ", ".join(
        f"v1={hmac.new(key.encode(), f'{timestamp}.'.encode() + body, hashlib.sha256).hexdigest()}" for key in keys
    )


def verify_signature(
    secret: str, timestamp: str | int, body: bytes, signature: str, *, tolerance_s: float = 300.0
) -> bool:
    """True when one of the ``v1=`` signatures in the ``signature`` header is ours (``secret``) for
    this body and the timestamp is within ``tolerance_s``."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    expected = sign(secret, ts, body)
    offered = [part.strip() for part in (signature or "").split(",")]
    return any(hmac.compare_digest(expected, part) for part in offered if part)


def signing_secrets(partner: Partner, now: datetime | None = None) -> list[str]:
    """The secrets a delivery to ``partner`` is signed with now: the current one, and the one it
    replaced while the rotation's overlap window lasts."""
    keys = [partner.webhook_secret]
    until = partner.webhook_secret_previous_until
    if partner.webhook_secret_previous and until is not None and (now or utcnow()) < until:
        keys.append(partner.webhook_secret_previous)
    return keys


@dataclass(frozen=True)
class RotatedSecret:
    """``secret`` is shown once, here; the old one signs too until ``previous_valid_until``."""

    secret: str
    rotated_at: datetime
    previous_valid_until: datetime | None


MAX_OVERLAP_HOURS = 168.0


def rotate_webhook_secret(
    *, session: Session, log: EventLog, partner: Partner, overlap_hours: float = 24.0, now: datetime | None = None
) -> RotatedSecret:
    """Give ``partner`` a new webhook signing secret and commit. Deliveries carry signatures under
    both the new and the old secret for ``overlap_hours`` (0-168; 0 drops the old one at once); a
    second rotation inside the window retires the oldest. The log records the rotation, never a
    secret."""
    if not 0 <= overlap_hours <= MAX_OVERLAP_HOURS:
        raise InvalidInput(f"the overlap must be 0-{MAX_OVERLAP_HOURS:g} hours, got {overlap_hours}")
    now = now or utcnow()
    query = select(Partner).where(Partner.id == partner.id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # two rotations at once: one waits, neither secret is lost
    row = session.scalar(query)
    assert row is not None
    until = now + timedelta(hours=overlap_hours) if overlap_hours > 0 else None
    new_secret = secrets.token_hex(32)
    row.webhook_secret_previous = row.webhook_secret if until is not None else None
    row.webhook_secret_previous_until = until
    row.webhook_secret = new_secret
    session.flush()
    log.append_in(
        session,
        "partner.webhook_secret_rotated",
        actor=partner.id,
        subject=partner.id,
        details={"previous_valid_until": until.isoformat() if until else None},
    )
    session.commit()
    return RotatedSecret(secret=new_secret, rotated_at=now, previous_valid_until=until)


@dataclass(frozen=True)
class Delivery:
    ok: bool
    status: int | None
    error: str | None


def public_address_error(url: str) -> str | None:
    """Why ``url`` must not be called from the server (its host resolves to a loopback, private,
    link-local or reserved address: a partner could otherwise probe our internal network), or None."""
    host = urlsplit(url).hostname
    if not host:
        return "webhook URL has no host"
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"refused: {host} resolves to the non-public address {address}"
    return None


def deliver(
    url: str,
    secret: str | Sequence[str],
    payload: dict[str, Any],
    *,
    timeout_s: float = 5.0,
    allow_private: bool = False,
) -> Delivery:
    """POST ``payload`` as JSON once; any 2xx counts as delivered. The host is resolved once and the
    request goes to that vetted address (Host header and TLS SNI still name the host), so a name
    that resolves elsewhere a moment later (DNS rebinding) cannot steer it inside. Hosts that
    resolve to non-public addresses are refused unless ``allow_private`` (development and tests).
    ``secret``: one, or the current and the previous during a rotation's overlap (two signatures)."""
    import httpx

    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return Delivery(False, None, "webhook URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        return Delivery(False, None, f"cannot resolve {host}: {exc}")
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not allow_private:
        for address in addresses:
            if not address.is_global:
                return Delivery(False, None, f"refused: {host} resolves to the non-public address {address}")
    pinned = addresses[0]
    literal = f"[{pinned}]" if pinned.version == 6 else str(pinned)
    target = parts._replace(netloc=f"{literal}:{port}").geturl()
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    ts = int(time.time())
    headers = {
        "Host": parts.netloc.rsplit("@", 1)[-1],  # as the partner wrote it (no credentials)
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret, ts, body),
        "User-Agent": "candor-webhooks/1",
    }
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
            # sni_hostname: the TLS handshake and certificate check are for the host, not the IP.
            request = client.build_request(
                "POST", target, content=body, headers=headers, extensions={"sni_hostname": host}
            )
            response = client.send(request)
    except httpx.HTTPError as exc:
        return Delivery(False, None, f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return Delivery(True, response.status_code, None)
    return Delivery(False, response.status_code, f"HTTP {response.status_code}")


FINISHED_STATES = ("succeeded", "failed", "cancelled")


def backoff_s(attempts: int, *, base_s: float = 2.0, cap_s: float = 3600.0) -> float:
    """Seconds to wait after ``attempts`` failed tries before the next: base x 4^(n-1), capped
    (2 s, 8 s, 32 s, ... 1 h with the defaults)."""
    return min(base_s * 4.0 ** max(0, attempts - 1), cap_s)


class GenerationNotifier:
    """Tells a partner that a generation finished: a signed POST to the job's ``webhook_url``.
    A failed try is retried on an exponential schedule (:func:`backoff_s`) kept on the job row
    (``webhook_next_attempt_at``), by whichever worker is running when it falls due, at most
    ``attempts`` tries in all; so a restart loses no retry and a quick outage at the partner
    does not use up every try at once."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        attempts: int = 8,
        base_s: float = 2.0,
        cap_s: float = 3600.0,
        allow_private: bool = False,
    ) -> None:
        self.session_factory = session_factory
        self.attempts = attempts
        self.base_s = base_s
        self.cap_s = cap_s
        self.allow_private = allow_private

    def notify(self, generation_id: str) -> None:
        """Send the finished job's webhook now (its first try); later tries follow the schedule."""
        with self.session_factory() as session:
            result = session.execute(
                update(Generation)
                .where(
                    Generation.id == generation_id,
                    Generation.status.in_(FINISHED_STATES),
                    Generation.webhook_url.is_not(None),
                    Generation.webhook_delivered_at.is_(None),
                    Generation.webhook_attempts == 0,
                    Generation.webhook_next_attempt_at.is_(None),
                )
                .values(webhook_next_attempt_at=utcnow())
            )
            session.commit()
        if result.rowcount == 1:  # type: ignore[attr-defined]
            self.deliver_due(generation_id=generation_id)

    def due(self, now: datetime | None = None) -> list[str]:
        """Finished generations whose undelivered webhook should be tried now."""
        with self.session_factory() as session:
            return list(
                session.scalars(
                    select(Generation.id).where(
                        Generation.status.in_(FINISHED_STATES),
                        Generation.webhook_url.is_not(None),
                        Generation.webhook_delivered_at.is_(None),
                        Generation.webhook_attempts < self.attempts,
                        Generation.webhook_next_attempt_at <= (now or utcnow()),
                    )
                )
            )

    def deliver_due(self, now: datetime | None = None, *, generation_id: str | None = None) -> int:
        """Try every due webhook (or only ``generation_id``'s) once; returns how many were tried."""
        ids = self.due(now) if generation_id is None else [generation_id]
        return sum(self._attempt(gid, now or utcnow()) for gid in ids)

    def _attempt(self, generation_id: str, now: datetime) -> bool:
        with self.session_factory() as session:
            generation = session.get(Generation, generation_id)
            if (
                generation is None
                or not generation.webhook_url
                or generation.webhook_delivered_at is not None
                or generation.webhook_attempts >= self.attempts
                or generation.webhook_next_attempt_at is None
                or generation.webhook_next_attempt_at > now
            ):
                return False
            # Take this try: push the due time past the request so another worker skips it.
            taken = session.execute(
                update(Generation)
                .where(
                    Generation.id == generation_id,
                    Generation.webhook_next_attempt_at == generation.webhook_next_attempt_at,
                    Generation.webhook_attempts == generation.webhook_attempts,
                )
                .values(webhook_next_attempt_at=now + timedelta(seconds=60))
                .execution_options(synchronize_session=False)
            )
            session.commit()
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return False
            partner = session.get(Partner, generation.partner_id)
            assert partner is not None
            payload = {
                "type": f"generation.{generation.status}",
                "generation": {
                    "id": generation.id,
                    "status": generation.status,
                    "duration_s": generation.duration_s,
                    "output_sha256": generation.output_sha256,
                    "manifest_id": generation.manifest_id,
                    "error": generation.error,
                    "finished_at": generation.finished_at.isoformat() if generation.finished_at else None,
                },
            }
            outcome = deliver(
                generation.webhook_url, signing_secrets(partner), payload, allow_private=self.allow_private
            )
            tries = generation.webhook_attempts + 1
            values: dict[str, Any] = {"webhook_attempts": tries, "webhook_error": outcome.error}
            if outcome.ok:
                values.update(webhook_delivered_at=utcnow(), webhook_next_attempt_at=None)
            elif tries < self.attempts:
                delay = backoff_s(tries, base_s=self.base_s, cap_s=self.cap_s)
                values["webhook_next_attempt_at"] = utcnow() + timedelta(seconds=delay)
            else:
                values["webhook_next_attempt_at"] = None  # gave up; webhook_error says why
            session.execute(
                update(Generation)
                .where(Generation.id == generation_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            session.commit()
        return True
