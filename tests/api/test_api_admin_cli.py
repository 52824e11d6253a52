"""The operator CLI: partners add/approve/suspend/list and keys issue/revoke/list, checked
against the API they gate (a key works only while its partner is approved and it is not revoked)."""

from __future__ import annotations

import pytest
from api_helpers import make_settings
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from candor.api.app import create_app
from candor.cli import app as cli
from candor.config import get_settings


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CANDOR_ENVIRONMENT", "development")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_vetting_and_key_lifecycle(data_dir):
    code, out, err = run("partners", "add", "Acme Learning", "--use-case", "education")
    assert code == 0 and "pending" in out
    assert "webhook signing secret" in err
    partner_id = out.split()[0]
    assert partner_id.startswith("ptn_")

    code, token, err = run("keys", "issue", "Acme Learning", "--scopes", "generate,audit:read")
    assert code == 0
    token = token.strip()
    assert token.startswith("cnd_") and "shown only once" in err and "pending" in err

    with TestClient(create_app(make_settings(data_dir), start_worker=False)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/generations", headers=headers).status_code == 403  # pending
        assert run("partners", "approve", partner_id)[0] == 0
        assert client.get("/v1/generations", headers=headers).status_code == 200
        assert run("partners", "suspend", "Acme Learning")[0] == 0
        assert client.get("/v1/generations", headers=headers).status_code == 403
        assert run("partners", "approve", "Acme Learning")[0] == 0

        code, listing, _ = run("keys", "list", "Acme Learning")
        prefix = "_".join(token.split("_")[:2])  # cnd_<12 hex>; the secret may hold "_"
        assert code == 0 and prefix in listing and "active" in listing
        assert token not in listing  # the secret is never shown again
        assert run("keys", "revoke", prefix)[0] == 0
        assert client.get("/v1/generations", headers=headers).status_code == 401
        assert "revoked" in run("keys", "list")[1]

    code, listing, _ = run("partners", "list")
    assert code == 0 and "Acme Learning" in listing and "approved" in listing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("partners", "approve", "nobody"), "not found"),
        (("keys", "issue", "nobody"), "not found"),
        (("keys", "revoke", "cnd_000000000000"), "not found"),
        (("partners", "add", "X", "--use-case", "Not A Word!"), "use case"),
    ],
)
def test_bad_operator_input_is_a_message_not_a_traceback(data_dir, args, message):
    code, _, err = run(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_duplicate_partner_and_unknown_scope(data_dir):
    assert run("partners", "add", "Dup", "--use-case", "education")[0] == 0
    code, _, err = run("partners", "add", "Dup", "--use-case", "education")
    assert code == 2 and "already exists" in err
    code, _, err = run("keys", "issue", "Dup", "--scopes", "generate,root")
    assert code == 2 and "scopes" in err


@pytest.mark.slow
def test_candor_serve_answers_on_loopback_and_stops(tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "CANDOR_DATA_DIR": str(tmp_path), "CANDOR_ENVIRONMENT": "development"}
    command = [sys.executable, "-m", "candor.cli", "serve", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).json()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert health is not None, server.stderr.read().decode() if server.poll() is not None else "no answer"
        assert health == {**health, "status": "ok", "database": "ok", "worker": "running"}
        problem = httpx.get(f"http://127.0.0.1:{port}/v1/nope")
        assert problem.status_code == 404
        assert problem.headers["content-type"].startswith("application/problem+json")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught, so -SIGTERM is a clean stop.
    assert server.returncode in (0, -signal.SIGTERM)
    assert b"Traceback" not in server.stderr.read()


def test_partner_keys_never_get_admin_and_principals_get_their_own(data_dir):
    assert run("partners", "add", "Tenant One", "--use-case", "education")[0] == 0
    assert run("partners", "approve", "Tenant One")[0] == 0
    code, out, err = run("keys", "issue", "Tenant One", "--scopes", "generate,admin")
    assert code != 0 and "admin" in err + out and "operators" in err + out
    assert run("keys", "list")[1].count("cnd_") == 0  # nothing was issued

    code, partner_token, err = run("keys", "issue", "Tenant One", "--scopes", "generate,audit:read")
    assert code == 0 and "expires" in err  # the default lifetime (90 days) is stated
    assert run("auditors", "add", "Internal Audit")[0] == 0
    code, auditor_token, err = run("auditors", "key", "Internal Audit", "--expires-in-days", "0")
    assert code == 0 and "never expires" in err
    assert run("operators", "add", "Trust and Safety")[0] == 0
    code, operator_token, _ = run("operators", "key", "Trust and Safety")
    assert code == 0
    assert run("operators", "key", "Internal Audit")[0] != 0  # an auditor is not an operator

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token.strip()}"}

    with TestClient(create_app(make_settings(data_dir), start_worker=False)) as client:
        partner, auditor, operator = bearer(partner_token), bearer(auditor_token), bearer(operator_token)
        assert client.get("/v1/admin/partners", headers=partner).status_code == 403
        assert client.get("/v1/admin/partners", headers=auditor).status_code == 403
        assert client.get("/v1/admin/partners", headers=operator).status_code == 200
        assert client.get("/v1/consents", headers=auditor).status_code == 403  # auditors never generate
        everything = client.get("/v1/audit/entries", headers=auditor, params={"limit": 1000}).json()["entries"]
        own = client.get("/v1/audit/entries", headers=partner, params={"limit": 1000}).json()["entries"]
        assert {e["event_type"] for e in everything} >= {"principal.created", "partner.created"}
        assert 0 < len(own) < len(everything)
        assert not any(e["event_type"] == "principal.created" for e in own)
    listing = run("keys", "list")[1]
    assert "auditor prn_" in listing and "operator prn_" in listing and "expires" in listing


def test_operator_erases_a_consent_and_runs_maintenance(data_dir, consent_pdf, portrait_png):
    from api_helpers import Admin, create_consent, enroll

    with TestClient(create_app(make_settings(data_dir), start_worker=False)) as client:
        admin = Admin(client.app)
        owner = admin.key(admin.partner("Erase Co"), "generate")
        consent = create_consent(client, owner, consent_pdf)
        enroll(client, owner, consent["id"], portrait_png)
        code, out, err = run("consents", "erase", consent["id"], "--yes")
        assert code == 0, err
        assert f"erased {consent['id']}" in out and "1 portrait(s)" in out and "tombstone at log index" in out
        assert client.get(f"/v1/consents/{consent['id']}", headers=owner.headers).status_code == 404
        code, _, err = run("consents", "erase", consent["id"], "--yes")  # gone: a message, no traceback
        assert code == 2 and "not found" in err and "Traceback" not in err
    code, out, _ = run("maintenance", "--retention-days", "30", "--garbage-hours", "0")
    assert code == 0 and "0 output(s) expired" in out
