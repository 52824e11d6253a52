"""The console's second round for auditors, analysts and operators over TestClient: saved
checkpoints and the consistency proof the browser folds, scanning a stored generation and the
timeline's segments and cues, and an operator managing auditors and operators with their keys."""

from __future__ import annotations

import base64
import re

import pytest
from api_helpers import create_consent, enroll
from fastapi.testclient import TestClient
from test_console import _csrf, sign_in

from candor.api.console.safety import timeline_plot
from candor.detector.timeline import CUE_WORDS


def test_saved_checkpoint_and_the_consistency_proof_verify(client: TestClient, admin):
    from candor.provenance.checkpoint import load_public_key, verify_checkpoint
    from candor.provenance.merkle import verify_consistency

    auditor = sign_in(client, admin.principal("Console Checkpoint Auditor", "auditor").token)
    saved = auditor.get("/console/audit/checkpoint.json")
    assert saved.status_code == 200 and "attachment" in saved.headers["content-disposition"]
    old = verify_checkpoint(saved.json()["note"], load_public_key(saved.json()["public_key_pem"].encode()))
    admin.partner("Console Checkpoint Growth")
    answer = auditor.get(f"/console/audit/consistency?first={old.size}", headers={"Accept": "application/json"}).json()
    key = load_public_key(answer["checkpoint"]["public_key_pem"].encode())
    new = verify_checkpoint(answer["checkpoint"]["note"], key)
    assert new.size > old.size and (answer["first"], answer["second"]) == (old.size, new.size)
    verify_consistency(old.size, new.size, old.root, new.root, [base64.b64decode(h) for h in answer["consistency"]])
    too_far = auditor.get(f"/console/audit/consistency?first={new.size + 50}", headers={"Accept": "application/json"})
    assert too_far.status_code == 409 and "more than the log's latest" in too_far.json()["detail"]
    assert "Download the signed checkpoint" in auditor.get("/console/audit/checkpoints").text
    generate_only = sign_in(client, admin.key(admin.partner("Console Checkpoint Outsider"), "generate").token)
    assert generate_only.get("/console/audit/checkpoint.json").status_code == 403


def test_timeline_shades_segments_and_names_their_cue_in_words():
    classifier = {
        "threshold": 0.5,
        "probability": 0.7,
        "timeline": [{"second": float(s), "probability": p, "samples": 4} for s, p in enumerate([0.2, 0.8, 0.9, 0.3])],
        "segments": [
            {
                "start_s": 1.0,
                "end_s": 3.0,
                "seconds": 2,
                "probability": 0.85,
                "peak_probability": 0.9,
                "cue": "expression motion",
                "cues": {"expression motion": 1.2},
            },
        ],
    }
    plot = timeline_plot(classifier)
    (segment,) = plot["segments"]
    inner = plot["right"] - plot["pad"]
    assert segment["x"] == pytest.approx(plot["pad"] + inner / 4, abs=0.1)  # second 1 of 4
    assert segment["w"] == pytest.approx(inner / 2, abs=0.1)  # two seconds wide
    assert segment["cue_words"] == CUE_WORDS["expression motion"]
    assert timeline_plot({**classifier, "segments": []})["segments"] == []


@pytest.fixture(scope="module")
def plain_mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """2 s of a slow pan over a real photo (never generated), H.264."""
    import av
    import numpy as np
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("plain") / "plain.mp4"
    still = np.asarray(Image.fromarray(data.astronaut()).resize((320, 320)))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        for i in range(50):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(still[i : i + 256, i : i + 256]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path.read_bytes()


def test_scan_a_stored_generation_by_its_url(
    client: TestClient, admin, consent_pdf, portrait_png, speech_wav, plain_mp4
):
    from candor.store.models import Generation

    caller = admin.key(admin.partner("Console Stored Scan Co"), "generate,detect")
    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    job = client.post(
        "/v1/generations", headers=caller.headers, data={"consent_id": consent["id"], "portrait_id": portrait["id"]},
        files={"audio": ("hello.wav", speech_wav, "audio/wav")},
    ).json()  # fmt: skip
    browser = sign_in(client, caller.token)
    page = browser.get("/console/detect")
    assert "Check a stored video" in page.text
    token = _csrf(page.text)
    queued = browser.post("/console/detect/stored", data={"source": job["id"], "csrf_token": token})
    assert queued.status_code == 409 and "no video to scan" in queued.text
    assert browser.post("/console/detect/stored", data={"source": "hello", "csrf_token": token}).status_code == 422
    rival = sign_in(client, admin.key(admin.partner("Console Stored Rival"), "generate,detect").token)
    rival_token = _csrf(rival.get("/console/detect").text)
    assert (
        rival.post("/console/detect/stored", data={"source": job["id"], "csrf_token": rival_token}).status_code == 404
    )
    detect_only = sign_in(client, admin.key(admin.partner("Console Stored Detect Only"), "detect").token)
    detect_page = detect_only.get("/console/detect").text
    assert "Check a stored video" not in detect_page
    refused = detect_only.post("/console/detect/stored", data={"source": job["id"], "csrf_token": _csrf(detect_page)})
    assert refused.status_code == 403

    # The job's output in the store: a real (plain) video, as the worker would have published one.
    state = client.app.state.service
    stored = state.files.put_bytes(plain_mp4)
    with state.session_factory() as db:
        row = db.get(Generation, job["id"])
        row.status, row.output_sha256, row.progress = "succeeded", stored.sha256, 1.0
        db.commit()
    url = f"http://testserver/console/studio/generations/{job['id']}"
    done = browser.post("/console/detect/stored", data={"source": url, "csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and re.match(r"/console/detect/det_", done.headers["location"])
    report = browser.get(done.headers["location"]).text
    assert f"Scan of {job['id']}.mp4" in report
    assert 'id="verdict">Candor-generated' not in report  # a plain video: no credentials, no watermark
    assert re.search(r'<table id="cues">.*?</table>', report, re.S), "the cue shares table"
    cue_rows = re.findall(r"<tr><td>([^<]+)</td><td>[+-]\d\.\d\d</td></tr>", report)
    assert cue_rows and set(cue_rows) <= set(CUE_WORDS.values())
    assert 'id="segments"' in report


def test_operator_adds_an_auditor_issues_and_revokes_its_keys(client: TestClient, admin):
    ops = sign_in(client, admin.principal("Console Principal Desk", "operator").token)
    page = ops.get("/console/operator")
    assert 'id="principals"' in page.text and "Console Principal Desk" in page.text
    token = _csrf(page.text)
    assert ops.post("/console/operator/principals", data={"name": "Nobody", "role": "auditor"}).status_code == 403
    bad_role = ops.post("/console/operator/principals", data={"name": "Root", "role": "partner", "csrf_token": token})
    assert bad_role.status_code == 422
    added = ops.post(
        "/console/operator/principals",
        data={"name": "Console New Auditor", "role": "auditor", "expires_in_days": "7", "csrf_token": token},
    )
    assert added.status_code == 201 and "Key issued for Console New Auditor (auditor)" in added.text
    first = re.search(r'value="(cnd_[^"]+)"', added.text).group(1)
    assert re.search(r'id="key-scopes">audit:read<', added.text)
    assert client.get("/v1/audit/checkpoint", headers={"Authorization": f"Bearer {first}"}).status_code == 200
    again = ops.post(
        "/console/operator/principals", data={"name": "Console New Auditor", "role": "auditor", "csrf_token": token}
    )
    assert again.status_code == 409

    listing = ops.get("/console/operator").text
    principal_id = re.search(r"Console New Auditor<br><span class=\"hint\">(prn_\w+)</span>", listing).group(1)
    second = ops.post(f"/console/operator/principals/{principal_id}/keys", data={"csrf_token": token})
    assert second.status_code == 201
    second_token = re.search(r'value="(cnd_[^"]+)"', second.text).group(1)
    prefix = "_".join(first.split("_")[:2])  # cnd_<visible>; the secret may hold "_" too
    key_id = re.search(
        rf'action="/console/operator/keys/(key_\w+)/revoke"[^<]*<input[^>]*>\s*<button[^>]*{prefix}', listing
    )
    assert key_id, "a revoke button for the first key"
    revoked = ops.post(f"/console/operator/keys/{key_id.group(1)}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 200 and f"key {prefix} revoked" in revoked.text
    assert client.get("/v1/audit/checkpoint", headers={"Authorization": f"Bearer {first}"}).status_code == 401
    assert client.get("/v1/audit/checkpoint", headers={"Authorization": f"Bearer {second_token}"}).status_code == 200
    assert ops.post("/console/operator/keys/key_nonexistent/revoke", data={"csrf_token": token}).status_code == 404

    auditor = sign_in(client, second_token)
    assert auditor.post("/console/operator/principals", data={"name": "X", "role": "operator"}).status_code == 403
    assert auditor.get("/console/operator").status_code == 403
