"""Property-based fuzzing of every operation in /openapi.json: no request may yield a 5xx, and
responses must match the documented schemas, status codes and content types.

Bounded: a fixed number of derandomized examples per operation and no shrinking, so the whole
run takes well under a minute on the 2-core machine. (schemathesis' own ``from_fixture``
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

# CANDOR_FUZZ_EXAMPLES=300 for a deeper local run; CI keeps it bounded.
EXAMPLES_PER_OPERATION = int(os.environ.get("CANDOR_FUZZ_EXAMPLES", "25"))
# "Schema-valid request rejected" flags every 422 for a schema-valid request; but decodable
# media, a log size that exists, a use the policy knows cannot be said in JSON Schema, and 422
# is the right answer for them. Everything else (no 5xx, documented statuses, content types,
# response schemas, negative data rejected) is checked.
SEMANTIC_422 = [schemathesis.checks.positive_data_acceptance]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same examples on every run
    database=None,
)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    app = create_app(make_settings(tmp_path_factory.mktemp("fuzz")), start_worker=False)
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

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy())
    def authenticated(case) -> None:  # type: ignore[no-untyped-def]
        # With a valid key the fuzzer reaches the handlers instead of bouncing off the 401.
        case.call_and_validate(headers=headers, excluded_checks=SEMANTIC_422)

    @settings(FUZZ_SETTINGS, max_examples=5)
    @given(case=operation.as_strategy())
    def anonymous(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call()
        assert response.status_code < 500, case.as_curl_command()

    authenticated()
    anonymous()
