"""The WebSocket API over real sockets: authorizer, $connect, route selection, errors, limits, $disconnect."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.local.conftest import BOTH_WAYS

pytestmark = BOTH_WAYS  # every test here runs with the functions on threads and in their own process


async def refused_status(url: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url):
            pass
    return info.value.response.status_code


async def recv_json(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


# ---------------------------------------------------------------- authorizer and $connect


async def test_missing_identity_source_is_401_without_calling_the_authorizer(gateway, event_log):
    assert await refused_status(gateway.ws_url) == 401
    assert await refused_status(gateway.ws_url + "?token=") == 401
    assert event_log.events("authorize") == []
    assert event_log.events("connect") == []


async def test_authorizer_decisions(gateway, event_log):
    assert await refused_status(gateway.ws_url + "?token=bad") == 403  # policy Deny
    assert await refused_status(gateway.ws_url + "?token=boom") == 401  # raised "Unauthorized"
    assert await refused_status(gateway.ws_url + "?token=crash") == 500  # any other exception
    assert await refused_status(gateway.ws_url + "?token=unknown") == 403  # Allow for another resource only
    assert len(event_log.events("authorize")) == 4
    assert event_log.events("connect") == []  # $connect never ran


async def test_connect_handler_status_refuses_the_handshake(gateway):
    assert await refused_status(gateway.ws_url + "?token=good&refuse=400") == 400
    assert await refused_status(gateway.ws_url + "?token=good&refuse=429") == 429
    assert await refused_status(gateway.ws_url + "?token=good&crash=1") == 500


async def test_connect_can_choose_the_subprotocol(gateway):
    url = gateway.ws_url + "?token=good&protocol=chat.v1"
    async with websockets.connect(url, subprotocols=["chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v1"


async def test_authorizer_context_reaches_every_event_as_strings(gateway, event_log):
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        await ws.send(json.dumps({"action": "inspect"}))
        reply = await recv_json(ws)
    expected = {"principalId": "user-1", "userId": "u1", "count": "7", "admin": "true"}
    (connect,) = event_log.events("connect")
    (disconnect,) = await event_log.wait_for("disconnect")
    contexts = [connect["requestContext"]["authorizer"], reply["authorizer"], disconnect["requestContext"]["authorizer"]]
    # Like events/send-message.json and disconnect.json: the authorizer's integrationLatency (ms, a number) is in
    # the CONNECT, MESSAGE and DISCONNECT events alike, after the context.
    latency = connect["requestContext"]["authorizer"]["integrationLatency"]
    assert isinstance(latency, int) and latency >= 0
    for context in contexts:
        assert context == {**expected, "integrationLatency": latency}
        assert list(context)[-1] == "integrationLatency"


# ---------------------------------------------------------------- routes


async def test_route_selection_and_default_fallback(gateway, event_log):
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        await ws.send(json.dumps({"action": "echo", "n": 1}))
        assert (await recv_json(ws))["route"] == "echo"
        for frame in ("not json", json.dumps({"action": "nope"}), json.dumps({"action": 5}), "[1,2]",
                      json.dumps({"no": "action"}), json.dumps({"action": "$connect"})):
            await ws.send(frame)
            reply = await recv_json(ws)
            assert reply == {"route": "$default", "body": frame, "isBase64Encoded": False}
        await ws.send(b"\x00\x01binary")
        reply = await recv_json(ws)
        assert reply["route"] == "$default" and reply["isBase64Encoded"] is True
        # what a handler returns is not sent (no route response): the next frame is the next reply
        await ws.send(json.dumps({"action": "echo", "n": 2}))
        assert json.loads((await recv_json(ws))["body"])["n"] == 2
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)


async def test_forbidden_without_default_route(start_gateway):
    gateway = await start_gateway(parameter_overrides={"WithDefaultRoute": "false"})
    assert "$default" not in gateway.stack.websocket_api.routes
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        await ws.send(json.dumps({"action": "nope"}))
        reply = await recv_json(ws)
        assert reply["message"] == "Forbidden"
        assert set(reply) == {"message", "connectionId", "requestId"}
        await ws.send(json.dumps({"action": "echo"}))  # the socket stays open
        assert (await recv_json(ws))["route"] == "echo"


async def test_handler_exception_replies_internal_server_error_and_keeps_the_socket(gateway, event_log):
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        await ws.send(json.dumps({"action": "fail"}))
        reply = await recv_json(ws)
        (connect,) = event_log.events("connect")
        (message,) = event_log.events("message")
        assert reply == {
            "message": "Internal server error",
            "connectionId": connect["requestContext"]["connectionId"],
            "requestId": message["requestContext"]["requestId"],
        }
        await ws.send(json.dumps({"action": "echo"}))
        assert (await recv_json(ws))["route"] == "echo"


async def test_handler_timeout_is_an_internal_server_error(gateway):
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        started = time.monotonic()
        await ws.send(json.dumps({"action": "slow", "seconds": 4}))  # MessageFunction Timeout: 3
        reply = await recv_json(ws, timeout=6)
        assert reply["message"] == "Internal server error"
        assert 2.5 < time.monotonic() - started < 4


async def test_slow_handler_does_not_stall_other_connections(gateway):
    async with websockets.connect(gateway.ws_url + "?token=good") as slow_ws, \
            websockets.connect(gateway.ws_url + "?token=good") as fast_ws:
        started = time.monotonic()
        await slow_ws.send(json.dumps({"action": "slow", "seconds": 2.5}))
        await asyncio.sleep(0.1)
        await fast_ws.send(json.dumps({"action": "echo"}))
        assert (await recv_json(fast_ws))["route"] == "echo"
        assert time.monotonic() - started < 1.5  # long before the slow handler is done
        assert (await recv_json(slow_ws))["slept"] == 2.5


# ---------------------------------------------------------------- limits and $disconnect


async def test_message_over_128_kb_closes_with_1009(gateway, event_log):
    async with websockets.connect(gateway.ws_url + "?token=good", max_size=None, compression=None) as ws:
        await ws.send(["x" * (32 * 1024)] * 4)  # exactly the limit, in frames of 32 KB, is accepted
        await recv_json(ws)
        await ws.send(["x" * (32 * 1024)] * 4 + ["x"])  # each frame within 32 KB, the message over 128 KB
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd.code == 1009
    (disconnect,) = await event_log.wait_for("disconnect")
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1009


async def test_frame_over_32_kb_closes_with_1009(gateway, event_log):
    """API Gateway's frame limit: a message of one frame over 32 KB closes the connection, even below 128 KB."""
    async with websockets.connect(gateway.ws_url + "?token=good", max_size=None, compression=None) as ws:
        await ws.send("x" * (32 * 1024))  # one frame of exactly 32 KB is accepted
        assert (await recv_json(ws))["body"] == "x" * (32 * 1024)
        await ws.send("y" * (32 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd.code == 1009
    (disconnect,) = await event_log.wait_for("disconnect")
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1009
    assert not [e for e in event_log.events("message") if "y" * 100 in (e.get("body") or "")]  # never reached a handler


async def test_idle_connection_closes_with_going_away(start_gateway, event_log):
    gateway = await start_gateway(idle_timeout=0.6)
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        for _ in range(4):  # activity keeps it open past the idle timeout
            await asyncio.sleep(0.3)
            await ws.send(json.dumps({"action": "echo"}))
            await recv_json(ws)
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert 0.4 < time.monotonic() - started < 2.5
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (1001, "Going away")
    (disconnect,) = await event_log.wait_for("disconnect")
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1001
    assert disconnect["requestContext"]["disconnectReason"] == "Going away"


async def test_connection_closes_after_the_maximum_duration(start_gateway):
    gateway = await start_gateway(max_connection_duration=1.0)
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as info:
            while True:  # busy all along: only the maximum duration can close it
                await ws.send(json.dumps({"action": "echo"}))
                await recv_json(ws)
                await asyncio.sleep(0.1)
        assert info.value.rcvd.code == 1001
        assert 0.8 < time.monotonic() - started < 2.5


async def test_client_close_runs_disconnect_with_its_code_and_reason(gateway, event_log):
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        await ws.close(code=4001, reason="bye now")
    (disconnect,) = await event_log.wait_for("disconnect")
    assert disconnect["requestContext"]["disconnectStatusCode"] == 4001
    assert disconnect["requestContext"]["disconnectReason"] == "bye now"
    assert gateway.connections == {}


async def test_shutdown_disconnects_every_connection(start_gateway, event_log):
    gateway = await start_gateway()
    first = await websockets.connect(gateway.ws_url + "?token=good")
    second = await websockets.connect(gateway.ws_url + "?token=good")
    await gateway.stop()
    codes = []
    for ws in (first, second):
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        codes.append((info.value.rcvd.code, info.value.rcvd.reason))
    assert codes == [(1001, "Going away")] * 2
    disconnects = event_log.events("disconnect")
    assert len(disconnects) == 2  # delivered before stop() returned
    assert {d["requestContext"]["disconnectStatusCode"] for d in disconnects} == {1001}


async def test_connection_ids_look_like_api_gateways(gateway, event_log):
    for _ in range(3):
        async with websockets.connect(gateway.ws_url + "?token=good"):
            pass
    ids = [e["requestContext"]["connectionId"] for e in event_log.events("connect")]
    assert len(set(ids)) == 3
    for connection_id in ids:
        assert len(connection_id) == 16 and connection_id.endswith("=")
