"""The error mapping on its own (a bare app), so the problem+json shape is pinned independently
of the service's routes."""

from fastapi import FastAPI, Query
from fastapi.testclient import TestClient

from candor.api.errors import PROBLEM_MEDIA_TYPE, RateLimited, install_error_handlers
from candor.errors import NoFaceFound, PolicyDenied, Unauthorized


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/policy")
    def policy() -> None:
        raise PolicyDenied("consent.in_scope", "the consent does not allow use 'advertising'")

    @app.get("/face")
    def face() -> None:
        raise NoFaceFound("no face found in the portrait")

    @app.get("/auth")
    def auth() -> None:
        raise Unauthorized("missing API key")

    @app.get("/limited")
    def limited() -> None:
        raise RateLimited("slow down", retry_after_s=0.2)

    @app.get("/bug")
    def bug() -> None:
        raise ZeroDivisionError("a real bug")

    @app.get("/typed")
    def typed(n: int = Query(..., ge=1)) -> dict:
        return {"n": n}

    return app


def _assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert {"type", "title", "status", "instance"} <= body.keys()
    assert body["status"] == status
    return body


def test_policy_denial_names_the_rule():
    body = _assert_problem(TestClient(_app()).get("/policy"), 403)
    assert body["rule_id"] == "consent.in_scope"
    assert body["type"].endswith("/policy-denied")
    assert "advertising" in body["detail"]
    assert body["instance"] == "/policy"


def test_domain_error_keeps_its_status_and_type():
    body = _assert_problem(TestClient(_app()).get("/face"), 422)
    assert body["type"].endswith("/no-face")
    assert "rule_id" not in body


def test_unauthorized_carries_www_authenticate():
    response = TestClient(_app()).get("/auth")
    _assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_rate_limited_rounds_retry_after_up():
    response = TestClient(_app()).get("/limited")
    _assert_problem(response, 429)
    assert response.headers["retry-after"] == "1"


def test_validation_error_is_a_422_problem_listing_fields():
    body = _assert_problem(TestClient(_app()).get("/typed", params={"n": "zero"}), 422)
    assert body["errors"][0]["loc"] == ["query", "n"]
    assert body["detail"].startswith("query.n:")


def test_unknown_route_and_method_are_problems():
    client = TestClient(_app())
    body = _assert_problem(client.get("/nope"), 404)
    assert "/nope" in body["detail"]
    _assert_problem(client.post("/policy"), 405)


def test_bug_is_a_generic_500_without_internals():
    client = TestClient(_app(), raise_server_exceptions=False)
    body = _assert_problem(client.get("/bug"), 500)
    assert "ZeroDivision" not in body["detail"] and "real bug" not in body["detail"]
