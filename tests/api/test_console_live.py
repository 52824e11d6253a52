"""The console's live page and its socket: the signed-in session (cookie, same origin, CSRF token
in the start message) opens the same live session as /v1/live; anything less is refused with the
API's close codes. No timing is asserted."""

from __future__ import annotations

import pytest
from api_helpers import create_consent, enroll
from test_api_live import collect, pcm, start, stream  # noqa: F401 - pcm is a fixture
from test_console import _csrf, sign_in

from candor.api.console.web import COOKIE

SOCKET = "/console/studio/live/socket"
ORIGIN = {"origin": "http://testserver"}


@pytest.fixture(scope="module")
def caller(admin):
    return admin.key(admin.partner("Console Live Academy"), "generate")


@pytest.fixture(scope="module")
def subject(client, caller, portrait_png, consent_pdf):
    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    return {"consent_id": consent["id"], "portrait_id": portrait["id"]}


@pytest.fixture
def browser(client, caller):
    return sign_in(client, caller.token)


def _headers(browser, **extra) -> dict[str, str]:
    return {"cookie": f"{COOKIE}={browser.cookies.get(COOKIE)}", **extra}


def test_the_live_page_offers_the_enrolled_portraits_and_ships_its_scripts(browser, subject):
    page = browser.get("/console/studio/live")
    assert page.status_code == 200
    assert f"{subject['consent_id']}/{subject['portrait_id']}" in page.text
    assert "/console/static/live.js" in page.text and "<script>" not in page.text
    assert browser.get("/console/static/recorder-worklet.js").status_code == 200


def test_a_signed_in_session_streams_frames_and_records(browser, subject, pcm):  # noqa: F811
    csrf = _csrf(browser.get("/console/studio").text)
    with browser.websocket_connect(SOCKET, headers=_headers(browser, **ORIGIN)) as ws:
        ws.send_json(start(subject, csrf_token=csrf))
        assert ws.receive_json()["type"] == "ready"
        stream(ws, pcm[:16_000])
        ws.send_json({"type": "controls", "controls": {"emotion": "happy", "intensity": 0.7}})
        ws.send_json({"type": "end"})
        frames, notes, (code, reason) = collect(ws)
    assert code == 1000, reason
    assert notes[-1]["type"] == "recorded" and len(frames) == notes[-1]["frames"] == 25
    generation = browser.get(f"/console/studio/generations/{notes[-1]['generation_id']}")
    assert generation.status_code == 200 and "succeeded" in generation.text


@pytest.mark.parametrize(
    ("case", "code"),
    [("no cookie", 4401), ("no csrf", 4403), ("wrong csrf", 4403), ("other origin", 4403), ("no origin", 4403)],
)
def test_anything_less_than_the_signed_in_page_is_refused(client, browser, subject, case, code):
    csrf = _csrf(browser.get("/console/studio").text)
    headers = _headers(browser, **ORIGIN)
    message = start(subject, csrf_token=csrf)
    if case == "no cookie":
        headers.pop("cookie")
    elif case == "no csrf":
        message.pop("csrf_token")
    elif case == "wrong csrf":
        message["csrf_token"] = "guessed"
    elif case == "other origin":
        headers["origin"] = "https://evil.example"
    else:
        headers.pop("origin")
    with client.websocket_connect(SOCKET, headers=headers) as ws:
        ws.send_json(message)
        frames, notes, (got, reason) = collect(ws)
    assert (got, frames, notes) == (code, [], []), reason


def test_an_auditor_session_cannot_go_live(client, admin, subject):
    auditor = sign_in(client, admin.principal("Live Auditor", "auditor").token)
    page = auditor.get("/console/studio/live")
    assert page.status_code == 403
