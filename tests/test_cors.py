"""CORS on the HTTP API function (FastAPI's CORSMiddleware), through Mangum with HTTP API events.

On AWS, API Gateway's CorsConfiguration answers instead (tests/local/test_gateway_cors.py drives that
through the local gateway); the middleware applies the same rule wherever the app runs without it.
"""

from __future__ import annotations

import json

import pytest

from tests.support import Stack, real_event

ALLOWED, OTHER = "https://chat.example.com", "https://evil.example.net"


@pytest.fixture
def stack(template, management_api, local_env, monkeypatch) -> Stack:
    monkeypatch.setenv("ALLOWED_ORIGINS", f"https://abc123.execute-api.us-east-1.amazonaws.com,{ALLOWED}")
    return Stack(template, management_api)


def call(stack, method: str, path: str, headers: dict, body: dict | None = None) -> tuple[int, dict]:
    event = real_event("http-signup.json")
    event["rawPath"], event["rawQueryString"] = path, ""
    event["requestContext"]["http"].update(method=method, path=path)
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["headers"] = {"host": "abc123.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https", **headers}
    if body is not None:
        event["headers"]["content-type"] = "application/json"
    event["body"] = json.dumps(body) if body is not None else None
    reply = stack.invoke("AuthFunction", event)
    return reply["statusCode"], {k.lower(): v for k, v in (reply.get("headers") or {}).items()}


def preflight(origin: str) -> dict:
    return {"origin": origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type"}


def test_an_allowed_origin_passes_the_preflight_and_reads_the_login_reply(stack):
    status, headers = call(stack, "OPTIONS", "/auth/signup", preflight(ALLOWED))
    assert status == 200 and headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in headers["access-control-allow-methods"] and "content-type" in headers["access-control-allow-headers"]
    body = {"username": "alice", "password": "correct horse"}
    status, headers = call(stack, "POST", "/auth/signup", {"origin": ALLOWED}, body)
    assert status == 201 and headers["access-control-allow-origin"] == ALLOWED
    status, headers = call(stack, "POST", "/auth/login", {"origin": ALLOWED}, body)
    assert status == 200 and headers["access-control-allow-origin"] == ALLOWED
    assert "retry-after" in headers["access-control-expose-headers"]


def test_another_origin_gets_no_cors_headers(stack):
    status, headers = call(stack, "OPTIONS", "/auth/login", preflight(OTHER))
    assert status == 400 and "access-control-allow-origin" not in headers
    status, headers = call(stack, "GET", "/health", {"origin": OTHER})
    assert status == 200 and "access-control-allow-origin" not in headers


def test_the_websocket_authorizer_follows_the_same_setting(stack):
    from parley import origins
    from parley.config import Settings

    settings = Settings.from_env()
    assert origins.listed(settings, ALLOWED) and origins.websocket_allowed(settings, ALLOWED)
    assert not origins.listed(settings, OTHER) and not origins.websocket_allowed(settings, OTHER)
    assert origins.listed(settings, "http://localhost:5173")  # local mode: this machine, any port


def test_the_authorizer_allows_the_stacks_own_page_and_only_it_by_default(stack):
    """On AWS the authorizer gets PAGE_ORIGIN (the CloudFront distribution serving the page) and ALLOWED_ORIGINS
    empty by default."""
    import dataclasses

    from parley import origins
    from parley.config import Settings

    page = "https://d111111abcdef8.cloudfront.net"
    aws = dataclasses.replace(Settings.from_env(), env="aws", allowed_origins=(), page_origin=page)
    assert origins.websocket_allowed(aws, page) and origins.websocket_allowed(aws, page + "/")
    for other in (ALLOWED, OTHER, "http://localhost:5173", page + ".evil.example.net", "https://d111111abcdef8.cloudfront.ne",
                  "https://abc123.execute-api.us-east-1.amazonaws.com"):
        assert not origins.websocket_allowed(aws, other), other
    listed = dataclasses.replace(aws, allowed_origins=(ALLOWED,))
    assert origins.websocket_allowed(listed, ALLOWED) and origins.websocket_allowed(listed, page)
    assert not origins.websocket_allowed(listed, OTHER)
    nothing = dataclasses.replace(aws, page_origin=None)  # a stack with neither configured refuses no Origin
    assert origins.websocket_allowed(nothing, OTHER)
