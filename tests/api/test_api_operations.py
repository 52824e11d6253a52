"""Operating the service: readiness (public; 503 naming the failing check) and the Prometheus job
metrics (operators only), on both database backends."""

from __future__ import annotations

from pathlib import Path

from api_helpers import make_settings
from fastapi.testclient import TestClient

from candor.api.app import create_app


def test_ready_checks_database_schema_and_file_store(client: TestClient) -> None:
    response = client.get("/v1/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "migrations": "ok", "files": "ok"}


def test_metrics_are_for_operators_in_the_prometheus_format(client: TestClient, admin) -> None:  # type: ignore[no-untyped-def]
    operator = admin.principal("Metrics Operator", "operator")
    partner = admin.key(admin.partner("Metrics Partner"), "generate,detect,audit:read")
    assert client.get("/v1/metrics").status_code == 401
    assert client.get("/v1/metrics", headers=partner.headers).status_code == 403  # business figures
    response = client.get("/v1/metrics", headers=operator.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "# TYPE candor_jobs_queue_depth gauge" in text
    assert 'candor_jobs_queue_depth{status="running"} 0.0' in text
    for name in ("candor_job_claim_seconds", "candor_job_render_seconds", "candor_job_queue_wait_seconds"):
        assert f"# TYPE {name} histogram" in text
    assert 'candor_jobs_total{outcome="handed_back"} 0.0' in text


def test_not_ready_names_the_check_that_fails(tmp_path: Path, s3_server) -> None:  # type: ignore[no-untyped-def]
    # The bucket does not exist: the file store check fails, the database ones pass.
    settings = make_settings(tmp_path, storage_url=f"s3://absent-bucket?endpoint={s3_server.endpoint}")
    with TestClient(create_app(settings, start_worker=False)) as test_client:
        response = test_client.get("/v1/ready")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert (body["database"], body["migrations"], body["files"]) == ("ok", "ok", "unavailable")
        assert body["detail"] == "files: unavailable" and body["status"] == 503
        from sqlalchemy import text

        with test_client.app.state.service.engine.begin() as connection:  # as if the schema were older
            connection.execute(text("UPDATE alembic_version SET version_num = '0006'"))
        assert test_client.get("/v1/ready").json()["migrations"] == "behind"
