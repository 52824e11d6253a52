"""The authorization matrix, derived from the OpenAPI document: every operation ``app.openapi()``
publishes x every kind of caller, against real rows of two partners.

What an operation needs comes from the document itself: the scopes in its security requirements
(any one suffices; none = public). The expected status of each caller follows from that and from
the roles (``ROLE_SCOPES``): a partner holds generate/detect/audit:read, an auditor audit:read, an
operator admin. Requests are built from the operation's parameters and request-body schema, with
partner A's real objects wherever an id is needed. Partner B's key on A's objects must never get a
2xx that shows anything of A's (0 cross-tenant 2xx).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from api_helpers import Caller, create_consent, enroll, upload_audio
from fastapi.testclient import TestClient

from candor.provenance.watermark import WATERMARK_ALG, binding_value
from candor.store.models import ROLE_SCOPES, utcnow

PARTNER_SCOPES = frozenset(ROLE_SCOPES["partner"])
ALL_PARTNER = ",".join(sorted(PARTNER_SCOPES))
PERSONAS = (
    "no_key", "malformed_key", "revoked_key", "expired_key", "suspended_partner",
    "wrong_scope", "other_partner", "operator", "auditor", "owner",
)  # fmt: skip


# --- the operations, from the document ----------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    scopes: frozenset[str]  # any one suffices; empty: public
    path_params: tuple[str, ...]
    query: dict[str, dict]  # required query parameters -> schema
    body: dict | None  # {"media": ..., "schema": resolved}

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _resolve(doc: dict, schema: dict) -> dict:
    """Follow $ref and merge allOf into one object schema (what FastAPI writes for form bodies)."""
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    merged: dict[str, Any] = {"properties": {}, "required": []}
    for part in [*schema.get("allOf", []), schema]:
        part = _resolve(doc, part) if "$ref" in part else part
        merged["properties"].update(part.get("properties", {}))
        merged["required"] += part.get("required", [])
    return merged


def operations(doc: dict) -> list[Operation]:
    found = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            scopes = frozenset(s for req in op.get("security", []) for names in req.values() for s in names)
            params = op.get("parameters", [])
            body = None
            if "requestBody" in op:
                media, content = next(iter(op["requestBody"]["content"].items()))
                body = {
                    "media": media,
                    "schema": _resolve(doc, content["schema"]) if media != "application/json" else {},
                }
            found.append(
                Operation(
                    method.upper(),
                    path,
                    scopes,
                    tuple(p["name"] for p in params if p["in"] == "path"),
                    {p["name"]: p["schema"] for p in params if p["in"] == "query" and p.get("required")},
                    body,
                )
            )
    return found


def published_operations() -> list[Operation]:
    """The operations of a fresh app's OpenAPI document, for parametrizing at collection time."""
    import tempfile
    from pathlib import Path

    from api_helpers import make_settings

    from candor.api.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        return operations(create_app(make_settings(Path(tmp)), start_worker=False).openapi())


# --- the world: two partners with real objects, and every kind of key -------------------------------


@dataclass
class World:
    keys: dict[str, Caller | dict] = field(default_factory=dict)
    a: dict = field(default_factory=dict)  # partner A's ids and values (the objects every call names)
    spare: dict = field(default_factory=dict)  # A's second consent: for calls that change the object
    a_secrets: list[str] = field(default_factory=list)  # strings a response to B must never contain
    media: dict = field(default_factory=dict)


def _video(tmp_path_factory) -> bytes:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=128x128:rate=25:duration=1",
         "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


@pytest.fixture(scope="module")
def world(client: TestClient, admin, portrait_png, speech_wav, consent_pdf, tmp_path_factory) -> World:
    video = _video(tmp_path_factory)
    a = admin.partner("Matrix A")
    b = admin.partner("Matrix B")
    s = admin.partner("Matrix S")
    owner = admin.key(a, ALL_PARTNER)
    revoked = admin.key(a, ALL_PARTNER)
    admin.revoke(revoked)
    expired = admin.key(a, ALL_PARTNER, expires_in_days=1, now=utcnow() - timedelta(days=2))
    suspended = admin.key(s, ALL_PARTNER)
    admin.set_state(s, "suspended")
    world = World(media={"png": portrait_png, "wav": speech_wav, "pdf": consent_pdf, "mp4": video})
    world.keys = {
        "no_key": {},
        "malformed_key": {"X-API-Key": "not-a-key"},
        "revoked_key": revoked.headers,
        "expired_key": expired.headers,
        "suspended_partner": suspended.headers,
        "other_partner": admin.key(b, ALL_PARTNER).headers,
        "operator": admin.principal("Matrix Operator", "operator").headers,
        "auditor": admin.principal("Matrix Auditor", "auditor").headers,
        "owner": owner.headers,
    }
    # wrong scope: an A key with every partner scope but the ones an operation accepts
    world.keys["narrow"] = {
        frozenset(need): admin.key(a, ",".join(sorted(PARTNER_SCOPES - set(need)))).headers
        for need in ({"generate"}, {"detect"}, {"audit:read"}, {"detect", "audit:read"}, {"generate", "detect"})
    }

    def objects() -> dict:
        consent = create_consent(client, owner, consent_pdf)
        portrait = enroll(client, owner, consent["id"], portrait_png)
        return {"consent_id": consent["id"], "portrait_id": portrait["id"]}

    world.a = objects()
    world.spare = objects()
    asset = upload_audio(client, owner, speech_wav)
    form = {**world.a, "audio_asset_id": asset["id"]}
    generation = client.post("/v1/generations", headers=owner.headers, data=form)
    assert generation.status_code == 202, generation.text
    detection = client.post("/v1/detections", headers=owner.headers, files={"video": ("c.mp4", video, "video/mp4")})
    assert detection.status_code == 201, detection.text
    # A real signed manifest of A's generation, through the service's own release path.
    work = tmp_path_factory.mktemp("sign")
    (work / "raw.mp4").write_bytes(video)
    (work / "portrait.png").write_bytes(portrait_png)
    releaser = client.app.state.service.releaser
    signed = releaser.release_file(
        work / "raw.mp4",
        work / "signed.mp4",
        claim=releaser.claim(generation_id=generation.json()["id"]),
        portrait=work / "portrait.png",
        audio=None,
    )
    world.a |= {
        "audio_asset_id": asset["id"],
        "asset_id": asset["id"],
        "generation_id": generation.json()["id"],
        "detection_id": detection.json()["id"],
        "manifest_id": signed.manifest_id,
        "alg": WATERMARK_ALG,
        "value": binding_value(signed.serial),
    }
    entries = client.get("/v1/audit/entries", headers=world.keys["auditor"], params={"limit": 1000}).json()
    world.a["index"] = next(e["index"] for e in entries["entries"] if e["actor"] == a)
    world.a["first"] = 1
    world.a_secrets = [a, "Matrix A", owner.prefix, signed.manifest_id] + [
        world.a[k] for k in ("consent_id", "portrait_id", "asset_id", "generation_id", "detection_id")
    ]
    return world


# --- one well-formed request, built from the schema ------------------------------------------------

_FILES = {"image": "png", "portrait": "png", "photo": "png", "reference": "png", "audio": "wav", "video": "mp4",
          "recording": "mp4", "evidence": "pdf", "document": "pdf"}  # fmt: skip
_MEDIA_TYPES = {"png": "image/png", "wav": "audio/wav", "mp4": "video/mp4", "pdf": "application/pdf"}
_WORDS = {"allowed_uses": "education", "subject_name": "Matrix Subject"}  # values with a meaning


def _file(name: str, world: World) -> tuple[str, bytes, str]:
    kind = next(v for k, v in _FILES.items() if k in name)
    return (f"{name}.{kind}", world.media[kind], _MEDIA_TYPES[kind])


def _is_file(schema: dict) -> bool:
    options = schema.get("anyOf", [schema])
    return any(o.get("format") == "binary" or "contentMediaType" in o for o in options)


def _value(name: str, schema: dict, ids: dict) -> Any:
    if name in ids:
        return ids[name]
    if name in _WORDS:
        return _WORDS[name]
    schema = next((o for o in schema.get("anyOf", [schema]) if o.get("type") != "null"), schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "boolean":
        return "true"
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    return "x"


def request(client: TestClient, op: Operation, headers: dict, world: World, ids: dict):  # type: ignore[no-untyped-def]
    path = op.path.format(**{p: ids[p] for p in op.path_params})
    kwargs: dict[str, Any] = {"headers": headers, "params": {k: _value(k, s, ids) for k, s in op.query.items()}}
    if op.body is not None and op.body["media"] == "multipart/form-data":
        props, required = op.body["schema"]["properties"], set(op.body["schema"]["required"])
        data: dict[str, Any] = {}
        files: dict[str, Any] = {}
        for name, schema in props.items():
            if _is_file(schema):
                # an optional file goes along unless an id field names the same thing (audio / audio_asset_id)
                if name in required or not any(k.startswith(name + "_") and k in ids for k in props):
                    files[name] = _file(name, world)
            elif name in required or name in ids:
                data[name] = _value(name, schema, ids)
        kwargs |= {"data": data, "files": files}
    return client.request(op.method, path, **kwargs)


# --- the expected status ------------------------------------------------------------------------


def expected(op: Operation, persona: str) -> int | str:
    """A status, or "2xx" for a call that must get through the gate (and "own" for B: through,
    showing nothing of A's)."""
    if not op.scopes:
        return "2xx"
    if persona in ("no_key", "malformed_key", "revoked_key", "expired_key"):
        return 401
    role = {"operator": "operator", "auditor": "auditor"}.get(persona, "partner")
    if not op.scopes & set(ROLE_SCOPES[role]) or persona in ("suspended_partner", "wrong_scope"):
        return 403
    if persona == "other_partner":
        fields = set(op.body["schema"].get("properties", {})) if op.body else set()  # a JSON body: none
        names_a = op.path_params or {"consent_id", "portrait_id"} & fields
        return 404 if names_a or "index" in op.query else "own"
    return "2xx"


def _headers(world: World, op: Operation, persona: str) -> dict:
    if persona == "wrong_scope":
        return world.keys["narrow"].get(op.scopes & PARTNER_SCOPES, world.keys["owner"])
    return world.keys[persona]


@pytest.fixture(scope="module")
def ops(client: TestClient) -> list[Operation]:
    return operations(client.app.openapi())


def test_the_document_declares_who_may_call(ops):
    # A protected operation without scopes in its security requirement would make the matrix vacuous.
    assert len(ops) >= 20
    public = {op.id for op in ops if not op.scopes}
    assert public == {"GET /v1/health", "GET /v1/ready"}  # liveness and readiness probes: no key
    assert all(op.scopes <= {"generate", "detect", "audit:read", "admin"} for op in ops)


@pytest.mark.parametrize("persona", PERSONAS)
def test_matrix(client, world, ops, persona):
    failures = []
    # Revocations, then erasures last: they end the object (A's spare consent) the other writes use.
    for op in sorted(ops, key=lambda o: (o.method == "DELETE", o.path.endswith("/revoke"))):
        want = expected(op, persona)
        mutates = op.method in ("POST", "DELETE") and op.path_params
        ids = world.spare if (persona in ("owner", "auditor", "operator") and mutates) else world.a
        response = request(client, op, _headers(world, op, persona), world, {**world.a, **ids})
        got = response.status_code
        if got >= 500:
            failures.append(f"{op.id}: {got} {response.text[:200]}")
        elif want in ("2xx", "own"):
            # Through the gate: a queued job's video may answer 409, never a denial or "not found".
            if got in (401, 403, 404, 429):
                failures.append(f"{op.id}: want through, got {got} {response.text[:200]}")
            if want == "own":  # B's 2xx: nothing of A's may show
                leaked = [s for s in world.a_secrets if s in response.text]
                if leaked:
                    failures.append(f"{op.id}: partner B's 2xx shows A's {leaked}")
        elif got != want:
            failures.append(f"{op.id}: want {want}, got {got} {response.text[:200]}")
        elif not response.headers["content-type"].startswith("application/problem+json"):
            failures.append(f"{op.id}: {got} is not a problem document")
        elif got == 401 and not response.headers.get("www-authenticate", "").startswith("Bearer"):
            failures.append(f"{op.id}: 401 without WWW-Authenticate")
    assert not failures, "\n".join(failures)


def test_expired_key_says_so(client, world):
    response = client.get("/v1/consents", headers=world.keys["expired_key"])
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_partner_reads_only_its_own_log_entries_with_proofs(client, world):
    theirs = client.get("/v1/audit/entries", headers=world.keys["other_partner"], params={"limit": 1000}).json()
    mine = client.get("/v1/audit/entries", headers=world.keys["owner"], params={"limit": 1000}).json()
    everything = client.get("/v1/audit/entries", headers=world.keys["auditor"], params={"limit": 1000}).json()
    from candor import services

    with client.app.state.service.session_factory() as session:
        keys = {k.id for k in services.list_api_keys(session=session, partner_id="Matrix A")}
    own_ids = set(world.a_secrets) | set(world.spare.values()) | keys
    assert mine["entries"] and len(mine["entries"]) < len(everything["entries"])
    for entry in mine["entries"]:
        assert entry["actor"] in own_ids or entry["subject"] in own_ids, entry
        proof = client.get("/v1/audit/proofs/inclusion", headers=world.keys["owner"], params={"index": entry["index"]})
        assert proof.status_code == 200
        assert (proof.json()["leaf_index"], proof.json()["leaf_hash"]) == (entry["index"], entry["leaf_hash"])
    assert {e["index"] for e in mine["entries"]}.isdisjoint({e["index"] for e in theirs["entries"]})
    assert mine["tree_size"] == everything["tree_size"]  # the size the proofs are against
    paged, start = [], 0
    while start is not None:  # pages of 2 walk the same entries
        page = client.get("/v1/audit/entries", headers=world.keys["owner"], params={"start": start, "limit": 2}).json()
        paged += [e["index"] for e in page["entries"]]
        start = page["next_start"]
    assert paged == [e["index"] for e in mine["entries"]]


def test_operator_lists_partners_and_quota_without_secrets(client, world):
    body = client.get("/v1/admin/partners", headers=world.keys["operator"]).json()
    states = {p["name"]: p["state"] for p in body["items"]}
    assert states["Matrix A"] == "approved" and states["Matrix S"] == "suspended"
    assert "webhook_secret" not in str(body)
    assert next(p for p in body["items"] if p["name"] == "Matrix A")["quota_used_s"] > 0


def test_a_partner_key_can_never_hold_admin(client, admin):
    from candor.errors import InvalidInput

    partner = admin.partner("Would-be Admin")
    with pytest.raises(InvalidInput, match="admin"):
        admin.key(partner, "generate,admin")


def test_a_key_stored_with_admin_before_roles_is_disarmed(client, admin):
    # A partner key row that holds admin (issued before roles existed) still gets 403.
    from candor.store.models import ApiKey

    caller = admin.key(admin.partner("Legacy Admin"), "generate")
    with admin.state.session_factory() as session:
        key = session.query(ApiKey).filter_by(prefix=caller.prefix).one()
        key.scopes = ["admin", "generate"]
        session.commit()
    assert client.get("/v1/admin/partners", headers=caller.headers).status_code == 403


def test_health_needs_no_key(client):
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
