"""Webhook delivery connects to the address it vetted: a name that resolves to a public address
when checked and to an internal one a moment later (DNS rebinding) cannot reach the inside.

Offline there is no DNS server to rebind, so the resolver's answers are scripted at
``socket.getaddrinfo`` (the one both the vetting and the HTTP client call); the server is real."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from candor.services import webhooks


class _Recorder(BaseHTTPRequestHandler):
    hits: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Recorder.hits.append(dict(self.headers))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    _Recorder.hits = []
    httpd = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def _scripted_dns(monkeypatch: pytest.MonkeyPatch, host: str, answers: list[str]) -> list[str]:
    """``host`` resolves to ``answers`` in turn (the last one repeats); other names resolve as usual."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(name, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name != host:
            return real(name, port, *args, **kwargs)
        asked.append(name)
        address = answers[min(len(asked), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_rebinding_to_an_internal_address_is_not_followed(monkeypatch, server) -> None:
    # 8.8.8.8 passes the vetting; every later answer is the loopback where the "internal" service listens.
    asked = _scripted_dns(monkeypatch, "hooks.rebind.test", ["8.8.8.8", "127.0.0.1"])
    outcome = webhooks.deliver(f"http://hooks.rebind.test:{server}/hook", "s" * 64, {"type": "x"}, timeout_s=0.5)
    assert _Recorder.hits == [], "the request reached the address the name rebound to"
    assert not outcome.ok
    assert asked == ["hooks.rebind.test"]  # resolved once: the vetted answer is the one used


def test_delivery_keeps_the_host_name(monkeypatch, server) -> None:
    _scripted_dns(monkeypatch, "hooks.partner.test", ["127.0.0.1"])
    outcome = webhooks.deliver(
        f"http://hooks.partner.test:{server}/hook", "s" * 64, {"type": "x"}, allow_private=True, timeout_s=2
    )
    assert outcome.ok, outcome.error
    assert [h["Host"] for h in _Recorder.hits] == [f"hooks.partner.test:{server}"]
