"""Consent records over HTTP: revocation blocks generation at once, portraits need one real face."""

from __future__ import annotations

import io

import numpy as np
import pytest
from api_helpers import create_consent, enroll, upload_audio
from PIL import Image


@pytest.fixture(scope="module")
def caller(admin):
    return admin.key(admin.partner("Consent Clinic", use_case="healthcare"), "generate")


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def _generate(client, caller, consent_id, portrait_id, asset_id):
    return client.post(
        "/v1/generations",
        headers=caller.headers,
        data={"consent_id": consent_id, "portrait_id": portrait_id, "audio_asset_id": asset_id, "use": "education"},
    )


def test_revocation_blocks_generation_at_once(client, caller, portrait_png, speech_wav, consent_pdf):
    consent = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, consent["id"], portrait_png)
    asset = upload_audio(client, caller, speech_wav)
    assert _generate(client, caller, consent["id"], portrait["id"], asset["id"]).status_code == 202

    revoked = client.post(
        f"/v1/consents/{consent['id']}/revoke", headers=caller.headers, json={"reason": "subject withdrew"}
    )
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revocation_reason"] == "subject withdrew"

    denied = _generate(client, caller, consent["id"], portrait["id"], asset["id"])
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")
    assert denied.json()["rule_id"] == "consent.not_revoked"
    # The refusal is on the record.
    assert client.get(f"/v1/consents/{consent['id']}", headers=caller.headers).json()["status"] == "revoked"


def test_use_outside_consent_is_denied_by_rule(client, caller, portrait_png, speech_wav, consent_pdf):
    consent = create_consent(client, caller, consent_pdf, allowed_uses="communication")
    portrait = enroll(client, caller, consent["id"], portrait_png)
    asset = upload_audio(client, caller, speech_wav)
    denied = _generate(client, caller, consent["id"], portrait["id"], asset["id"])
    assert denied.status_code == 403
    assert denied.json()["rule_id"] == "consent.use_in_scope"


def test_portrait_of_another_consent_is_refused(client, caller, portrait_png, speech_wav, consent_pdf):
    first = create_consent(client, caller, consent_pdf)
    second = create_consent(client, caller, consent_pdf)
    portrait = enroll(client, caller, first["id"], portrait_png)
    asset = upload_audio(client, caller, speech_wav)
    denied = _generate(client, caller, second["id"], portrait["id"], asset["id"])
    assert denied.status_code == 403
    assert denied.json()["rule_id"] == "portrait.enrolled"


def test_consent_needs_evidence_and_a_guardian_for_minors(client, caller, consent_pdf):
    no_evidence = client.post(
        "/v1/consents",
        headers=caller.headers,
        data={"subject_name": "A", "subject_is_adult": "true", "allowed_uses": "education"},
    )
    assert no_evidence.status_code == 422
    assert "evidence" in no_evidence.json()["detail"]
    minor = client.post(
        "/v1/consents",
        headers=caller.headers,
        data={"subject_name": "A", "subject_is_adult": "false", "allowed_uses": "education"},
        files={"evidence_document": ("c.pdf", consent_pdf, "application/pdf")},
    )
    assert minor.status_code == 422
    assert "guardian" in minor.json()["detail"]
    guarded = create_consent(
        client, caller, consent_pdf, subject_is_adult="false", guardian_name="P. Parent", guardian_consent="true"
    )
    assert guarded["guardian_consent"] is True


def test_expiry_must_be_in_the_future(client, caller, consent_pdf):
    response = client.post(
        "/v1/consents",
        headers=caller.headers,
        data={
            "subject_name": "A",
            "subject_is_adult": "true",
            "allowed_uses": "education",
            "expires_at": "2020-01-01T00:00:00Z",
        },
        files={"evidence_document": ("c.pdf", consent_pdf, "application/pdf")},
    )
    assert response.status_code == 422
    assert "future" in response.json()["detail"]


@pytest.mark.parametrize(
    ("make", "status", "slug", "words"),
    [
        ("two_faces", 422, "multiple-faces", "2 faces"),
        ("no_face", 422, "no-face", "no face"),
        ("corrupt", 422, "invalid-image", "corrupt"),
        ("text", 422, "invalid-image", "not an image"),
        ("bomb", 413, "image-too-large", "400 MP"),
        ("tiny", 422, "invalid-image", "too small"),
        ("truncated", 422, "invalid-image", "corrupt"),
    ],
)
def test_bad_portraits_are_clear_4xx(client, caller, consent_pdf, portrait_png, make, status, slug, words):
    from skimage import data

    images = {
        "two_faces": lambda: _png(np.concatenate([data.astronaut(), data.astronaut()], axis=1)),
        "no_face": lambda: _png(data.coffee()),
        "corrupt": lambda: b"\x89PNG\r\n\x1a\n" + b"not really" * 10,
        "text": lambda: b"hello, I am not a picture",
        "bomb": lambda: _png(np.zeros((20000, 20000), np.uint8)),  # 400 MP that compresses to ~400 KB
        "tiny": lambda: _png(np.zeros((8, 8, 3), np.uint8)),
        "truncated": lambda: portrait_png[: len(portrait_png) // 2],
    }
    consent = create_consent(client, caller, consent_pdf)
    response = client.post(
        f"/v1/consents/{consent['id']}/portraits",
        headers=caller.headers,
        files={"image": ("p.png", images[make](), "image/png")},
    )
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"].endswith(slug)
    assert words in body["detail"]


def test_portrait_with_wrong_content_type_is_415(client, caller, consent_pdf, portrait_png):
    consent = create_consent(client, caller, consent_pdf)
    response = client.post(
        f"/v1/consents/{consent['id']}/portraits",
        headers=caller.headers,
        files={"image": ("p.txt", portrait_png, "text/plain")},
    )
    assert response.status_code == 415
    assert "image" in response.json()["detail"]


def test_list_pages_with_a_cursor(client, admin, consent_pdf):
    caller = admin.key(admin.partner("Pager"), "generate")
    made = [create_consent(client, caller, consent_pdf, subject_name=f"S{i}")["id"] for i in range(3)]
    first = client.get("/v1/consents", headers=caller.headers, params={"limit": 2}).json()
    assert [c["id"] for c in first["items"]] == made[::-1][:2]
    cursor = first["page"]["next_cursor"]
    second = client.get("/v1/consents", headers=caller.headers, params={"limit": 2, "cursor": cursor}).json()
    assert [c["id"] for c in second["items"]] == [made[0]]
    assert second["page"]["next_cursor"] is None
