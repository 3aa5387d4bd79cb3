"""Issue 12, finding 7, end to end: a site listed in AllowedOrigins can sign up, log in and chat from its own
origin; another site cannot. Parley's real template behind the local gateway, which applies the HTTP API's
CorsConfiguration as API Gateway does (preflights answered by the gateway, the function's CORS headers replaced).
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from parley_local.server import LocalGateway
from tests.local.test_gateway_parley_e2e import next_of
from tests.protocol_check import watch_websockets

ALLOWED, OTHER = "https://chat.example.com", "https://evil.example.net"
CREDENTIALS = {"username": "alice", "password": "correct horse 1"}


@pytest.fixture
async def parley_with_origin(repo_root, monkeypatch):
    from parley_local.__main__ import STACK_NAME, parley_profile

    monkeypatch.delenv("JWT_SECRET", raising=False)
    env_vars, overrides, _ = parley_profile()
    env_vars["Parameters"]["MONGODB_DB"] = f"parley_test_{uuid.uuid4().hex[:10]}"
    overrides["AllowedOrigins"] = ALLOWED
    async with LocalGateway(
        repo_root / "template.yaml", port=0, env_vars=env_vars, parameter_overrides=overrides, stack_name=STACK_NAME
    ) as gateway:
        with watch_websockets():  # every frame against docs/asyncapi.yaml
            yield gateway


async def preflight(http: httpx.AsyncClient, path: str, origin: str) -> httpx.Response:
    return await http.options(
        path,
        headers={"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
    )


async def test_an_allowed_origin_logs_in_and_connects_end_to_end(parley_with_origin):
    gateway = parley_with_origin
    async with httpx.AsyncClient(base_url=gateway.http_url) as http:
        for path in ("/auth/signup", "/auth/login"):
            answer = await preflight(http, path, ALLOWED)
            assert answer.status_code == 204 and answer.headers["access-control-allow-origin"] == ALLOWED
            assert "POST" in answer.headers["access-control-allow-methods"].split(",")
            assert "content-type" in answer.headers["access-control-allow-headers"].split(",")
        signup = await http.post("/auth/signup", json=CREDENTIALS, headers={"Origin": ALLOWED})
        assert signup.status_code == 201 and signup.headers["access-control-allow-origin"] == ALLOWED
        login = await http.post("/auth/login", json=CREDENTIALS, headers={"Origin": ALLOWED})
        assert login.status_code == 200 and login.headers["access-control-allow-origin"] == ALLOWED
        token = login.json()["token"]
    async with websockets.connect(f"{gateway.ws_url}?token={token}", origin=ALLOWED) as ws:
        await ws.send(json.dumps({"action": "join", "room": "general"}))
        assert [u["username"] for u in (await next_of(ws, "joined"))["users"]] == ["alice"]


async def test_another_origin_gets_no_cors_headers_and_no_websocket(parley_with_origin):
    gateway = parley_with_origin
    async with httpx.AsyncClient(base_url=gateway.http_url) as http:
        answer = await preflight(http, "/auth/login", OTHER)
        assert "access-control-allow-origin" not in answer.headers  # the browser stops here
        signup = await http.post("/auth/signup", json=CREDENTIALS, headers={"Origin": OTHER})
        assert "access-control-allow-origin" not in signup.headers  # a browser would not let the page read it
        token = signup.json()["token"]  # (a non-browser client is not bound by CORS)
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(f"{gateway.ws_url}?token={token}", origin=OTHER):
            pass
    assert refused.value.response.status_code == 403


async def test_without_allowed_origins_only_this_machine_may_call_locally(parley):
    """The default stack has no CorsConfiguration, so FastAPI's middleware answers (on AWS as well): no other
    site is allowed; in local mode any port on this machine is, as the WebSocket authorizer allows it."""
    async with httpx.AsyncClient(base_url=parley.http_url) as http:
        answer = await preflight(http, "/auth/login", ALLOWED)
        assert answer.status_code == 400 and "access-control-allow-origin" not in answer.headers
        answer = await preflight(http, "/auth/login", "http://localhost:5173")
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "http://localhost:5173"
        health = await http.get("/health", headers={"Origin": ALLOWED})
        assert health.status_code == 200 and "access-control-allow-origin" not in health.headers
