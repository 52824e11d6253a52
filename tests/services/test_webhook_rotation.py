"""Webhook signing secret rotation (issue 14, finding 9): the new secret is returned once; during the
overlap every delivery carries a signature under the new and one under the old secret, so a
receiver holding either accepts it; after the overlap only the new one signs. Real deliveries to a
real HTTP server, SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from sqlalchemy import select, update
from test_job_controls import enqueue
from test_jobs import make_queue

from candor import services
from candor.errors import InvalidInput
from candor.services import webhooks
from candor.store.models import LogEntryRow, Partner, utcnow


class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.got.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    _Receiver.got = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook"
    finally:
        server.shutdown()
        server.server_close()


def _deliver_one(factory, log, files, policy, world, url, seed):  # type: ignore[no-untyped-def]
    """A finished (cancelled) job's webhook, delivered; returns (signature header, timestamp, body)."""
    gid = enqueue(factory, log, policy, world, webhook_url=url, seed=seed)
    with factory() as session:
        services.cancel_generation(session=session, log=log, partner=world.partner, generation_id=gid)
    before = len(_Receiver.got)
    assert make_queue(factory, files).notifier.deliver_due() == 1
    headers, body = _Receiver.got[before]
    return headers[webhooks.SIGNATURE_HEADER], headers[webhooks.TIMESTAMP_HEADER], body


def test_rotation_signs_with_both_secrets_for_the_overlap(factory, log, files, policy, world, receiver) -> None:  # type: ignore[no-untyped-def]
    old = world.partner.webhook_secret
    with factory() as session:
        rotated = webhooks.rotate_webhook_secret(session=session, log=log, partner=world.partner, overlap_hours=24)
    assert rotated.secret != old and len(rotated.secret) == 64
    assert rotated.previous_valid_until is not None and rotated.previous_valid_until > utcnow() + timedelta(hours=23)

    signature, ts, body = _deliver_one(factory, log, files, policy, world, receiver, seed=1)
    assert signature.count("v1=") == 2
    assert webhooks.verify_signature(rotated.secret, ts, body, signature)  # a receiver that switched
    assert webhooks.verify_signature(old, ts, body, signature)  # one that has not yet
    assert not webhooks.verify_signature("0" * 64, ts, body, signature)

    with factory() as session:  # the overlap ends
        session.execute(
            update(Partner)
            .where(Partner.id == world.partner.id)
            .values(webhook_secret_previous_until=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    signature, ts, body = _deliver_one(factory, log, files, policy, world, receiver, seed=2)
    assert signature.count("v1=") == 1
    assert webhooks.verify_signature(rotated.secret, ts, body, signature)
    assert not webhooks.verify_signature(old, ts, body, signature)

    with factory() as session:  # logged, without any secret
        bodies = session.scalars(
            select(LogEntryRow.body).where(LogEntryRow.event_type == "partner.webhook_secret_rotated")
        ).all()
    assert len(bodies) == 1 and old not in bodies[0] and rotated.secret not in bodies[0]


def test_rotation_without_overlap_drops_the_old_secret_at_once(factory, log, files, policy, world, receiver) -> None:  # type: ignore[no-untyped-def]
    old = world.partner.webhook_secret
    with factory() as session:
        rotated = webhooks.rotate_webhook_secret(session=session, log=log, partner=world.partner, overlap_hours=0)
        with pytest.raises(InvalidInput):
            webhooks.rotate_webhook_secret(session=session, log=log, partner=world.partner, overlap_hours=500)
    assert rotated.previous_valid_until is None
    signature, ts, body = _deliver_one(factory, log, files, policy, world, receiver, seed=3)
    assert signature.count("v1=") == 1 and not webhooks.verify_signature(old, ts, body, signature)
    assert webhooks.verify_signature(rotated.secret, ts, body, signature)
