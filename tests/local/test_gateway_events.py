"""The events the gateway hands to Lambda have the keys of the real captured ones in events/."""

from __future__ import annotations

import asyncio
import json
import re
import time

import websockets

from tests.local.conftest import BOTH_WAYS

pytestmark = BOTH_WAYS  # every test here runs with the functions on threads and in their own process

ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")
REQUEST_TIME = re.compile(r"^\d{2}/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2} \+0000$")


def context_keys(event: dict) -> set[str]:
    return set(event["requestContext"]) - {"authorizer"}


async def run_session(gateway, query: str = "?token=good") -> None:
    async with websockets.connect(gateway.ws_url + query) as ws:
        await ws.send(json.dumps({"action": "echo", "message": "hi"}))
        await asyncio.wait_for(ws.recv(), 5)
        await ws.close(code=1000, reason="done")


async def test_event_keys_match_the_captured_events(gateway, event_log, real_event):
    await run_session(gateway)
    (authorize,) = event_log.events("authorize")
    (connect,) = event_log.events("connect")
    (message,) = event_log.events("message")
    (disconnect,) = await event_log.wait_for("disconnect")

    real = real_event("powertools-websocket-authorizer-request.json")
    assert set(authorize) == set(real)
    assert context_keys(authorize) == context_keys(real)
    assert authorize["queryStringParameters"] == {"token": "good"}

    real = real_event("powertools-websocket-connect.json")
    # the captured $connect had no query string; ours has ?token=, so the two query maps appear
    assert set(connect) == set(real) | {"queryStringParameters", "multiValueQueryStringParameters"}
    assert context_keys(connect) == context_keys(real)

    real = real_event("powertools-websocket-message.json")
    assert set(message) == set(real)
    assert context_keys(message) == context_keys(real)
    assert message["body"] == json.dumps({"action": "echo", "message": "hi"})

    real = real_event("powertools-websocket-disconnect.json")
    assert set(disconnect) == set(real)
    assert set(disconnect["headers"]) == set(real["headers"])
    assert set(disconnect["multiValueHeaders"]) == set(real["multiValueHeaders"])
    assert context_keys(disconnect) == context_keys(real)
    assert (disconnect["requestContext"]["disconnectStatusCode"], disconnect["requestContext"]["disconnectReason"]) == (1000, "done")


async def test_event_values_look_like_api_gateways(gateway, event_log):
    before = time.time() * 1000
    await run_session(gateway)
    await event_log.wait_for("disconnect")
    records = event_log.all()
    events = {r["kind"]: r["event"] for r in records}
    connect_ctx = events["connect"]["requestContext"]
    api_id = connect_ctx["apiId"]
    assert re.fullmatch(r"[a-z0-9]{10}", api_id)
    assert events["authorize"]["methodArn"] == f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/test/$connect"
    assert events["authorize"]["type"] == "REQUEST"
    for kind, (route_key, event_type) in {
        "authorize": ("$connect", "CONNECT"),
        "connect": ("$connect", "CONNECT"),
        "message": ("echo", "MESSAGE"),
        "disconnect": ("$disconnect", "DISCONNECT"),
    }.items():
        ctx = events[kind]["requestContext"]
        assert (ctx["routeKey"], ctx["eventType"], ctx["messageDirection"], ctx["stage"]) == (route_key, event_type, "IN", "test")
        assert ctx["connectionId"] == connect_ctx["connectionId"] and ID.match(ctx["connectionId"])
        assert ctx["connectedAt"] == connect_ctx["connectedAt"]
        assert ID.match(ctx["requestId"]) and ctx["extendedRequestId"] == ctx["requestId"]
        assert REQUEST_TIME.match(ctx["requestTime"])
        assert before - 1000 <= ctx["requestTimeEpoch"] <= time.time() * 1000
        assert ctx["requestTimeEpoch"] >= ctx["connectedAt"]
        assert ctx["identity"] == {"userAgent": connect_ctx["identity"]["userAgent"], "sourceIp": "127.0.0.1"}
        assert ctx["domainName"] == f"127.0.0.1:{gateway.port}" and ctx["apiId"] == api_id
    assert ID.match(events["message"]["requestContext"]["messageId"])
    assert "messageId" not in connect_ctx
    headers = {k.lower(): v for k, v in events["connect"]["headers"].items()}
    assert headers["sec-websocket-version"] == "13" and "sec-websocket-key" in headers
    assert events["message"]["isBase64Encoded"] is False and events["connect"]["isBase64Encoded"] is False
    # the identity carries the User-Agent the client sent
    assert connect_ctx["identity"]["userAgent"] == headers["user-agent"] == f"Python/3.11 websockets/{websockets.__version__}"


async def test_query_string_maps_only_when_there_is_a_query_string(start_gateway, event_log):
    gateway = await start_gateway()
    async with websockets.connect(gateway.ws_url + "?token=good&x=1&x=2", origin="http://example.test"):
        pass
    (connect,) = event_log.events("connect")
    assert connect["queryStringParameters"] == {"token": "good", "x": "2"}
    assert connect["multiValueQueryStringParameters"] == {"token": ["good"], "x": ["1", "2"]}
    assert connect["headers"]["Origin"] == "http://example.test"
    assert connect["multiValueHeaders"]["Origin"] == ["http://example.test"]


async def test_lambda_context(gateway, event_log):
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        await ws.send(json.dumps({"action": "inspect"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert 2500 < reply["remaining_ms"] <= 3000  # MessageFunction Timeout: 3
    assert reply["memory"] == "1024"  # a string, as the Python runtime passes it
    assert reply["function_name"].startswith("local-stack-MessageFunction-")
    records = {r["kind"]: r for r in event_log.all()}
    assert records["authorize"]["memory"] == "256"  # Globals MemorySize
    assert 4000 < records["authorize"]["remaining_ms"] <= 5000  # Globals Timeout
    request_ids = [r["request_id"] for r in event_log.all()]
    assert len(set(request_ids)) == len(request_ids)


async def test_authorizer_context_has_the_keys_of_the_projects_captured_events(gateway, event_log, real_event):
    """events/connect.json, send-message.json and disconnect.json (an authorized connection) carry the
    authorizer's integrationLatency in every event, not only $connect."""
    await run_session(gateway)
    (connect,) = event_log.events("connect")
    (message,) = event_log.events("message")
    (disconnect,) = await event_log.wait_for("disconnect")
    for ours, captured in ((connect, "connect.json"), (message, "send-message.json"), (disconnect, "disconnect.json")):
        real = real_event(captured)["requestContext"]["authorizer"]
        context = ours["requestContext"]["authorizer"]
        assert "integrationLatency" in real
        assert isinstance(context["integrationLatency"], int), captured
        assert list(context)[0] == "principalId" and list(context)[-1] == "integrationLatency", captured
