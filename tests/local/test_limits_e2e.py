"""Issue 11, finding 6, and issue 22, section 2, as they were found: through `make run`'s stack over real sockets,
one connection floods a room, one user floods it from every socket they may open, and one user opens connection
after connection. The limits come from template parameters."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from parley_local.server import LocalGateway
from tests.protocol_check import watch_websockets


@pytest.fixture
async def limited(repo_root, monkeypatch):
    from parley_local.__main__ import STACK_NAME, parley_profile

    monkeypatch.delenv("JWT_SECRET", raising=False)
    env_vars, overrides, _ = parley_profile()
    env_vars["Parameters"]["MONGODB_DB"] = f"parley_test_{uuid.uuid4().hex[:10]}"
    overrides.update(SendMessageLimit="5", MaxConnectionsPerUser="3", CreateRoomLimit="3")
    async with LocalGateway(
        repo_root / "template.yaml", port=0, env_vars=env_vars, parameter_overrides=overrides, stack_name=STACK_NAME
    ) as gateway:
        with watch_websockets():  # every frame against docs/asyncapi.yaml
            yield gateway


async def token(gateway, name: str) -> str:
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=30) as http:
        r = await http.post("/auth/signup", json={"username": name, "password": "correct horse 1"})
        assert r.status_code == 201, r.text
        return r.json()["token"]


async def frames_until_quiet(ws, quiet: float = 1.0) -> list[dict]:
    got = []
    try:
        while True:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
    except TimeoutError:
        return got


async def test_one_connection_flooding_a_room_gets_rate_limited_and_only_the_allowed_messages_go_out(limited):
    alice, bob = await token(limited, "alice"), await token(limited, "bob")
    async with websockets.connect(f"{limited.ws_url}?token={alice}") as a, \
            websockets.connect(f"{limited.ws_url}?token={bob}") as b:
        for ws in (a, b):
            await ws.send(json.dumps({"action": "join", "room": "general"}))
        await frames_until_quiet(b, 0.5)
        for i in range(50):
            await a.send(json.dumps({"action": "sendMessage", "room": "general", "text": "x" * 3900, "clientMsgId": f"c{i}"}))
        to_alice = await frames_until_quiet(a, 3.0)
        to_bob = await frames_until_quiet(b, 1.0)
    refused = [f for f in to_alice if f["type"] == "error"]
    assert len(refused) == 45 and {f["code"] for f in refused} == {"rate_limited"}
    assert all(f["retryAfterMs"] > 0 and f["clientMsgId"].startswith("c") for f in refused)
    delivered = [f["message"]["clientMsgId"] for f in to_bob if f["type"] == "message"]
    assert len(delivered) == 5 and not {f["clientMsgId"] for f in refused} & set(delivered)


async def test_one_user_flooding_from_every_socket_stores_no_more_than_the_per_user_limit(limited):
    """Issue 22: one user with 10 sockets stored 300 messages in ~5 s (30 per socket). Here 3 sockets (the cap),
    the limit 5: before the fix they stored 15; now 5, and createRoom from all of them is limited the same way."""
    alice, bob = await token(limited, "alice"), await token(limited, "bob")
    sockets = [await websockets.connect(f"{limited.ws_url}?token={alice}") for _ in range(3)]
    try:
        async with websockets.connect(f"{limited.ws_url}?token={bob}") as b:
            for ws in (*sockets, b):
                await ws.send(json.dumps({"action": "join", "room": "general"}))
            await frames_until_quiet(b, 0.5)
            for i in range(30):
                frame = {"action": "sendMessage", "room": "general", "text": f"m{i}", "clientMsgId": f"c{i}"}
                await sockets[i % 3].send(json.dumps(frame))
            for i in range(9):
                await sockets[i % 3].send(json.dumps({"action": "createRoom", "room": f"flood-{i}", "kind": "private"}))
            to_alice = [f for ws in sockets for f in await frames_until_quiet(ws, 2.0)]
            to_bob = await frames_until_quiet(b, 1.0)
        delivered = [f for f in to_bob if f["type"] == "message"]
        assert len(delivered) == 5
        refused = [f for f in to_alice if f["type"] == "error"]
        assert {(f["code"], f["action"]) for f in refused} == {("rate_limited", "sendMessage"), ("rate_limited", "createRoom")}
        assert all(f["retryAfterMs"] > 0 for f in refused)
        assert len([f for f in refused if f["action"] == "sendMessage"]) == 25
        assert len([f for f in to_alice if f["type"] == "roomCreated"]) == 3
    finally:
        for ws in sockets:
            await ws.close()


async def test_one_user_cannot_open_more_connections_than_the_cap(limited):
    alice = await token(limited, "alice")
    url = f"{limited.ws_url}?token={alice}"
    opened = [await websockets.connect(url) for _ in range(3)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(url)
        assert refused.value.response.status_code == 429
        await opened[0].close()
        for _ in range(50):  # its $disconnect runs just after the close handshake
            try:
                opened[0] = await websockets.connect(url)  # a closed connection frees its place
                break
            except InvalidStatus:
                await asyncio.sleep(0.1)
        assert opened[0].state is websockets.State.OPEN
    finally:
        for ws in opened:
            await ws.close()


async def test_at_the_cap_a_record_whose_disconnect_never_came_is_found_gone_and_gives_its_place(limited):
    """A connection record the gateway has no socket for (its $disconnect was lost): at the cap, $connect asks the
    gateway's @connections API (GET, SigV4-signed, over HTTP) about the counted connections, forgets the one it
    answers 410 for, tells its room, and lets the new connection in."""
    from datetime import UTC, datetime, timedelta

    from parley.adapters import mongo
    from parley.model import Connection, UserRef

    alice, bob = await token(limited, "alice"), await token(limited, "bob")
    env = limited.function_env["ConnectFunction"]
    store = mongo.MongoConnectionStore(mongo.database(env["MONGODB_URI"], env["MONGODB_DB"]))
    async with websockets.connect(f"{limited.ws_url}?token={bob}") as b:
        await b.send(json.dumps({"action": "join", "room": "general"}))
        await frames_until_quiet(b, 0.5)
        opened = [await websockets.connect(f"{limited.ws_url}?token={alice}") for _ in range(2)]
        try:
            async with httpx.AsyncClient(base_url=limited.http_url, timeout=30) as http:
                alice_id = (await http.get("/auth/me", headers={"Authorization": f"Bearer {alice}"})).json()["id"]
            now = datetime.now(UTC)
            ghost = Connection(id="GHOSTAAAAAAAAAA=", user=UserRef(id=alice_id, username="alice"), rooms=(),
                               connected_at=now - timedelta(minutes=5), expires_at=now + timedelta(hours=1))
            store.add(connection=ghost)
            store.join(connection=ghost, room="general")
            opened.append(await websockets.connect(f"{limited.ws_url}?token={alice}"))  # the cap is 3
            assert store.get(connection_id="GHOSTAAAAAAAAAA=") is None
            told = [f for f in await frames_until_quiet(b, 1.0) if f["type"] == "presence"]
            assert [(f["user"]["username"], f["status"]) for f in told] == [("alice", "offline")]
            with pytest.raises(InvalidStatus) as refused:  # three live ones: the cap holds
                await websockets.connect(f"{limited.ws_url}?token={alice}")
            assert refused.value.response.status_code == 429
        finally:
            for ws in opened:
                await ws.close()
