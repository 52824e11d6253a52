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


def test_auditor_checks_a_saved_checkpoint_and_catches_a_fork(page, admin, server, tmp_path):
    from datetime import UTC, datetime

    from candor.provenance.checkpoint import TreeHead

    auditor = admin.principal("Browser Checkpoint Auditor", "auditor")
    sign_in(page, auditor.token)
    page.get_by_role("link", name="Save a checkpoint or check a saved one").click()
    page.wait_for_url(re.compile(r"/console/audit/checkpoints$"))
    check_accessibility(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the signed checkpoint (JSON)").click()
    saved_path = tmp_path / download.value.suggested_filename
    download.value.save_as(saved_path)
    saved = json.loads(saved_path.read_text())
    assert saved["note"].startswith("candor/generation-log\n") and "BEGIN PUBLIC KEY" in saved["public_key_pem"]

    admin.partner("Browser Log Grows Co")  # the log moves on: new entries, a new checkpoint
    page.reload()
    assert int(page.locator("#current-checkpoint dd").nth(1).inner_text()) > saved["tree_size"]
    page.get_by_label("Saved checkpoint file").set_input_files(str(saved_path))
    page.wait_for_function("() => document.getElementById('saved-checkpoint').value.includes('generation-log')")
    page.get_by_role("button", name="Check consistency").click()
    page.locator("#consistency-result.ok").wait_for()
    assert f"extends your saved checkpoint of {saved['tree_size']}" in page.locator("#consistency-result").inner_text()
    check_accessibility(page)
    shot(page, "auditor-3-consistent")

    # Edited after saving: the size line no longer matches the signature.
    edited = dict(saved, note=saved["note"].replace(f"\n{saved['tree_size']}\n", f"\n{saved['tree_size'] - 1}\n"))
    page.get_by_label("or paste its JSON").fill(json.dumps(edited))
    page.get_by_role("button", name="Check consistency").click()
    page.locator("#consistency-result.error").wait_for()
    assert "signature does not verify" in page.locator("#consistency-result").inner_text()

    # A fork: the log's own key signed another root for the saved size (a split view). The
    # signature checks out; only the consistency proof can tell.
    ledger = server[1].state.service.ledger
    fork = ledger.signer.sign_head(TreeHead(ledger.origin, saved["tree_size"], bytes(range(32)), datetime.now(UTC)))
    page.get_by_label("or paste its JSON").fill(json.dumps(dict(saved, note=fork.note)))
    page.get_by_role("button", name="Check consistency").click()
    page.locator("#consistency-result.error").wait_for()
    text = page.locator("#consistency-result").inner_text()
    assert "do not hash to your saved root" in text, text
    assert "Saved checkpoint signature verified" in page.locator("#consistency-steps").inner_text()
    shot(page, "auditor-4-forked")


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 Merkle tree hash, written out here as the oracle."""
    import hashlib

    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def test_the_browsers_consistency_check_agrees_with_rfc_9162_for_every_small_pair(page, admin):
    """checkpoints.js's fold against proofs of every pair of sizes up to 20: each honest proof
    passes, and each with one hash flipped or the old root swapped fails."""
    import base64

    from candor.provenance.merkle import consistency_ranges

    def b64(h: bytes) -> str:
        return base64.b64encode(h).decode()

    leaves = [f"entry {i}".encode() for i in range(20)]
    cases = []
    for old in range(1, 21):
        for new in range(old, 21):
            proof = [b64(_mth(leaves[a:b])) for a, b in consistency_ranges(old, new)]
            cases.append([old, new, b64(_mth(leaves[:old])), b64(_mth(leaves[:new])), proof])
    sign_in(page, admin.principal("Browser Consistency Oracle", "auditor").token)
    page.goto("/console/audit/checkpoints")
    outcome = page.evaluate(
        """async (cases) => {
            const out = {honest: [], flipped: [], swapped: []};
            for (const [m, n, oldRoot, newRoot, proof] of cases) {
                const p = proof.map(b64decode), a = b64decode(oldRoot), b = b64decode(newRoot);
                const passes = async (...args) => verifyConsistency(...args).then(() => true, () => false);
                if (!(await passes(m, n, a, b, p))) out.honest.push([m, n]);
                if (p.length) {
                    const bad = p.map((h) => h.slice()); bad[bad.length - 1][0] ^= 1;
                    if (await passes(m, n, a, b, bad)) out.flipped.push([m, n]);
                }
                const other = a.slice(); other[31] ^= 1;
                if (await passes(m, n, other, b, p)) out.swapped.push([m, n]);
            }
            return out;
        }""",
        cases,
    )
    assert outcome == {"honest": [], "flipped": [], "swapped": []}, outcome
    assert len(cases) == 210


def test_partner_reads_keys_rotates_the_webhook_secret_and_erases_a_subject(page, server, admin, files):
    caller = admin.key(admin.partner("Browser Account School"), "generate,detect")
    consent_id, _ = _subject(server, caller, files)
    sign_in(page, caller.token)
    page.get_by_role("link", name="Account").click()
    page.wait_for_url(re.compile(r"/console/studio/account$"))
    assert caller.prefix in page.locator("#keys").inner_text()
    check_accessibility(page)
    page.get_by_label(re.compile(r"^Keep the old secret signing for")).fill("12")
    page.get_by_role("button", name="Rotate webhook secret").click()
    secret = page.get_by_label("Webhook secret").input_value()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert page.locator("#old-secret-until").inner_text().startswith("co-signs until")
    check_accessibility(page)
    shot(page, "partner-5-secret")
    page.get_by_role("link", name="← Account").click()
    assert secret not in page.content()
    assert "still co-signs every delivery until" in page.locator("#overlap-state").inner_text()
    shot(page, "partner-6-account")

    page.goto(f"/console/studio/consents/{consent_id}")
    page.get_by_role("link", name=re.compile(r"^Erase Mae Jemison's data")).click()
    items = page.locator("#erase-list").inner_text()
    assert "1 enrolled portrait(s)" in items and "0 generation(s)" in items
    check_accessibility(page)
    shot(page, "partner-7-erase")
    page.get_by_label(re.compile(r"I understand")).check()
    page.get_by_role("button", name="Erase Mae Jemison").click()
    page.get_by_text(re.compile(rf"consent {consent_id} erased: 0 generation\(s\), 1 portrait\(s\)")).wait_for()
    assert "Mae Jemison" not in page.locator("main").inner_text().replace(page.locator(".flash").inner_text(), "")
    headers = {"Authorization": f"Bearer {caller.token}"}
    assert httpx.get(f"{server[0]}/v1/consents/{consent_id}", headers=headers).status_code == 404


def test_analyst_scans_a_stored_generation_and_reads_cues(page, server, admin, files):
    from candor.store.models import Generation

    caller = admin.key(admin.partner("Browser Stored Scan Co"), "generate,detect")
    consent_id, portrait_id = _subject(server, caller, files)
    headers = {"Authorization": f"Bearer {caller.token}"}
    with files["hello.wav"].open("rb") as wav:
        job = httpx.post(
            f"{server[0]}/v1/generations", headers=headers, timeout=60,
            data={"consent_id": consent_id, "portrait_id": portrait_id},
            files={"audio": ("hello.wav", wav, "audio/wav")},
        ).json()  # fmt: skip
    httpx.post(f"{server[0]}/v1/generations/{job['id']}/cancel", headers=headers, timeout=60)
    # Its output in the store: a plain real video (the partner flow's render takes minutes here).
    state = server[1].state.service
    stored = state.files.put_bytes(files["plain.mp4"].read_bytes())
    with state.session_factory() as db:
        row = db.get(Generation, job["id"])
        row.status, row.output_sha256, row.progress, row.error = "succeeded", stored.sha256, 1.0, None
        db.commit()
    sign_in(page, caller.token)
    page.goto("/console/detect")
    check_accessibility(page)
    page.get_by_label(re.compile(r"^Generation id or URL")).fill(f"{server[0]}/v1/generations/{job['id']}/video")
    page.get_by_role("button", name="Check a stored video").click()
    page.wait_for_url(re.compile(r"/console/detect/det_"), timeout=300_000)
    assert page.locator("h1").inner_text() == f"Scan of {job['id']}.mp4"
    assert page.locator("#cues tbody tr").count() >= 1
    assert page.locator("#segments").count() == 1
    check_accessibility(page)
    shot(page, "analyst-3-stored")


def test_operator_adds_an_auditor_and_revokes_its_key(page, admin, server):
    operator = admin.principal("Browser Principal Desk", "operator")
    sign_in(page, operator.token)
    page.locator("#principal_name").fill("Browser Second Auditor")
    page.get_by_label("Role").select_option("auditor")
    page.get_by_role("button", name="Add and issue a key").click()
    token = page.get_by_label("API key").input_value()
    assert token.startswith("cnd_") and page.locator("#key-scopes").inner_text() == "audit:read"
    check_accessibility(page)
    shot(page, "operator-2-auditor")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server[0]}/v1/audit/checkpoint", headers=headers).status_code == 200
    page.get_by_role("link", name=re.compile(r"^← Partners")).click()
    prefix = "_".join(token.split("_")[:2])  # cnd_<visible>; the secret may hold "_" too
    page.get_by_role("button", name=f"Revoke key {prefix}").click()
    page.get_by_text(f"key {prefix} revoked").wait_for()
    assert httpx.get(f"{server[0]}/v1/audit/checkpoint", headers=headers).status_code == 401
    check_accessibility(page)
    shot(page, "operator-3-principals")


@pytest.mark.parametrize("path", ["/console/studio/account", "/console/audit/checkpoints", "/console/detect"])
def test_new_pages_read_at_a_phone_width(browser, server, admin, path):
    caller = admin.key(admin.partner(f"Browser Phone {path.rsplit('/', 1)[1].title()}"), "generate,detect,audit:read")
    context = browser.new_context(base_url=server[0], viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, caller.token)
    page.goto(path)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{path} scrolls sideways at a phone width ({width} px)"
    check_accessibility(page)
    shot(page, f"phone-{path.rsplit('/', 1)[1]}")
    context.close()
