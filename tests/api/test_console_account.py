"""The partner's account in the console over TestClient: erasing a data subject (a confirmation
step, CSRF, tenant isolation), usage from services/usage, the partner's own keys, and webhook
secret rotation with its overlap; on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from api_helpers import create_consent, enroll
from fastapi.testclient import TestClient
from test_console import _csrf, sign_in


def _generate(client: TestClient, caller, consent_id: str, portrait_id: str, wav: bytes) -> dict:  # type: ignore[no-untyped-def]
    response = client.post(
        "/v1/generations",
        headers=caller.headers,
        data={"consent_id": consent_id, "portrait_id": portrait_id},
        files={"audio": ("hello.wav", wav, "audio/wav")},
    )
    assert response.status_code == 202, response.text
    return response.json()


def test_erasure_names_what_goes_then_needs_confirmation_and_csrf(
    client: TestClient, admin, consent_pdf, portrait_png, speech_wav
):
    caller = admin.key(admin.partner("Console Erase School"), "generate,audit:read")
    consent = create_consent(client, caller, consent_pdf, subject_name="Erin Erasable")
    portrait = enroll(client, caller, consent["id"], portrait_png)
    job = _generate(client, caller, consent["id"], portrait["id"], speech_wav)
    browser = sign_in(client, caller.token)
    page = browser.get(f"/console/studio/consents/{consent['id']}")
    assert f'href="/console/studio/consents/{consent["id"]}/erase"' in page.text

    confirm = browser.get(f"/console/studio/consents/{consent['id']}/erase")
    assert confirm.status_code == 200
    listed = re.search(r'<ul aria-labelledby="deleted-h" id="erase-list">(.*?)</ul>', confirm.text, re.S).group(1)
    assert "1 enrolled portrait(s)" in listed and "1 generation(s)" in listed and "1 queued" in listed
    assert "1 queued or running generation(s) are stopped first" in listed
    assert "1 evidence file(s)" in listed and "reference of the subject" in listed
    target = f"/console/studio/consents/{consent['id']}/erase"

    assert browser.post(target, data={"confirm": "yes"}).status_code == 403  # no CSRF token
    unticked = browser.post(target, data={"csrf_token": _csrf(confirm.text)})
    assert unticked.status_code == 422 and "nothing was deleted" in unticked.text
    assert client.get(f"/v1/consents/{consent['id']}", headers=caller.headers).status_code == 200

    other = sign_in(client, admin.key(admin.partner("Console Erase Rival"), "generate").token)
    assert other.get(target).status_code == 404
    rival = other.post(target, data={"confirm": "yes", "csrf_token": _csrf(other.get("/console/studio").text)})
    assert rival.status_code == 404
    assert client.get(f"/v1/consents/{consent['id']}", headers=caller.headers).status_code == 200

    done = browser.post(target, data={"confirm": "yes", "csrf_token": _csrf(confirm.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/console/studio?flash=")
    studio = browser.get(done.headers["location"])
    assert f"consent {consent['id']} erased: 1 generation(s), 1 portrait(s)" in studio.text
    assert "Erin Erasable" not in studio.text
    assert client.get(f"/v1/consents/{consent['id']}", headers=caller.headers).status_code == 404
    assert client.get(f"/v1/generations/{job['id']}", headers=caller.headers).status_code == 404
    assert browser.get(target).status_code == 404  # a second erasure finds nothing
    entries = client.get("/v1/audit/entries?limit=1000", headers=caller.headers).json()["entries"]
    erased = [e for e in entries if e["event_type"] == "consent.erased"]
    assert [e["subject"] for e in erased] == [consent["id"]] and "Erin" not in str(erased)


def test_usage_section_counts_the_partners_own_work(client: TestClient, admin, consent_pdf, portrait_png, speech_wav):
    caller = admin.key(admin.partner("Console Usage School"), "generate")
    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    browser = sign_in(client, caller.token)
    before = browser.get("/console/studio").text
    assert "0 queued" in before and "Scans this month</dt><dd>0 (0 in all)" in before
    _generate(client, caller, consent["id"], portrait["id"], speech_wav)
    other = admin.key(admin.partner("Console Usage Rival"), "generate")
    other_consent = create_consent(client, other, consent_pdf)
    _generate(
        client, other, other_consent["id"], enroll(client, other, other_consent["id"], portrait_png)["id"], speech_wav
    )
    after = browser.get("/console/studio").text
    facts = re.search(r'<dl class="facts" id="usage-facts">(.*?)</dl>', after, re.S).group(1)
    assert "Generations this month</dt><dd>1<" in facts and "1 queued" in facts  # the rival's job is not counted
    used = float(re.search(r"([\d.]+) s of \d+ s of video this month", after).group(1))
    usage = client.get("/v1/usage", headers=caller.headers).json()
    assert used == round(usage["quota"]["used_s"], 1) and used > 0


def test_account_lists_own_keys_and_rotates_the_webhook_secret_once(client: TestClient, admin):
    from candor.services.webhooks import signing_secrets
    from candor.store.models import Partner

    partner_id = admin.partner("Console Account School")
    caller = admin.key(partner_id, "generate,detect")
    retired = admin.key(partner_id, "detect")
    admin.revoke(retired)
    stranger = admin.key(admin.partner("Console Account Rival"), "generate")
    browser = sign_in(client, caller.token)
    page = browser.get("/console/studio/account")
    assert page.status_code == 200
    rows = re.findall(r'<tr><td data-label="Prefix"><code>(cnd_\w+)</code>(.*?)</tr>', page.text, re.S)
    shown = {prefix: rest for prefix, rest in rows}
    assert set(shown) == {caller.prefix, retired.prefix}  # the rival's key is not listed
    assert "(this session)" in shown[caller.prefix] and "detect, generate" in shown[caller.prefix]
    assert ">revoked<" in shown[retired.prefix]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", shown[caller.prefix])  # expiry, and last use by sign-in
    assert caller.token.split("_", 2)[2] not in page.text and stranger.prefix not in page.text
    assert "Deliveries are signed with one secret." in page.text

    state = client.app.state.service
    with state.session_factory() as db:
        old = db.get(Partner, partner_id).webhook_secret
    assert browser.post("/console/studio/account/webhook-secret", data={"overlap_hours": "2"}).status_code == 403
    bad = browser.post(
        "/console/studio/account/webhook-secret", data={"overlap_hours": "500", "csrf_token": _csrf(page.text)}
    )
    assert bad.status_code == 422
    rotated = browser.post(
        "/console/studio/account/webhook-secret", data={"overlap_hours": "2", "csrf_token": _csrf(page.text)}
    )
    assert rotated.status_code == 201 and rotated.headers["cache-control"] == "no-store"
    secret = re.search(r'id="secret" readonly value="([0-9a-f]{64})"', rotated.text).group(1)
    assert "co-signs until" in rotated.text
    with state.session_factory() as db:
        assert signing_secrets(db.get(Partner, partner_id)) == [secret, old]
    again = browser.get("/console/studio/account").text
    assert secret not in again and "previous secret still co-signs every delivery until" in again

    detect_only = sign_in(client, admin.key(partner_id, "detect").token)
    view = detect_only.get("/console/studio/account")
    assert view.status_code == 200 and "Rotate webhook secret" not in view.text
    refused = detect_only.post(
        "/console/studio/account/webhook-secret", data={"overlap_hours": "0", "csrf_token": _csrf(view.text)}
    )
    assert refused.status_code == 403
    auditor = sign_in(client, admin.principal("Console Account Auditor", "auditor").token)
    assert auditor.get("/console/studio/account").status_code == 403
