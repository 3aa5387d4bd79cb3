"""Every handler accepts the events captured from real API Gateway WebSocket APIs (events/, see its README)."""

from __future__ import annotations

import json
import time

import pytest

from tests.support import real_event  # noqa: F401 - conftest is importable under pytest's rootdir


def _with_authorizer(event: dict, user: str = "alice") -> dict:
    event["requestContext"]["authorizer"] = {"principalId": f"u-{user}", "userId": f"u-{user}", "username": user}
    return event


def test_real_connect_event_registers_the_connection(stack):
    event = _with_authorizer(real_event("powertools-websocket-connect.json"))
    assert "queryStringParameters" not in event
    assert stack.invoke("ConnectFunction", event) == {"statusCode": 200}
    # connectedAt (2024) is long past API Gateway's 2-hour limit, so the TTL already expired the record;
    # the same event with a fresh connectedAt stays, stamped with that time.
    runtime = stack.modules["ConnectFunction"].runtime
    assert runtime.connections.get(connection_id="BFHPhfCWIAMCKlQ=") is None
    event["requestContext"]["connectedAt"] = now_ms = int(time.time() * 1000)
    assert stack.invoke("ConnectFunction", event) == {"statusCode": 200}
    stored = runtime.connections.get(connection_id="BFHPhfCWIAMCKlQ=")
    assert stored.user.username == "alice"
    assert int(stored.connected_at.timestamp() * 1000) == now_ms


def test_real_connect_event_without_authorizer_is_refused(stack):
    assert stack.invoke("ConnectFunction", real_event("powertools-websocket-connect.json")) == {"statusCode": 401}


@pytest.mark.parametrize("name", ["powertools-websocket-message.json", "lambda-go-websocket-default-message.json"])
def test_real_message_events_get_an_error_frame_not_a_crash(stack, management_api, name):
    event = _with_authorizer(real_event(name))
    assert stack.invoke("MessageFunction", event) == {"statusCode": 200}
    frames = management_api.frames(event["requestContext"]["connectionId"])
    assert len(frames) == 1 and frames[0]["type"] == "error"
    assert frames[0]["code"] in {"unknown_action", "invalid_json"}


def test_real_message_event_without_authorizer_uses_the_stored_connection(stack, management_api):
    connect = _with_authorizer(real_event("powertools-websocket-connect.json"), "bob")
    connect["requestContext"]["connectedAt"] = int(time.time() * 1000)
    stack.invoke("ConnectFunction", connect)
    event = real_event("powertools-websocket-message.json")
    event["requestContext"]["connectionId"] = "BFHPhfCWIAMCKlQ="
    event["body"] = json.dumps({"action": "ping"})
    assert stack.invoke("MessageFunction", event) == {"statusCode": 200}
    assert management_api.frames("BFHPhfCWIAMCKlQ=") == [{"type": "pong"}]


def test_unknown_connection_without_authorizer_is_told_to_sign_in(stack, management_api):
    event = real_event("powertools-websocket-message.json")
    event["body"] = json.dumps({"action": "ping"})
    stack.invoke("MessageFunction", event)
    (frame,) = management_api.frames(event["requestContext"]["connectionId"])
    assert frame["code"] == "invalid_request" and "token" in frame["message"]


@pytest.mark.parametrize("name", ["powertools-websocket-disconnect.json", "lambda-go-websocket-disconnect.json"])
def test_real_disconnect_events(stack, name):
    assert stack.invoke("DisconnectFunction", real_event(name)) == {"statusCode": 200}


def test_real_authorizer_event_without_token_is_unauthorized(stack):
    with pytest.raises(Exception, match="^Unauthorized$"):
        stack.invoke("AuthorizerFunction", real_event("powertools-websocket-authorizer-request.json"))


@pytest.mark.parametrize(
    "name", ["connect.json", "join.json", "send-message.json", "typing.json", "history.json", "ping.json", "disconnect.json"]
)
def test_sample_events_run(stack, name):
    event = real_event(name)
    logical = {"CONNECT": "ConnectFunction", "DISCONNECT": "DisconnectFunction"}.get(
        event["requestContext"]["eventType"], "MessageFunction"
    )
    assert stack.invoke(logical, event)["statusCode"] == 200


def test_malformed_event_is_refused_cleanly(stack):
    for logical in ("ConnectFunction", "MessageFunction", "DisconnectFunction"):
        assert stack.invoke(logical, {"not": "an api gateway event"}) == {"statusCode": 400}
