"""The partner journey through the API with real media: consent, portrait, audio, generation."""

from __future__ import annotations

from api_helpers import create_consent, enroll, upload_audio
from fastapi.testclient import TestClient


def test_consent_portrait_audio_generation(client: TestClient, admin, portrait_png, speech_wav, consent_pdf):
    caller = admin.key(admin.partner("Flow School"), "generate")
    consent = create_consent(client, caller, consent_pdf)
    assert consent["status"] == "active"
    assert consent["evidence"][0]["kind"] == "document"
    portrait = enroll(client, caller, consent["id"], portrait_png)
    assert portrait["face_summary"]["faces_found"] == 1
    asset = upload_audio(client, caller, speech_wav)
    assert 1.0 < asset["duration_s"] < 5.0

    response = client.post(
        "/v1/generations",
        headers=caller.headers,
        data={"consent_id": consent["id"], "portrait_id": portrait["id"], "audio_asset_id": asset["id"]},
    )
    assert response.status_code == 202, response.text
    generation = response.json()
    assert generation["status"] == "queued"
    assert response.headers["location"] == f"/v1/generations/{generation['id']}"
    polled = client.get(f"/v1/generations/{generation['id']}", headers=caller.headers)
    assert polled.status_code == 200
    assert polled.json()["id"] == generation["id"]


def test_openapi_document_and_docs_page(client: TestClient):
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert {"BearerKey", "HeaderKey"} <= spec["components"]["securitySchemes"].keys()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            errors = {k: v for k, v in operation["responses"].items() if k == "default" or k.startswith(("4", "5"))}
            assert errors, f"{method} {path} documents no error responses"
            for response in errors.values():
                assert "application/problem+json" in response["content"], (method, path)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
