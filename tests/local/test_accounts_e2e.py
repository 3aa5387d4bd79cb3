"""Issue 11 over real sockets through the local gateway and Parley's real template: clients at different
loopback addresses (127.0.0.2, 127.0.0.3, …) are different sources to the login throttle; ending a session
closes its open WebSockets; a frame after the token expired gets ``session_ended`` and the socket closes."""

from __future__ import annotations

import asyncio
import json
import time

import boto3
import httpx
import jwt
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

PASSWORD = "correct horse 1"


def client(parley, address: str) -> httpx.AsyncClient:
    """An HTTP client whose requests come from ``address`` (any 127.x.y.z is this machine on Linux)."""
    return httpx.AsyncClient(base_url=parley.http_url, transport=httpx.AsyncHTTPTransport(local_address=address))


async def signup(http: httpx.AsyncClient, username: str) -> dict:
    response = await http.post("/auth/signup", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return response.json()


async def login(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post("/auth/login", json={"username": username, "password": password})


async def closed_within(ws, seconds: float) -> list[dict]:
    """Frames received until the server closed the socket (fails if it stays open)."""
    frames = []

    async def drain() -> None:
        try:
            while True:
                frames.append(json.loads(await ws.recv()))
        except ConnectionClosed:
            return

    await asyncio.wait_for(drain(), seconds)
    return frames


async def test_the_gateway_reports_each_clients_own_address(parley):
    for address in ("127.0.0.2", "127.0.0.3"):
        async with client(parley, address) as http:
            await signup(http, f"user{address[-1]}")
    # a wrong password from 127.0.0.4 is counted under 127.0.0.4 (the peer address, not a header)
    async with client(parley, "127.0.0.4") as http:
        headers = {"X-Forwarded-For": "203.0.113.1"}
        r = await http.post("/auth/login", json={"username": "user2", "password": "nope nope"}, headers=headers)
        assert r.status_code == 401
    from parley.adapters import mongo

    db = mongo.database(parley.function_env["AuthFunction"]["MONGODB_URI"], parley.function_env["AuthFunction"]["MONGODB_DB"])
    seen = sorted(d["_id"] for d in db.login_failures.find({}, {"_id": 1}))
    assert seen == ["addr:127.0.0.4", "name:user2", "pair:user2@127.0.0.4"]
    # and a WebSocket's events carry its own peer address too (requestContext.identity.sourceIp)
    async with client(parley, "127.0.0.3") as http:
        token = (await login(http, "user3")).json()["token"]
    ws = await _connect(parley, token, "127.0.0.5")
    (conn,) = [c for c in parley.connections.values() if c.state == "open"]
    management = boto3.client("apigatewaymanagementapi", endpoint_url=parley.management_url, region_name="us-east-1",
                              **parley.credentials.for_boto3())  # the local stack's: the gateway checks the signature
    info = await asyncio.to_thread(management.get_connection, ConnectionId=conn.id)
    assert info["Identity"]["SourceIp"] == "127.0.0.5"
    await ws.close()


async def test_behind_the_local_cloudfront_each_viewer_is_counted_under_its_own_address(parley):
    """The emulated distribution sends the HTTP API its requests from one edge address (parley_local.cloudfront
    EDGE_ADDRESS, the event's sourceIp) with the viewer's in CloudFront-Viewer-Address and the edge secret: the
    failures are counted under each viewer's address, not the shared edge's; a viewer's own X-Parley-Edge and
    CloudFront-Viewer-Address are replaced by CloudFront's."""
    from parley.adapters import mongo
    from parley_local.cloudfront import EDGE_ADDRESS

    forged = {"X-Parley-Edge": "guessed", "CloudFront-Viewer-Address": "203.0.113.5:1"}
    for address in ("127.0.0.7", "127.0.0.8"):
        async with client(parley, address) as http:
            r = await http.post("/auth/login", json={"username": "nobody", "password": "nope nope"}, headers=forged)
            assert r.status_code == 401
    env = parley.function_env["AuthFunction"]
    seen = {d["_id"] for d in mongo.database(env["MONGODB_URI"], env["MONGODB_DB"]).login_failures.find({}, {"_id": 1})}
    assert {"addr:127.0.0.7", "addr:127.0.0.8"} <= seen
    assert f"addr:{EDGE_ADDRESS}" not in seen and "addr:203.0.113.5" not in seen


async def test_an_attacker_at_another_address_cannot_lock_the_user_out(parley):
    async with client(parley, "127.0.0.2") as user, client(parley, "127.0.0.3") as attacker:
        await signup(user, "alice")
        for _ in range(8):
            assert (await login(attacker, "alice", "guess guess 1")).status_code in (401, 429)
        assert (await login(attacker, "alice")).status_code == 429
        assert (await login(user, "alice")).status_code == 200


async def test_spraying_from_one_address_is_slowed(parley):
    async with client(parley, "127.0.0.5") as sprayer, client(parley, "127.0.0.6") as other:
        statuses = [(await login(sprayer, f"victim{i:02d}", "Summer2024!")).status_code for i in range(40)]
        assert statuses.count(429) >= 15, statuses
        assert (await login(other, "victim00", "Summer2024!")).status_code == 401


async def _connect(parley, token: str, address: str = "127.0.0.2"):
    return await websockets.connect(f"{parley.ws_url}?token={token}", local_addr=(address, 0))


async def test_logout_everywhere_closes_every_open_socket_within_seconds(parley):
    async with client(parley, "127.0.0.2") as http:
        first = await signup(http, "alice")
        second = (await login(http, "alice")).json()
        sockets = [await _connect(parley, first["token"]), await _connect(parley, second["token"])]
        for ws in sockets:
            await ws.send(json.dumps({"action": "join", "room": "general"}))
            assert json.loads(await ws.recv())["type"] == "joined"
        started = time.monotonic()
        r = await http.post("/auth/logout-all", headers={"Authorization": f"Bearer {second['token']}"})
        assert r.status_code == 204
        for ws in sockets:
            await closed_within(ws, 5)
        assert time.monotonic() - started < 5
        with pytest.raises(websockets.exceptions.InvalidStatus):  # and the tokens no longer connect
            await _connect(parley, first["token"])


async def test_logout_closes_this_sessions_socket_and_keeps_the_others(parley):
    async with client(parley, "127.0.0.2") as http:
        first = await signup(http, "alice")
        second = (await login(http, "alice")).json()
        mine, other = await _connect(parley, first["token"]), await _connect(parley, second["token"])
        r = await http.post("/auth/logout", headers={"Authorization": f"Bearer {first['token']}"})
        assert r.status_code == 204
        await closed_within(mine, 5)
        await other.send(json.dumps({"action": "ping"}))
        assert json.loads(await asyncio.wait_for(other.recv(), 5)) == {"type": "pong"}
        await other.close()


async def test_a_frame_after_the_token_expired_gets_session_ended_and_the_socket_closes(parley):
    secret = parley.function_env["AuthFunction"]["JWT_SECRET"]  # the local stack's signing key
    async with client(parley, "127.0.0.2") as http:
        session = await signup(http, "alice")
    claims = jwt.decode(session["token"], secret, algorithms=["HS256"], issuer="parley")
    soon = jwt.encode({**claims, "exp": int(time.time()) + 2}, secret, algorithm="HS256")
    ws = await _connect(parley, soon)
    await ws.send(json.dumps({"action": "join", "room": "general"}))
    assert json.loads(await ws.recv())["type"] == "joined"
    await asyncio.sleep(3.1)
    await ws.send(json.dumps({"action": "sendMessage", "room": "general", "text": "after expiry"}))
    frames = await closed_within(ws, 5)
    assert [f.get("code") for f in frames if f.get("type") == "error"] == ["session_ended"]
    assert not any(f.get("type") == "message" for f in frames)


async def test_a_device_cookie_gets_the_real_user_past_a_distributed_lock_out(parley):
    """Issue 22 §4 over real sockets: the page's log-in sets the device cookie (HttpOnly, SameSite=Strict, only for
    /auth/login, and not Secure on plain-HTTP localhost), then 24 addresses × 5 wrong passwords lock the name out
    for every unknown device, and the same browser, now at a new address, still signs in with its cookie."""
    async with client(parley, "127.0.0.2") as browser:
        await signup(browser, "alice")
        response = await login(browser, "alice")
        assert response.status_code == 200
        # the device cookie (the session cookie, for /auth/session, is issue 23's and set too)
        (set_cookie,) = [c for c in response.headers.get_list("set-cookie") if c.startswith("parley-device=")]
        name, _, rest = set_cookie.partition("=")
        attributes = {a.strip().split("=")[0].lower(): a.strip() for a in rest.split(";")[1:]}
        assert name == "parley-device"  # no __Secure- prefix: it would need Secure, which http:// cannot keep
        assert "httponly" in attributes and attributes["samesite"].lower() == "samesite=strict"
        assert attributes["path"] == "Path=/auth/login" and "secure" not in attributes and "domain" not in attributes
        assert "parley-device" in [c.name for c in browser.cookies.jar]  # a cookie jar keeps it, as a browser does
        jar = browser.cookies
    statuses = []
    for i in range(24):
        async with client(parley, f"127.0.1.{i + 1}") as attacker:
            statuses += [(await login(attacker, "alice", "guess guess 1")).status_code for _ in range(5)]
    assert statuses.count(401) >= 100 and 429 in statuses, statuses  # past the per-name ceiling: locked
    async with client(parley, "127.0.2.1") as stranger:
        assert (await login(stranger, "alice")).status_code == 429  # the right password, no cookie: still waits
    async with httpx.AsyncClient(base_url=parley.http_url, cookies=jar,
                                 transport=httpx.AsyncHTTPTransport(local_address="127.0.2.2")) as moved:
        response = await login(moved, "alice")  # the same browser at a new address
        assert response.status_code == 200, response.text
        assert (await moved.get("/auth/me")).request.headers.get("cookie") is None  # sent to /auth/login only
