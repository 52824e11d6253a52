"""The authorization matrix: every endpoint x (no key, revoked key, wrong scope, another
partner's resource, suspended partner), plus the allowed call, against real rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from api_helpers import create_consent, enroll, upload_audio
from fastapi.testclient import TestClient

ALL_SCOPES = "generate,detect,audit:read,admin"


@dataclass
class World:
    owner: object  # partner A: all scopes
    revoked: object  # partner A: a revoked key with all scopes
    suspended: object  # partner S (suspended): all scopes
    narrow: dict = field(default_factory=dict)  # scope -> a key of A holding every scope but it
    mine: dict = field(default_factory=dict)  # A's resource ids
    theirs: dict = field(default_factory=dict)  # partner B's resource ids


@pytest.fixture(scope="module")
def world(client: TestClient, admin, portrait_png, speech_wav, consent_pdf, test_video) -> World:
    a = admin.partner("Matrix A")
    b = admin.partner("Matrix B")
    s = admin.partner("Matrix S")
    owner = admin.key(a, ALL_SCOPES)
    revoked = admin.key(a, ALL_SCOPES)
    admin.revoke(revoked)
    suspended = admin.key(s, ALL_SCOPES)
    admin.set_state(s, "suspended")
    scopes = ALL_SCOPES.split(",")
    narrow = {sc: admin.key(a, ",".join(x for x in scopes if x != sc)) for sc in scopes}

    def resources(caller) -> dict:  # type: ignore[no-untyped-def]
        consent = create_consent(client, caller, consent_pdf)
        portrait = enroll(client, caller, consent["id"], portrait_png)
        asset = upload_audio(client, caller, speech_wav)
        response = client.post(
            "/v1/generations",
            headers=caller.headers,
            data={"consent_id": consent["id"], "portrait_id": portrait["id"], "audio_asset_id": asset["id"]},
        )
        assert response.status_code == 202, response.text
        detection = client.post("/v1/detections", headers=caller.headers, files=_video_file(test_video))
        return {
            "consent_id": consent["id"],
            "portrait_id": portrait["id"],
            "asset_id": asset["id"],
            "generation_id": response.json()["id"],
            # A scan needs the detector's checkpoint; without it there is no detection to own.
            "detection_id": detection.json()["id"] if detection.status_code == 201 else None,
        }

    world = World(owner=owner, revoked=revoked, suspended=suspended, narrow=narrow)
    world.mine = resources(owner)
    world.theirs = resources(admin.key(b, ALL_SCOPES))
    return world


def _video_file(video: bytes) -> dict:
    return {"video": ("clip.mp4", video, "video/mp4")}


@pytest.fixture(scope="module")
def test_video(tmp_path_factory) -> bytes:
    """1 s of ffmpeg's test pattern as MP4 (no face: a scan answers cannot_analyse)."""
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=128x128:rate=25:duration=1",
         "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # the route template
    scope: str | None  # None: public
    owned: str | None = None  # the path/form field naming a partner-owned resource


ENDPOINTS = [
    Endpoint("GET", "/v1/health", None),
    Endpoint("POST", "/v1/consents", "generate"),
    Endpoint("GET", "/v1/consents", "generate"),
    Endpoint("GET", "/v1/consents/{consent_id}", "generate", "consent_id"),
    Endpoint("POST", "/v1/consents/{consent_id}/revoke", "generate", "consent_id"),
    Endpoint("POST", "/v1/consents/{consent_id}/portraits", "generate", "consent_id"),
    Endpoint("POST", "/v1/assets/audio", "generate"),
    Endpoint("GET", "/v1/assets/{asset_id}", "generate", "asset_id"),
    Endpoint("POST", "/v1/generations", "generate", "consent_id"),
    Endpoint("GET", "/v1/generations", "generate"),
    Endpoint("GET", "/v1/generations/{generation_id}", "generate", "generation_id"),
    Endpoint("GET", "/v1/generations/{generation_id}/video", "generate", "generation_id"),
    Endpoint("POST", "/v1/generations/{generation_id}/cancel", "generate", "generation_id"),
    Endpoint("GET", "/v1/audit/entries", "audit:read"),
    Endpoint("GET", "/v1/audit/checkpoint", "audit:read"),
    Endpoint("GET", "/v1/audit/proofs/inclusion", "audit:read"),
    Endpoint("GET", "/v1/audit/proofs/consistency", "audit:read"),
    Endpoint("GET", "/v1/manifests/matches/byBinding", "detect"),
    Endpoint("GET", "/v1/manifests/services/supportedAlgorithms", "detect"),
    Endpoint("GET", "/v1/manifests/{manifest_id}", "detect"),
    Endpoint("POST", "/v1/detections", "detect"),
    Endpoint("GET", "/v1/detections/{detection_id}", "detect", "detection_id"),
    Endpoint("GET", "/v1/admin/partners", "admin"),
]
PROTECTED = [e for e in ENDPOINTS if e.scope is not None]
OWNED = [e for e in ENDPOINTS if e.owned is not None]


def _id(e: Endpoint) -> str:
    return f"{e.method} {e.path}"


def test_matrix_covers_every_route(client: TestClient):
    # Every operation the OpenAPI document publishes must be in the matrix.
    paths = client.get("/openapi.json").json()["paths"]
    routes = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert routes == {(e.method, e.path) for e in ENDPOINTS}


def call(
    client: TestClient, e: Endpoint, headers: dict, ids: dict, png: bytes = b"", wav: bytes = b"", video: bytes = b""
):  # type: ignore[no-untyped-def]
    """A well-formed request to ``e`` using the resource ids in ``ids``."""
    ids = {**ids, "detection_id": ids.get("detection_id") or "det_aaaaaaaaaaaaaaaa"}
    path = e.path.format(manifest_id="urn:c2pa:00000000-0000-0000-0000-000000000000", **ids)
    kwargs: dict = {"headers": headers}
    if e.path == "/v1/consents" and e.method == "POST":
        kwargs["data"] = {"subject_name": "X", "subject_is_adult": "true", "allowed_uses": "education"}
        kwargs["files"] = {"evidence_document": ("c.txt", b"I consent.", "text/plain")}
    elif e.path.endswith("/portraits"):
        kwargs["files"] = {"image": ("p.png", png, "image/png")}
    elif e.path == "/v1/assets/audio":
        kwargs["files"] = {"audio": ("a.wav", wav, "audio/wav")}
    elif e.path == "/v1/generations" and e.method == "POST":
        kwargs["data"] = {k: ids[k] for k in ("consent_id", "portrait_id")} | {"audio_asset_id": ids["asset_id"]}
    elif e.path.endswith("/inclusion"):
        kwargs["params"] = {"index": 0}
    elif e.path.endswith("/consistency"):
        kwargs["params"] = {"first": 1}
    elif e.path == "/v1/detections" and e.method == "POST":
        kwargs["files"] = _video_file(video)
    elif e.path.endswith("/byBinding"):
        kwargs["params"] = {"alg": "com.candor.watermark.1", "value": "AAAA"}
    return client.request(e.method, path, **kwargs)


def _problem(response, status: int) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("e", PROTECTED, ids=_id)
def test_no_key_is_401(client, world, e):
    response = call(client, e, {}, world.mine)
    _problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("e", PROTECTED, ids=_id)
def test_garbage_key_is_401(client, world, e):
    _problem(call(client, e, {"X-API-Key": "cnd_000000000000_" + "A" * 43}, world.mine), 401)


@pytest.mark.parametrize("e", PROTECTED, ids=_id)
def test_revoked_key_is_401(client, world, e):
    _problem(call(client, e, world.revoked.headers, world.mine), 401)


@pytest.mark.parametrize("e", PROTECTED, ids=_id)
def test_wrong_scope_is_403(client, world, e):
    response = call(client, e, world.narrow[e.scope].headers, world.mine)
    _problem(response, 403)
    assert e.scope in response.json()["detail"]


@pytest.mark.parametrize("e", PROTECTED, ids=_id)
def test_suspended_partner_is_403(client, world, e):
    response = call(client, e, world.suspended.headers, world.mine)
    _problem(response, 403)
    assert "suspended" in response.json()["detail"]


@pytest.mark.parametrize("e", OWNED, ids=_id)
def test_other_partners_resource_is_404(client, world, portrait_png, speech_wav, e):
    if world.theirs.get(e.owned, "") is None:
        pytest.skip(f"no {e.owned} could be made (the detector has no checkpoint here)")
    # A's key, B's resource id: indistinguishable from an absent one.
    _problem(call(client, e, world.owner.headers, world.theirs, portrait_png, speech_wav), 404)


@pytest.mark.parametrize("e", PROTECTED, ids=_id)
def test_the_right_key_gets_through(client, world, portrait_png, speech_wav, test_video, e):
    if e.path.endswith("/revoke"):
        pytest.skip("revocation is exercised in test_consent_revocation")
    if e.path.endswith("/cancel"):
        pytest.skip("cancelling changes the shared world; exercised in test_api_job_controls")
    response = call(client, e, world.owner.headers, world.mine, portrait_png, speech_wav, test_video)
    assert response.status_code not in (401, 403), response.text
    assert response.status_code < 500


def test_lists_show_only_own_rows(client, world):
    consents = client.get("/v1/consents", headers=world.owner.headers).json()["items"]
    generations = client.get("/v1/generations", headers=world.owner.headers).json()["items"]
    assert world.mine["consent_id"] in {c["id"] for c in consents}
    assert world.theirs["consent_id"] not in {c["id"] for c in consents}
    assert world.mine["generation_id"] in {g["id"] for g in generations}
    assert world.theirs["generation_id"] not in {g["id"] for g in generations}


def test_admin_sees_partners_without_secrets(client, world):
    body = client.get("/v1/admin/partners", headers=world.owner.headers).json()
    states = {p["name"]: p["state"] for p in body["items"]}
    assert states["Matrix A"] == "approved" and states["Matrix S"] == "suspended"
    assert "webhook_secret" not in str(body)
    mine = next(p for p in body["items"] if p["name"] == "Matrix A")
    assert mine["quota_used_s"] > 0  # the generation in the world fixture reserved seconds


def test_health_needs_no_key(client):
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
