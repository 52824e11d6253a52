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


# --- consent bound to a face; evidence checked (issue 14, findings 3 and 4) ----------------------


@pytest.fixture(scope="module")
def grace_png() -> bytes:
    import matplotlib.cbook

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as img:
        return _png(np.asarray(img.convert("RGB")))


def test_a_portrait_must_be_the_consenting_subjects_face(client, caller, consent_pdf, portrait_png, grace_png):
    astronaut = create_consent(client, caller, consent_pdf, subject_name="Astronaut")
    grace = create_consent(client, caller, consent_pdf, reference=grace_png, subject_name="Grace")
    assert astronaut["reference_sha256"] and grace["reference_sha256"] != astronaut["reference_sha256"]
    accepted = enroll(client, caller, astronaut["id"], portrait_png)
    assert accepted["identity_distance"] < 0.05

    for consent, image in ((grace, portrait_png), (astronaut, grace_png)):
        refused = client.post(
            f"/v1/consents/{consent['id']}/portraits",
            headers=caller.headers,
            files={"image": ("p.png", image, "image/png")},
        )
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("portrait-identity-mismatch")
        assert "identity distance" in refused.json()["detail"]
    portraits = client.get(f"/v1/consents/{grace['id']}", headers=caller.headers).json()["portraits"]
    assert portraits == []


def test_a_consent_recorded_without_a_reference_gets_one_once(client, caller, consent_pdf, portrait_png, grace_png):
    legacy = client.post(
        "/v1/consents",
        headers=caller.headers,
        data={"subject_name": "Earlier", "subject_is_adult": "true", "allowed_uses": "education"},
        files={"evidence_document": ("c.pdf", consent_pdf, "application/pdf")},
    ).json()
    assert legacy["reference_sha256"] is None
    blocked = client.post(
        f"/v1/consents/{legacy['id']}/portraits",
        headers=caller.headers,
        files={"image": ("p.png", portrait_png, "image/png")},
    )
    assert blocked.status_code == 409
    assert blocked.json()["type"].endswith("consent-reference-required")
    added = client.post(
        f"/v1/consents/{legacy['id']}/reference",
        headers=caller.headers,
        files={"reference": ("p.png", portrait_png, "image/png")},
    )
    assert added.status_code == 200, added.text
    assert added.json()["reference_sha256"]
    again = client.post(
        f"/v1/consents/{legacy['id']}/reference",
        headers=caller.headers,
        files={"reference": ("g.png", grace_png, "image/png")},
    )
    assert again.status_code == 409
    assert enroll(client, caller, legacy["id"], portrait_png)["identity_distance"] < 0.05


def _zip() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("form.txt", "a zip, not a PDF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("field", "name", "content", "media_type", "status", "slug"),
    [
        ("evidence_document", "consent.pdf", b"", "application/pdf", 422, "invalid-evidence"),
        ("evidence_document", "consent.pdf", "zip", "application/pdf", 415, "evidence-type-mismatch"),
        ("evidence_document", "consent.pdf", "zip", "application/octet-stream", 415, "evidence-type-mismatch"),
        ("evidence_recording", "consent.wav", b"RIFF\x04\x00\x00\x00WAVEfmt ", "audio/wav", 422, "invalid-evidence"),
        ("evidence_recording", "consent.mp4", "pdf", "video/mp4", 415, "evidence-type-mismatch"),
        ("reference", "subject.png", "pdf", "image/png", 415, "evidence-type-mismatch"),
        ("reference", "subject.png", "coffee", "image/png", 422, "no-face"),
        ("reference", "subject.mp4", b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64, "video/mp4", 422, "invalid-evidence"),
    ],
    ids=[
        "empty-pdf",
        "zip-as-pdf",
        "zip-as-octet-stream",
        "broken-wav",
        "pdf-as-mp4",
        "pdf-as-reference",
        "faceless-reference",
        "broken-video",
    ],
)
def test_evidence_that_is_empty_or_not_what_it_claims_is_refused(
    client, caller, consent_pdf, field, name, content, media_type, status, slug
):
    from skimage import data

    named = {"zip": _zip, "pdf": lambda: consent_pdf, "coffee": lambda: _png(data.coffee())}
    content = named[content]() if isinstance(content, str) else content
    files = {field: (name, content, media_type)}
    if field != "evidence_document":
        files["evidence_document"] = ("c.pdf", consent_pdf, "application/pdf")
    before = client.get("/v1/consents", headers=caller.headers, params={"limit": 200}).json()["items"]
    response = client.post(
        "/v1/consents",
        headers=caller.headers,
        data={"subject_name": "Evidence", "subject_is_adult": "true", "allowed_uses": "education"},
        files=files,
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(slug)
    after = client.get("/v1/consents", headers=caller.headers, params={"limit": 200}).json()["items"]
    assert len(after) == len(before)  # no consent was recorded
