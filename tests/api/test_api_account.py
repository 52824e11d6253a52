"""The partner's own account and its data subjects over HTTP (issue 14, finding 9): the usage view
shows only the caller's own numbers; erasing a consent removes it and its generations (a second
erasure and another partner's are 404) and leaves a tombstone without the subject's name; an erased
manifest is 410; an expired output is 410; the webhook secret rotates. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_helpers import create_consent, enroll, upload_audio
from sqlalchemy import update

from candor.services.maintenance import run_maintenance
from candor.store.models import Generation, Partner, StoredManifest, utcnow


@pytest.fixture(scope="module")
def tenants(client, admin):  # type: ignore[no-untyped-def]
    a, b = admin.partner("Account A"), admin.partner("Account B")
    return {
        "a": admin.key(a, "generate,detect,audit:read"),
        "a_detect": admin.key(a, "detect"),
        "b": admin.key(b, "generate,detect"),
        "auditor": admin.principal("Account Auditor", "auditor"),
        "operator": admin.principal("Account Operator", "operator"),
    }


def _generation(client, caller, consent_pdf, portrait_png, speech_wav, seed=0):  # type: ignore[no-untyped-def]
    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    audio = upload_audio(client, caller, speech_wav)
    form = {"consent_id": consent["id"], "portrait_id": portrait["id"], "audio_asset_id": audio["id"], "seed": seed}
    response = client.post("/v1/generations", headers=caller.headers, data=form)
    assert response.status_code == 202, response.text
    return consent, response.json()


def test_usage_shows_only_the_callers_own(client, tenants, consent_pdf, portrait_png, speech_wav) -> None:  # type: ignore[no-untyped-def]
    _, mine = _generation(client, tenants["a"], consent_pdf, portrait_png, speech_wav)
    _generation(client, tenants["b"], consent_pdf, portrait_png, speech_wav)
    _generation(client, tenants["b"], consent_pdf, portrait_png, speech_wav, seed=1)
    a = client.get("/v1/usage", headers=tenants["a"].headers)
    assert a.status_code == 200, a.text
    usage = a.json()
    assert usage["partner_id"] == tenants["a"].partner_id
    assert usage["generations_by_status"]["queued"] == 1 and usage["generations_this_month"] == 1
    assert usage["quota"]["used_s"] == pytest.approx(mine["duration_s"], abs=1e-3)
    assert usage["quota"]["remaining_s"] == pytest.approx(usage["quota"]["limit_s"] - usage["quota"]["used_s"])
    b = client.get("/v1/usage", headers=tenants["b"].headers).json()
    assert b["generations_by_status"]["queued"] == 2 and tenants["a"].partner_id not in str(b)
    assert client.get("/v1/usage", headers=tenants["a_detect"].headers).json()["partner_id"] == usage["partner_id"]
    assert client.get("/v1/usage", headers=tenants["operator"].headers).status_code == 403
    assert client.get("/v1/usage", headers=tenants["auditor"].headers).status_code == 403


def test_erasure_over_http(client, tenants, consent_pdf, portrait_png, speech_wav) -> None:  # type: ignore[no-untyped-def]
    a, b = tenants["a"], tenants["b"]
    consent, generation = _generation(client, a, consent_pdf, portrait_png, speech_wav, seed=5)
    state = client.app.state.service
    with state.session_factory() as session:  # the manifest its release would have stored
        session.add(
            StoredManifest(
                manifest_id=f"urn:c2pa:{generation['id']}", generation_id=generation["id"], binding_alg="x",
                binding_value="y", serial=None, manifest_store=b"store", signer_fingerprint="f" * 64,
                signer_subject="CN=t", signed_at=utcnow(),
            )
        )  # fmt: skip
        session.commit()
    assert client.delete(f"/v1/consents/{consent['id']}", headers=b.headers).status_code == 404  # not B's
    response = client.delete(f"/v1/consents/{consent['id']}", headers=a.headers)
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert receipt["consent_id"] == consent["id"] and receipt["generations"] == [generation["id"]]
    assert receipt["portraits"] == 1 and receipt["audio_assets"] == 1 and receipt["manifests_erased"] == 1
    assert client.get(f"/v1/consents/{consent['id']}", headers=a.headers).status_code == 404
    assert client.get(f"/v1/generations/{generation['id']}", headers=a.headers).status_code == 404
    again = client.delete(f"/v1/consents/{consent['id']}", headers=a.headers)
    assert again.status_code == 404 and again.headers["content-type"].startswith("application/problem+json")
    manifest = client.get(f"/v1/manifests/urn:c2pa:{generation['id']}", headers=tenants["auditor"].headers)
    assert manifest.status_code == 410, manifest.text
    # The partner sees its tombstone among its own entries; it names no one.
    entries = client.get("/v1/audit/entries", headers=a.headers, params={"limit": 1000}).json()["entries"]
    tombstone = next(e for e in entries if e["index"] == receipt["log_index"])
    assert tombstone["event_type"] == "consent.erased" and tombstone["subject"] == consent["id"]
    assert "Eileen" not in str(tombstone)


def test_an_expired_output_is_gone(client, tenants, consent_pdf, portrait_png, speech_wav) -> None:  # type: ignore[no-untyped-def]
    a = tenants["a"]
    _, generation = _generation(client, a, consent_pdf, portrait_png, speech_wav, seed=6)
    state = client.app.state.service
    stored = state.files.put_bytes(b"a finished video " + generation["id"].encode())
    with state.session_factory() as session:  # as a worker would have published it, 40 days ago
        session.execute(
            update(Generation)
            .where(Generation.id == generation["id"])
            .values(status="succeeded", output_sha256=stored.sha256, finished_at=utcnow() - timedelta(days=40))
        )
        session.commit()
    assert client.get(f"/v1/generations/{generation['id']}/video", headers=a.headers).status_code == 200
    with state.session_factory() as session:
        report = run_maintenance(session=session, log=state.ledger, files=state.files, retention_days=30)
    assert generation["id"] in report.expired and not state.files.exists(stored.sha256)
    body = client.get(f"/v1/generations/{generation['id']}", headers=a.headers).json()
    assert body["status"] == "expired" and body["expired_at"] and body["video_url"] is None
    gone = client.get(f"/v1/generations/{generation['id']}/video", headers=a.headers)
    assert gone.status_code == 410 and gone.json()["type"].endswith("/gone")


def test_webhook_secret_rotation_over_http(client, tenants) -> None:  # type: ignore[no-untyped-def]
    a = tenants["a"]
    state = client.app.state.service
    with state.session_factory() as session:
        old = session.get(Partner, a.partner_id).webhook_secret
    response = client.post("/v1/webhook-secret/rotate", headers=a.headers)
    assert response.status_code == 200, response.text
    rotated = response.json()
    with state.session_factory() as session:
        partner = session.get(Partner, a.partner_id)
        assert (partner.webhook_secret, partner.webhook_secret_previous) == (rotated["secret"], old)
    assert rotated["previous_valid_until"] is not None
    assert client.post("/v1/webhook-secret/rotate", headers=a.headers, json={"overlap_hours": 500}).status_code == 422
    assert client.post("/v1/webhook-secret/rotate", headers=tenants["a_detect"].headers).status_code == 403
    last = client.post("/v1/webhook-secret/rotate", headers=a.headers, json={"overlap_hours": 0}).json()
    assert last["previous_valid_until"] is None and last["secret"] != rotated["secret"]
