"""Completion webhooks signed with HMAC-SHA256 over ``"<timestamp>.<body>"``, and the notifier that
sends one when a generation finishes.

Headers: ``Candor-Timestamp: <unix seconds>`` and ``Candor-Signature: v1=<hex digest>``. A receiver
recomputes the digest with its partner webhook secret and rejects stale timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from candor.store.models import Generation, Partner, utcnow

SIGNATURE_HEADER = "Candor-Signature"
TIMESTAMP_HEADER = "Candor-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1=<hex>`` signature of ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify_signature(
    secret: str, timestamp: str | int, body: bytes, signature: str, *, tolerance_s: float = 300.0
) -> bool:
    """True when ``signature`` is ours for this body and the timestamp is within ``tolerance_s``."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature or "")


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
    url: str, secret: str, payload: dict[str, Any], *, timeout_s: float = 5.0, allow_private: bool = False
) -> Delivery:
    """POST ``payload`` as JSON once; any 2xx counts as delivered. The host is resolved once and the
    request goes to that vetted address (Host header and TLS SNI still name the host), so a name
    that resolves elsewhere a moment later (DNS rebinding) cannot steer it inside. Hosts that
    resolve to non-public addresses are refused unless ``allow_private`` (development and tests)."""
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


class GenerationNotifier:
    """Tells a partner that a generation finished: one signed POST to the job's ``webhook_url``,
    retried up to ``retries`` times with backoff; delivery state is kept on the job row so a
    restarted service retries what was never delivered."""

    def __init__(
        self, session_factory: sessionmaker[Session], *, retries: int = 3, allow_private: bool = False
    ) -> None:
        self.session_factory = session_factory
        self.retries = retries
        self.allow_private = allow_private

    def undelivered(self) -> list[str]:
        """Finished generations whose webhook has not been delivered and may be retried."""
        with self.session_factory() as session:
            return list(
                session.scalars(
                    select(Generation.id).where(
                        Generation.status.in_(("succeeded", "failed")),
                        Generation.webhook_url.is_not(None),
                        Generation.webhook_delivered_at.is_(None),
                        Generation.webhook_attempts < self.retries,
                    )
                )
            )

    def notify(self, generation_id: str) -> None:
        with self.session_factory() as session:
            generation = session.get(Generation, generation_id)
            if generation is None or not generation.webhook_url or generation.webhook_delivered_at:
                return
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
            for attempt in range(generation.webhook_attempts, self.retries):
                outcome = deliver(
                    generation.webhook_url, partner.webhook_secret, payload, allow_private=self.allow_private
                )
                generation.webhook_attempts = attempt + 1
                generation.webhook_error = outcome.error
                if outcome.ok:
                    generation.webhook_delivered_at = utcnow()
                    break
                if attempt + 1 < self.retries:
                    time.sleep(min(0.25 * 2**attempt, 4.0))
            session.commit()
