"""schemathesis against the HTTP API's own OpenAPI document: no 500s, every response fits the schema.

(schemathesis' pytest fixture loader does not work with this pytest, so each operation's hypothesis
strategy is driven directly; the checks are schemathesis' own, through ``call_and_validate``.)
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support import Stack

# A password the schema allows may still be on the blocklist (zxcvbn: common, breached-style, or containing
# the username) and get 422: no JSON schema can say which, so only there is "valid data accepted" not checked.
BLOCKLIST_CHECKED = {"POST /auth/signup", "POST /auth/password"}


def test_http_api_conforms_to_its_schema(template, management_api, local_env):
    stack = Stack(template, management_api)
    status, body, _ = stack.http("POST", "/auth/signup", {"username": "fuzzer", "password": "quiet lantern ferry 7"})
    assert status == 201
    bearer = {"Authorization": f"Bearer {body['token']}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", stack.modules["AuthFunction"].app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    tried: dict[str, int] = {}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            if not case.headers or "authorization" not in {k.lower() for k in case.headers}:
                case.headers = {**(case.headers or {}), **bearer}  # explore the signed-in paths too
            excluded = [positive_data_acceptance] if operation.label in BLOCKLIST_CHECKED else []
            case.call_and_validate(excluded_checks=excluded)
            tried[operation.label] = tried.get(operation.label, 0) + 1

        check()
    assert len(tried) == len(operations)
