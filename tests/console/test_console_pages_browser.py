"""The console's second round in a real browser (Debian's chromium through Playwright, a real
uvicorn server): a partner records speech with the (fake) microphone and generates from it, reads
usage, lists its keys, rotates its webhook secret and erases a subject; an auditor checks that a
later signed checkpoint extends a saved one and catches a forked one; an analyst rescans one of the
partner's videos and reads the segments and cues; an operator adds an auditor and revokes its key.
Every page passes axe-core with no serious or critical violation; each flow leaves screenshots."""

from __future__ import annotations

import json
import re
import struct

import httpx
import pytest
from browser_helpers import check_accessibility, shot, sign_in

pytestmark = pytest.mark.slow


def _subject(server, caller, files) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A consent (evidence + reference) and an enrolled portrait, made through the API."""
    base, headers = server[0], {"Authorization": f"Bearer {caller.token}"}
    with files["consent.pdf"].open("rb") as pdf, files["astronaut.png"].open("rb") as png:
        consent = httpx.post(
            f"{base}/v1/consents", headers=headers, timeout=120,
            data={"subject_name": "Mae Jemison", "subject_is_adult": "true", "allowed_uses": "education"},
            files={"evidence_document": ("c.pdf", pdf, "application/pdf"), "reference": ("r.png", png, "image/png")},
        )  # fmt: skip
    assert consent.status_code == 201, consent.text
    consent_id = consent.json()["id"]
    with files["astronaut.png"].open("rb") as png:
        portrait = httpx.post(
            f"{base}/v1/consents/{consent_id}/portraits", headers=headers, timeout=120,
            files={"image": ("astronaut.png", png, "image/png")},
        )  # fmt: skip
    assert portrait.status_code == 201, portrait.text
    return consent_id, portrait.json()["id"]


@pytest.fixture(scope="module")
def partner(admin):  # type: ignore[no-untyped-def]
    return admin.key(admin.partner("Browser Recording Studio"), "generate,detect,audit:read")


def test_partner_records_speech_in_the_browser_and_generates_from_it(page, server, partner, files):
    _subject(server, partner, files)
    sign_in(page, partner.token)
    page.get_by_role("button", name="Record from microphone").click()
    page.get_by_text(re.compile(r"Recording: [2-9]\.\d s")).wait_for(timeout=20_000)
    page.get_by_role("button", name="Stop recording").click()
    status = page.locator("#record-status")
    status.filter(has_text="Recorded").wait_for()
    recorded_s = float(re.search(r"Recorded ([\d.]+) s", status.inner_text()).group(1))
    assert 2.0 <= recorded_s < 6.0
    header = page.evaluate(
        """async () => {
            const file = document.getElementById('audio').files[0];
            const bytes = new Uint8Array(await file.slice(0, 44).arrayBuffer());
            return {name: file.name, type: file.type, size: file.size, head: Array.from(bytes)};
        }"""
    )
    head = bytes(header["head"])
    assert header["name"] == "recording.wav" and header["type"] == "audio/wav"
    assert head[:4] == b"RIFF" and head[8:16] == b"WAVEfmt "
    fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", head[20:36])
    assert (fmt, channels, bits) == (1, 1, 16) and rate in (44100, 48000)
    assert abs((header["size"] - 44) / 2 / rate - recorded_s) < 0.05  # every recorded sample, 2 bytes each
    page.wait_for_function("() => document.getElementById('record-preview').duration > 1.5")
    check_accessibility(page)
    shot(page, "partner-4-recorded")

    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/console/studio/generations/gen_"))
    generation_id = re.search(r"gen_[a-z2-7]+", page.url).group(0)
    page.get_by_text("generation queued").wait_for()
    page.wait_for_function("() => !location.search.includes('flash')")  # the notice leaves the address
    page.reload()  # what the progress script does on success, and what a user may do
    assert page.get_by_text("generation queued").count() == 0
    length = float(re.search(r"Length</dt><dd>([\d.]+) s", page.content()).group(1))
    assert abs(length - recorded_s) < 0.3  # the server decoded the browser's WAV to the same length
    # Stop the render: this flow is about the upload, and the CPU is shared.
    headers = {"Authorization": f"Bearer {partner.token}"}
    httpx.post(f"{server[0]}/v1/generations/{generation_id}/cancel", headers=headers, timeout=60)
