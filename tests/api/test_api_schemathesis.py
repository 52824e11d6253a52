"""Property-based fuzzing of every operation in /openapi.json: no request may yield a 5xx, and
responses must match the documented schemas, status codes and content types.

Bounded: a fixed number of derandomized examples per operation (about 2,000 in all) and no
shrinking, so the whole run stays within make test's budget on the 2-core machine. (schemathesis' own ``from_fixture``
parametrization breaks on pytest 9, so the operations are driven with hypothesis directly;
test_api_authorization asserts the operation list below is every route the app publishes.)"""

from __future__ import annotations

import os

import pytest
import schemathesis
from api_helpers import Admin, make_settings
from hypothesis import HealthCheck, Phase, given, settings
from test_api_authorization import published_operations

from candor.api.app import create_app

# CANDOR_FUZZ_EXAMPLES=300 for a deeper local run; CI keeps it bounded (~90 x 22 operations).
EXAMPLES_PER_OPERATION = int(os.environ.get("CANDOR_FUZZ_EXAMPLES", "90"))
# "Schema-valid request rejected" (ST202) is checked on every operation but these, whose 4xx for a
# schema-valid request depends on what JSON Schema cannot say: media that must decode, the live
# log's size, uses and evidence the deployment's policy requires. For them the check below still
# holds the request validator to the schema (a 422 "validation-error" for a request the schema
# allows means the schema is looser than the server: empty allowed_uses once was one).
CONTENT_DEPENDENT = {
    ("POST", "/v1/consents"): "uses the policy knows, evidence the policy requires",
    ("POST", "/v1/consents/{consent_id}/portraits"): "the image must decode and show one face",
    ("POST", "/v1/assets/audio"): "the audio must decode",
    ("POST", "/v1/generations"): "one of audio or audio_asset_id, existing records, decodable audio",
    ("POST", "/v1/detections"): "the video must decode",
    ("GET", "/v1/audit/proofs/inclusion"): "index and tree_size within the live log",
    ("GET", "/v1/audit/proofs/consistency"): "sizes within the live log",
}
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same examples on every run
    database=None,
)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, database_url):
    # On SQLite and on PostgreSQL: some input is only a 500 on one of them (a NUL byte in text).
    settings = make_settings(tmp_path_factory.mktemp("fuzz"), database_url=database_url)
    app = create_app(settings, start_worker=False)
    app.state.service.migrate()  # schemathesis runs the lifespan itself; the key below needs tables
    return app


@pytest.fixture(scope="module")
def fuzz_key(fuzz_app):
    admin = Admin(fuzz_app)
    return admin.key(admin.partner("Fuzz Partner"), "generate,detect,audit:read")


@pytest.fixture(scope="module")
def operator_key(fuzz_app):
    return Admin(fuzz_app).principal("Fuzz Operator", "operator")  # admin belongs to operators only


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


@pytest.mark.parametrize("endpoint", published_operations(), ids=lambda e: e.id)
def test_fuzz_operation(api_schema, fuzz_key, operator_key, endpoint):
    operation = api_schema[endpoint.path][endpoint.method]
    caller = operator_key if "admin" in endpoint.scopes else fuzz_key
    headers = {"Authorization": f"Bearer {caller.token}"}
    content_dependent = (endpoint.method.upper(), endpoint.path) in CONTENT_DEPENDENT
    excluded = [schemathesis.checks.positive_data_acceptance] if content_dependent else []

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy())
    def authenticated(case) -> None:  # type: ignore[no-untyped-def]
        # With a valid key the fuzzer reaches the handlers instead of bouncing off the 401.
        response = case.call_and_validate(headers=headers, excluded_checks=excluded)
        if response.status_code == 422:
            problem = response.json()
            assert not problem["type"].endswith("/validation-error"), (problem, case.as_curl_command())

    @settings(FUZZ_SETTINGS, max_examples=5)
    @given(case=operation.as_strategy())
    def anonymous(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call()
        assert response.status_code < 500, case.as_curl_command()

    authenticated()
    anonymous()


def test_exemptions_name_real_operations():
    assert set(CONTENT_DEPENDENT) <= {(e.method.upper(), e.path) for e in published_operations()}
