"""The console's main flows in a real browser (Debian's chromium through Playwright) against a real
uvicorn server running the production generation worker: a partner records a consent, enrols a
portrait, generates, watches progress, plays the result and reads its credentials; an auditor
verifies an inclusion proof in the browser and catches a tampered entry; an analyst scans a Candor
output and a plain video; an operator approves a partner and issues a key. Every page visited
passes axe-core with no serious or critical violation, and each flow leaves screenshots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_helpers import check_accessibility, shot, sign_in
from sqlalchemy import select, update

pytestmark = pytest.mark.slow
GENERATION_TIMEOUT_MS = 600_000  # the production pipeline on a loaded 2-core CPU


@pytest.fixture(scope="module")
def studio_partner(admin):  # type: ignore[no-untyped-def]
    return admin.key(admin.partner("Browser Studio School"), "generate,detect,audit:read")


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    """What the partner flow made (generation id, the downloaded MP4's path) for the analyst."""
    return {}


def test_partner_consents_enrols_generates_and_sees_credentials(page, studio_partner, files, generated, tmp_path):
    sign_in(page, studio_partner.token)
    assert page.url.endswith("/console/studio")
    check_accessibility(page)
    page.get_by_label("Subject's name").fill("Eileen Collins")
    page.get_by_label("Signed consent (PDF or image)").set_input_files(str(files["consent.pdf"]))
    page.get_by_label("Reference photo of the subject alone").set_input_files(str(files["astronaut.png"]))
    page.get_by_role("button", name="Record consent").click()
    page.wait_for_url(re.compile(r"/console/studio/consents/cns_"))
    page.get_by_text("consent recorded").wait_for()
    page.get_by_label(re.compile(r"^Portrait \(PNG")).set_input_files(str(files["astronaut.png"]))
    page.get_by_role("button", name="Enrol").click()
    page.get_by_text(re.compile(r"portrait enrolled: identity distance 0\.\d+")).first.wait_for()
    assert "Same person: identity distance" in page.content()
    check_accessibility(page)
    shot(page, "partner-1-consent")

    page.get_by_role("link", name="← Studio").click()
    page.get_by_label("Speech (WAV, FLAC, MP3 or M4A)").set_input_files(str(files["hello.wav"]))
    page.get_by_label(re.compile(r"^emotion$")).select_option("happy")
    page.get_by_label(re.compile(r"^intensity")).fill("0.6")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/console/studio/generations/gen_"))
    status = page.locator("#status-text")
    assert status.inner_text() in ("queued", "running") or status.inner_text().startswith("running")
    shot(page, "partner-2-progress")
    check_accessibility(page)
    page.locator("#player").wait_for(timeout=GENERATION_TIMEOUT_MS)  # the script reloads on success

    player = page.locator("#player")
    page.wait_for_function("() => document.getElementById('player').readyState >= 2", timeout=30_000)
    page.evaluate("document.getElementById('player').muted = true")
    page.evaluate("document.getElementById('player').play()")
    page.wait_for_function("() => document.getElementById('player').currentTime > 0.2", timeout=30_000)
    assert player.evaluate("v => v.videoWidth") == 512
    panel = page.locator("section.credentials")
    assert "Content Credentials" in panel.inner_text()
    assert int(page.locator("#watermark-serial").inner_text()) >= 1
    assert "eileen" not in panel.inner_text().lower()  # credentials name the partner by pseudonym, not the subject
    assert re.search(r"\.(png|wav)|image/png|audio/", panel.inner_text())  # the portrait and audio ingredients
    check_accessibility(page)
    shot(page, "partner-3-result")
    generated["id"] = re.search(r"gen_[a-z2-7]+", page.url).group(0)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the signed MP4").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == f"{generated['id']}.mp4" and saved.read_bytes()[4:8] == b"ftyp"
    generated["mp4"] = str(saved)


def test_analyst_scans_a_candor_output_and_a_plain_video(page, studio_partner, files, generated, tmp_path):
    if "mp4" not in generated:
        pytest.fail("the partner flow made no video to scan")
    candor_copy = tmp_path / "from-candor.mp4"
    candor_copy.write_bytes(Path(generated["mp4"]).read_bytes())
    sign_in(page, studio_partner.token)
    page.goto("/console/detect")
    check_accessibility(page)
    page.get_by_label("Video (MP4, MOV, WebM, MKV or AVI)").set_input_files(str(candor_copy))
    page.get_by_role("button", name="Scan").click()
    page.wait_for_url(re.compile(r"/console/detect/det_"), timeout=300_000)
    assert page.locator("#verdict").inner_text() == "Candor-generated (proven)"
    assert generated["id"] in page.content()
    check_accessibility(page)
    shot(page, "analyst-1-candor")

    page.goto("/console/detect")
    page.get_by_label("Video (MP4, MOV, WebM, MKV or AVI)").set_input_files(str(files["plain.mp4"]))
    page.get_by_role("button", name="Scan").click()
    page.wait_for_url(re.compile(r"/console/detect/det_"), timeout=300_000)
    verdict = page.locator("#verdict").inner_text()
    assert verdict != "Candor-generated (proven)" and verdict != "cannot analyse", verdict
    assert page.locator("#timeline circle").count() >= 1  # the per-second classifier plot
    check_accessibility(page)
    shot(page, "analyst-2-plain")
    page.goto("/console/detect")
    assert page.get_by_role("link").filter(has_text=re.compile(r"\d{4}-\d\d-\d\d")).count() >= 2  # the history


def test_auditor_verifies_a_proof_and_catches_a_tampered_entry(page, admin, server):
    from candor.store.models import LogEntryRow

    auditor = admin.principal("Browser Auditor", "auditor")
    partner = admin.partner("Browser Tamper Target")  # a partner.created entry to tamper with later
    sign_in(page, auditor.token)
    assert page.url.endswith("/console/audit")
    check_accessibility(page)
    page.get_by_label("Subject").fill(partner)
    page.get_by_role("button", name="Filter").click()
    page.locator("tbody a").first.click()
    page.wait_for_url(re.compile(r"/console/audit/entries/\d+"))
    index = int(page.url.rsplit("/", 1)[1])
    page.get_by_role("button", name="Verify inclusion proof").click()
    page.locator("#verify-result.ok").wait_for()
    assert page.locator("#verify-result").inner_text().startswith(f"Verified: entry {index}")
    check_accessibility(page)
    shot(page, "auditor-1-verified")

    # Someone with database access edits the stored entry: the browser's own hash no longer leads
    # to the signed root.
    sessions = server[1].state.service.session_factory
    with sessions() as db:
        body = db.scalar(select(LogEntryRow.body).where(LogEntryRow.log_index == index))
        assert '"education"' in body
        db.execute(
            update(LogEntryRow)
            .where(LogEntryRow.log_index == index)
            .values(body=body.replace('"education"', '"espionage"'))
        )
        db.commit()
    page.reload()
    assert "espionage" in page.locator("#entry-bytes").input_value()
    page.get_by_role("button", name="Verify inclusion proof").click()
    page.locator("#verify-result.error").wait_for()
    assert "tampered" in page.locator("#verify-result").inner_text()
    shot(page, "auditor-2-tampered")


def test_operator_approves_a_partner_and_issues_a_key(page, admin, server):
    import httpx

    pending = admin.partner("Browser Pending Partner", state="pending")
    operator = admin.principal("Browser Vetting Desk", "operator")
    sign_in(page, operator.token)
    assert page.url.endswith("/console/operator")
    check_accessibility(page)
    page.get_by_role("button", name="Approve Browser Pending Partner").click()
    page.get_by_text("Browser Pending Partner is now approved").wait_for()
    page.get_by_label("Partner", exact=True).select_option(pending)
    page.get_by_label("detect").check()
    page.get_by_role("button", name="Issue key").click()
    token = page.get_by_label("API key").input_value()
    assert token.startswith("cnd_")
    assert page.locator("#key-scopes").inner_text() == "detect, generate"
    check_accessibility(page)
    shot(page, "operator-1-key")
    answer = httpx.get(f"{server[0]}/v1/consents", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200


def test_pages_read_at_a_phone_width(browser, server, studio_partner):
    context = browser.new_context(base_url=server[0], viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, studio_partner.token)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the studio scrolls sideways at a phone width ({width} px)"
    check_accessibility(page)
    shot(page, "phone-studio")
    context.close()
