"""The live page in a real browser: Chromium's fake microphone (its test tone) plays into the
page, which streams it over the console's live socket; the face appears on the canvas frame by
frame, and stopping leaves a signed recording among the partner's generations. axe-core clean."""

from __future__ import annotations

import re

import httpx
import pytest
from api_helpers import create_consent, enroll
from browser_helpers import check_accessibility, shot, sign_in

pytestmark = pytest.mark.slow


def test_live_page_streams_the_microphone_and_records(browser, server, admin, files):
    base, _app = server
    caller = admin.key(admin.partner("Browser Live School"), "generate")
    with httpx.Client(base_url=base, timeout=120) as api:
        consent = create_consent(api, caller, files["consent.pdf"].read_bytes())
        enroll(api, caller, consent["id"], files["astronaut.png"].read_bytes())
    context = browser.new_context(base_url=base, viewport={"width": 1100, "height": 900})
    context.grant_permissions(["microphone"], origin=base)
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        sign_in(page, caller.token)
        page.get_by_role("link", name="Live").click()
        page.wait_for_url("**/console/studio/live")
        check_accessibility(page)
        page.get_by_label(re.compile(r"^emotion$")).select_option("happy")
        page.get_by_role("button", name="Start").click()
        page.get_by_text("Live: 50 frames").wait_for(timeout=120_000)  # frames arrive and are drawn
        shot(page, "live-1-streaming")
        # The canvas shows the face, not a blank: its pixels vary.
        spread = page.evaluate(
            "() => { const c = document.getElementById('live-face').getContext('2d');"
            " const d = c.getImageData(0, 0, 512, 512).data; let lo = 255, hi = 0;"
            " for (let i = 0; i < d.length; i += 4 * 97) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }"
            " return hi - lo; }"
        )
        assert spread > 60
        page.get_by_role("button", name="Stop").click()
        page.get_by_role("link", name="The signed recording").wait_for(timeout=120_000)
        page.get_by_text("the session was recorded").wait_for(timeout=60_000)
        shot(page, "live-2-recorded")
        page.get_by_role("link", name="The signed recording").click()
        page.get_by_text("Status: succeeded").wait_for()
        page.get_by_text("Proven Candor output").wait_for(timeout=60_000)
        check_accessibility(page)
    finally:
        context.close()
    assert not violations, violations
