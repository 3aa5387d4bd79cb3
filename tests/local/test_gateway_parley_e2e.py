"""End to end: Parley's real template.yaml and handlers behind the local gateway, over real sockets.

Two users sign up over HTTP, connect with their tokens, join `general`, see each other's presence,
typing and messages, read history, ping; one disconnects and the other sees `offline`. Connections
without a token or with a bad one are refused; bad frames get errors and the socket stays open.
"""

from __future__ import annotations

import asyncio
import json
import re

import boto3
import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.local.conftest import BOTH_WAYS

pytestmark = BOTH_WAYS  # every test here runs with the functions on threads and in their own process


ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


async def next_of(ws, type_: str, timeout: float = 5.0) -> dict:
    """The next frame of this type (frames of other types, e.g. presence, are skipped)."""
    async def wait() -> dict:
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == type_:
                return frame

    return await asyncio.wait_for(wait(), timeout)


async def nothing_more(ws, type_: str, within: float = 0.4) -> None:
    with pytest.raises(TimeoutError):
        await next_of(ws, type_, timeout=within)


async def signup(http: httpx.AsyncClient, username: str) -> dict:
    response = await http.post("/auth/signup", json={"username": username, "password": "correct horse 1"})
    assert response.status_code == 201, response.text
    return response.json()


async def test_two_users_chat(parley):
    async with httpx.AsyncClient(base_url=parley.http_url) as http:
        assert (await http.get("/health")).status_code == 200
        config = (await http.get("/config.json")).json()
        assert config["websocketUrl"] == parley.ws_url  # the template's wss:// URL, rewritten to this gateway
        alice = await signup(http, "alice")
        bob = await signup(http, "bob")

        async with websockets.connect(f"{config['websocketUrl']}?token={alice['token']}") as a, \
                websockets.connect(f"{config['websocketUrl']}?token={bob['token']}") as b:
            await a.send(json.dumps({"action": "join", "room": "general"}))
            joined = await next_of(a, "joined")
            assert joined["room"] == "general"
            assert [u["username"] for u in joined["users"]] == ["alice"]

            await b.send(json.dumps({"action": "join", "room": "general"}))
            joined = await next_of(b, "joined")
            assert sorted(u["username"] for u in joined["users"]) == ["alice", "bob"]
            presence = await next_of(a, "presence")
            assert presence == {"type": "presence", "room": "general", "user": bob["user"], "status": "online"}

            await a.send(json.dumps({"action": "typing", "room": "general", "isTyping": True}))
            typing = await next_of(b, "typing")
            assert typing == {"type": "typing", "room": "general", "user": alice["user"], "isTyping": True}
            await nothing_more(a, "typing")  # not to the typist

            await a.send(json.dumps({"action": "sendMessage", "room": "general", "text": "hi bob", "clientMsgId": "m1"}))
            for ws in (a, b):  # the sender's connection too
                message = (await next_of(ws, "message"))["message"]
                assert message["text"] == "hi bob" and message["user"] == alice["user"]
                assert message["room"] == "general" and message["clientMsgId"] == "m1"
                assert re.fullmatch(r"[0-9a-f]{24}", message["id"]) and ISO_MS.match(message["createdAt"])
            await b.send(json.dumps({"action": "sendMessage", "room": "general", "text": "hello alice"}))
            reply = (await next_of(a, "message"))["message"]
            assert reply["text"] == "hello alice" and reply["clientMsgId"] is None
            await next_of(b, "message")

            await b.send(json.dumps({"action": "history", "room": "general"}))
            history = await next_of(b, "history")
            assert [m["text"] for m in history["messages"]] == ["hi bob", "hello alice"]
            assert history["hasMore"] is False
            over_http = await http.get("/rooms/general/messages", headers={"Authorization": f"Bearer {bob['token']}"})
            assert [m["id"] for m in over_http.json()["messages"]] == [m["id"] for m in history["messages"]]

            await a.send(json.dumps({"action": "ping"}))
            assert await next_of(a, "pong") == {"type": "pong"}

            # bad frames get errors and the socket stays open
            await a.send("this is not json")
            assert (await next_of(a, "error"))["code"] == "invalid_json"
            await a.send(json.dumps({"action": "fly"}))
            assert (await next_of(a, "error"))["code"] == "unknown_action"
            await a.send(json.dumps({"action": "ping"}))
            assert await next_of(a, "pong") == {"type": "pong"}

            await b.close()
            offline = await next_of(a, "presence")
            assert offline == {"type": "presence", "room": "general", "user": bob["user"], "status": "offline"}

        presence = await http.get("/rooms/general/presence", headers={"Authorization": f"Bearer {alice['token']}"})
        assert presence.json()["users"] == []  # alice's $disconnect ran too


async def test_connect_is_refused_without_a_token_or_with_a_bad_one(parley):
    for query, status in (("", 401), ("?token=", 401), ("?token=not.a.jwt", 403)):
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(parley.ws_url + query):
                pass
        assert info.value.response.status_code == status, query


async def test_management_api_reaches_parley_connections(parley):
    async with httpx.AsyncClient(base_url=parley.http_url) as http:
        carol = await signup(http, "carol")
    async with websockets.connect(f"{parley.ws_url}?token={carol['token']}") as ws:
        await ws.send(json.dumps({"action": "join", "room": "general"}))
        await next_of(ws, "joined")
        (connection_id,) = parley.connections
        client = boto3.client(
            "apigatewaymanagementapi", endpoint_url=parley.management_url, region_name="us-east-1",
            **parley.credentials.for_boto3(),  # the local stack's: the gateway checks the signature
        )
        await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b'{"type":"pong"}')
        assert await next_of(ws, "pong") == {"type": "pong"}
