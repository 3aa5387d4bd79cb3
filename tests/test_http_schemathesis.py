"""schemathesis against the HTTP API's own OpenAPI document: no 500s, every response fits the schema.

(schemathesis' pytest fixture loader does not work with this pytest, so each operation's hypothesis
strategy is driven directly; the checks are schemathesis' own, through ``call_and_validate``.)
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemathesis.specs.openapi.checks import positive_data_acceptance

from parley_local.kit import http_event
from tests.support import Stack

# A password the schema allows may still be on the blocklist (zxcvbn: common, breached-style, or containing
# the username) and get 422: no JSON schema can say which, so only there is "valid data accepted" not checked.
# Likewise a display name (sign-up, PATCH /auth/me): its rules (no control or format characters, a visible one,
# 64 code points after NFC) are the server's own check; tests/test_hostile_http.py holds the server to them.
BLOCKLIST_CHECKED = {"POST /auth/signup", "POST /auth/password", "PATCH /auth/me"}


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


# ---------------------------------------------------------------------- issue 22, section 5: hostile input


def _operations() -> list[dict]:
    """Every operation of docs/openapi.json: method, path, its parameters by place, its JSON body's fields."""
    doc = json.loads((Path(__file__).parents[1] / "docs" / "openapi.json").read_text())
    schemas = doc.get("components", {}).get("schemas", {})
    found = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            params = {"path": [], "query": [], "header": []}
            for p in op.get("parameters", []):
                params.setdefault(p["in"], []).append(p["name"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if "$ref" in body:
                body = schemas[body["$ref"].rsplit("/", 1)[1]]
            found.append({"method": method.upper(), "path": path, "params": params,
                          "fields": sorted(body.get("properties", {})) + ["$where", "extra"]})
    return found


def _encoded(value: str) -> str:
    """As a client would put it in a URL: UTF-8, percent-encoded (a lone surrogate as the bytes WTF-8 gives it)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


# Header values as API Gateway hands them over (text: a byte that is not UTF-8 arrives as ISO-8859-1)
header_values = st.one_of(
    st.sampled_from(["", "Bearer ", "Bearer \x00", "Bearer " + "a" * 10_000, "Basic YTpi", "Bearer a.b.c",
                     "Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer \xff\xfe", "bearer  x  y"]),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60).map(lambda s: "Bearer " + s),
)
ENDS_THE_SESSION = {"/auth/logout", "/auth/logout-all", "/auth/refresh"}


def test_every_route_with_hostile_input_answers_below_500(template, management_api, local_env):
    """Every route of docs/openapi.json, signed in and not, with hostile path and query values, headers and bodies
    (raw JSON with lone surrogates, NUL, 10**400, 1e999, NaN, nesting 5,000 deep, wrong types; not JSON; not UTF-8):
    never a 5xx, never a traceback."""
    from tests.hostile import hostile_strings, raw_object, raw_values

    stack = Stack(template, management_api)
    status, body, _ = stack.http("POST", "/auth/signup", {"username": "fuzzer", "password": "quiet lantern ferry 7"})
    assert status == 201
    token = body["token"]
    operations = _operations()
    assert len(operations) >= 13
    tried: dict[str, int] = {}

    bodies = lambda op: st.one_of(  # noqa: E731
        st.none(), raw_object(op["fields"]), raw_values, hostile_strings,
        st.binary(min_size=1, max_size=60).map(lambda b: ("b64", base64.b64encode(b"\xff\xfe" + b).decode())))

    cases = st.sampled_from(operations).flatmap(lambda op: st.fixed_dictionaries({
        "op": st.just(op),
        "path": st.fixed_dictionaries({name: hostile_strings for name in op["params"]["path"]}),
        "query": st.dictionaries(st.sampled_from(op["params"]["query"] + ["x", "limit"]), hostile_strings, max_size=3),
        "auth": st.one_of(st.none(), header_values) if op["path"] in ENDS_THE_SESSION
        else st.one_of(st.just(f"Bearer {token}"), st.none(), header_values),
        "body": bodies(op),
    }))

    @given(case=cases)
    @settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        op = case["op"]
        path = op["path"]
        for name, value in case["path"].items():
            path = path.replace("{" + name + "}", _encoded(value))
        query = "&".join(f"{_encoded(k)}={_encoded(v)}" for k, v in case["query"].items())
        headers = {"content-type": "application/json"}
        if case["auth"] is not None:
            headers["authorization"] = case["auth"]
        body = case["body"]
        event = http_event(op["method"], path, query=query, headers=headers,
                           body=body[1] if isinstance(body, tuple) else body)
        event["isBase64Encoded"] = isinstance(body, tuple)
        reply = stack.invoke("AuthFunction", event)
        text = reply.get("body") or ""
        assert reply["statusCode"] < 500, (op["method"], path[:200], query[:200], str(body)[:300], text[:500])
        assert "Traceback" not in text
        tried[op["method"] + " " + op["path"]] = tried.get(op["method"] + " " + op["path"], 0) + 1

    check()
    assert len(tried) == len(operations), sorted(tried)
