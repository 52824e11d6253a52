"""The web console over TestClient: sign-in, the session cookie, CSRF, the CSP, scopes and tenant
isolation (a partner's console cannot see another partner's rows), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from api_helpers import create_consent, enroll
from fastapi.testclient import TestClient


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: TestClient, token: str) -> TestClient:
    """A fresh cookie jar signed in with ``token`` (the same app)."""
    browser = TestClient(client.app, raise_server_exceptions=False, base_url="http://testserver")
    form = browser.get("/console/login")
    response = browser.post(
        "/console/login", data={"api_key": token, "csrf_token": _csrf(form.text)}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return browser


def test_sign_in_sets_a_strict_httponly_cookie_and_csp(client: TestClient, admin):
    caller = admin.key(admin.partner("Console Cookie School"), "generate,detect")
    browser = TestClient(client.app, raise_server_exceptions=False)
    form = browser.get("/console/login")
    csp = form.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "default-src 'none'" in csp
    assert form.headers["x-frame-options"] == "DENY"
    assert "<script>" not in form.text and " style=" not in form.text  # nothing inline for the CSP to forbid
    response = browser.post(
        "/console/login", data={"api_key": caller.token, "csrf_token": _csrf(form.text)}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/console/studio"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("candor_console="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here; https sets Secure
    assert caller.token not in cookie
    studio = browser.get("/console/studio")
    assert studio.status_code == 200 and "Console Cookie School" in studio.text


def test_secure_cookie_over_https(client: TestClient, admin):
    caller = admin.key(admin.partner("Console TLS School"), "generate")
    browser = TestClient(client.app, raise_server_exceptions=False, base_url="https://testserver")
    form = browser.get("/console/login")
    response = browser.post(
        "/console/login", data={"api_key": caller.token, "csrf_token": _csrf(form.text)}, follow_redirects=False
    )
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("candor_console="))
    assert "Secure" in cookie


def test_bad_key_and_forged_sign_in_are_refused(client: TestClient, admin):
    browser = TestClient(client.app, raise_server_exceptions=False)
    form = browser.get("/console/login")
    bad = browser.post(
        "/console/login", data={"api_key": "cnd_000000000000_" + "A" * 43, "csrf_token": _csrf(form.text)}
    )
    assert (
        bad.status_code == 401
        and "invalid API key" in bad.text
        and "candor_console=" not in bad.headers.get("set-cookie", "")
    )
    caller = admin.key(admin.partner("Console Forged School"), "generate")
    forged = TestClient(client.app, raise_server_exceptions=False).post(
        "/console/login", data={"api_key": caller.token, "csrf_token": "guessed"}
    )
    assert forged.status_code == 403
    pending = admin.key(admin.partner("Console Pending School", state="pending"), "generate")
    refused = browser.post("/console/login", data={"api_key": pending.token, "csrf_token": _csrf(form.text)})
    assert refused.status_code == 403 and "pending" in refused.text


def test_pages_need_a_session(client: TestClient):
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    page = anonymous.get("/console/studio", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/console/login")
    script = anonymous.get("/console/audit/entries/0/proof", headers={"Accept": "application/json"})
    assert script.status_code == 401
    anonymous.cookies.set("candor_console", "not-a-session", path="/console")
    assert anonymous.get("/console/studio", follow_redirects=False).status_code == 303


def test_posts_need_the_sessions_csrf_token(client: TestClient, admin, consent_pdf, portrait_png):
    caller = admin.key(admin.partner("Console CSRF School"), "generate")
    browser = sign_in(client, caller.token)
    consent = create_consent(client, caller, consent_pdf)
    target = f"/console/studio/consents/{consent['id']}/revoke"
    assert browser.post(target, data={"reason": "x"}).status_code == 403
    assert browser.post(target, data={"reason": "x", "csrf_token": "wrong"}).status_code == 403
    other_origin = browser.post(
        target,
        data={"reason": "x", "csrf_token": _csrf(browser.get("/console/studio").text)},
        headers={"Origin": "https://evil.example"},
    )
    assert other_origin.status_code == 403
    assert client.get(f"/v1/consents/{consent['id']}", headers=caller.headers).json()["status"] == "active"
    ok = browser.post(target, data={"reason": "asked", "csrf_token": _csrf(browser.get("/console/studio").text)})
    assert ok.status_code == 200 and "consent revoked" in ok.text
    assert client.get(f"/v1/consents/{consent['id']}", headers=caller.headers).json()["status"] == "revoked"


def test_sign_out_revokes_the_session_server_side(client: TestClient, admin):
    caller = admin.key(admin.partner("Console Signout School"), "generate")
    browser = sign_in(client, caller.token)
    stolen = browser.cookies.get("candor_console")
    out = browser.post("/console/logout", data={"csrf_token": _csrf(browser.get("/console/studio").text)})
    assert out.status_code == 200 and "signed out" in out.text
    replay = TestClient(client.app, raise_server_exceptions=False)
    replay.cookies.set("candor_console", stolen, path="/console")
    assert replay.get("/console/studio", follow_redirects=False).status_code == 303


def test_revoking_the_key_or_suspending_the_partner_ends_the_session(client: TestClient, admin):
    partner = admin.partner("Console Suspended School")
    caller = admin.key(partner, "generate")
    browser = sign_in(client, caller.token)
    assert browser.get("/console/studio").status_code == 200
    admin.set_state(partner, "suspended")
    assert browser.get("/console/studio", follow_redirects=False).status_code == 303
    other = admin.key(admin.partner("Console Revoked School"), "generate")
    second = sign_in(client, other.token)
    admin.revoke(other)
    assert second.get("/console/studio", follow_redirects=False).status_code == 303


def test_a_partner_console_cannot_see_another_partners_data(client: TestClient, admin, consent_pdf, portrait_png):
    alice = admin.key(admin.partner("Console Alice Co"), "generate,detect,audit:read")
    bob = admin.key(admin.partner("Console Bob Co"), "generate,detect,audit:read")
    consent = create_consent(client, alice, consent_pdf, subject_name="Alice Subject")
    portrait = enroll(client, alice, consent["id"], portrait_png)
    bob_browser = sign_in(client, bob.token)
    studio = bob_browser.get("/console/studio").text
    assert "Alice Subject" not in studio and consent["id"] not in studio
    assert bob_browser.get(f"/console/studio/consents/{consent['id']}").status_code == 404
    assert bob_browser.get(f"/console/studio/portraits/{portrait['id']}/image").status_code == 404
    token = _csrf(studio)
    revoke = bob_browser.post(f"/console/studio/consents/{consent['id']}/revoke", data={"csrf_token": token})
    assert revoke.status_code == 404
    assert client.get(f"/v1/consents/{consent['id']}", headers=alice.headers).json()["status"] == "active"
    log = bob_browser.get("/console/audit").text
    assert consent["id"] not in log and portrait["id"] not in log
    alice_browser = sign_in(client, alice.token)
    assert consent["id"] in alice_browser.get("/console/audit").text
    assert "Alice Subject" in alice_browser.get(f"/console/studio/consents/{consent['id']}").text
    # Entry indexes of Alice's rows answer Bob like absent ones, pages and proofs alike.
    index = int(
        re.search(
            r'/console/audit/entries/(\d+)">', alice_browser.get(f"/console/audit?subject={consent['id']}").text
        ).group(1)
    )
    assert bob_browser.get(f"/console/audit/entries/{index}").status_code == 404
    assert (
        bob_browser.get(f"/console/audit/entries/{index}/proof", headers={"Accept": "application/json"}).status_code
        == 404
    )


def test_scopes_hold_in_the_console(client: TestClient, admin):
    detect_only = admin.key(admin.partner("Console Detect Only"), "detect")
    browser = sign_in(client, detect_only.token)
    assert browser.get("/console/studio").status_code == 403
    assert browser.get("/console/operator").status_code == 403
    assert browser.get("/console/detect").status_code == 200
    auditor = admin.principal("Console Auditor", "auditor")
    audit_browser = sign_in(client, auditor.token)
    assert audit_browser.get("/console/studio").status_code == 403
    assert audit_browser.get("/console/operator").status_code == 403
    assert audit_browser.get("/console/audit").status_code == 200
    operator = admin.principal("Console Operator", "operator")
    ops = sign_in(client, operator.token)
    assert ops.get("/console/audit").status_code == 403
    assert ops.get("/console/studio").status_code == 403


def test_operator_approves_and_issues_a_key_the_api_accepts(client: TestClient, admin):
    pending = admin.partner("Console Vetted Co", state="pending")
    ops = sign_in(client, admin.principal("Console Vetting Desk", "operator").token)
    page = ops.get("/console/operator")
    assert "Console Vetted Co" in page.text and "pending" in page.text
    approved = ops.post(
        f"/console/operator/partners/{pending}/state", data={"state": "approved", "csrf_token": _csrf(page.text)}
    )
    assert approved.status_code == 200 and "Console Vetted Co is now approved" in approved.text
    issued = ops.post(
        "/console/operator/keys",
        data={
            "partner_id": pending,
            "scopes": ["generate", "detect"],
            "expires_in_days": "30",
            "csrf_token": _csrf(page.text),
        },
    )
    assert issued.status_code == 201
    token = re.search(r'value="(cnd_[^"]+)"', issued.text).group(1)
    assert client.get("/v1/consents", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    refused = ops.post(
        "/console/operator/keys",
        data={"partner_id": pending, "scopes": ["admin"], "csrf_token": _csrf(page.text)},
    )
    assert refused.status_code == 422


def test_console_routes_stay_out_of_the_openapi_document(client: TestClient):
    assert not [p for p in client.get("/openapi.json").json()["paths"] if p.startswith("/console")]
