"""Every database call ends before the function does (issue 20, section 2).

A database that accepts the connection and never answers (tests/stalling_mongo.py): each handler, called with a
context that has 1.5 s left, answers (internal_error and 500, a 503, the authorizer's error) before that time is
up, and counts the stall in the DatabaseUnavailable metric. Without a deadline the call waited for
socketTimeoutMS (10 s) or serverSelectionTimeoutMS (3 s), past the 1.5 s left: Lambda would have killed the
sandbox mid-call, and the client would have got no answer.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.protocol_check import watch_stack
from tests.stalling_mongo import StallingMongo
from parley.model import UserRef
from tests.support import Client, LambdaContext, Stack, authorizer_event, http_event, real_event, websocket_event

REMAINING_S = 1.5


@pytest.fixture(params=[True, False], ids=["stalls-after-hello", "never-answers"])
def stall(request):
    with StallingMongo(answer_hello=request.param) as server:
        yield server


@pytest.fixture
def stalled_stack(stall, template, management_api, local_env, monkeypatch):
    monkeypatch.setenv("PARLEY_ENV", "aws")
    monkeypatch.setenv("MONGODB_URI", stall.uri)
    return watch_stack(Stack(template, management_api, migrate=False), management_api, monkeypatch)


def _invoke(stack, logical_id, event):
    """Call the handler as Lambda would with REMAINING_S left; (result or exception, seconds it took)."""
    context = LambdaContext(logical_id, timeout_s=REMAINING_S)
    started = time.monotonic()
    try:
        result = stack.handlers[logical_id](event, context)
    except Exception as exc:  # noqa: BLE001 - the authorizer answers API Gateway by raising
        result = exc
    return result, time.monotonic() - started


def _database_unavailable(capsys) -> int:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return sum(1 for line in lines if "DatabaseUnavailable" in line and "_aws" in line)


def test_the_message_handler_answers_internal_error_in_time(stalled_stack, management_api, capsys):
    client = Client(stalled_stack, "BFHPhfCWIAMCKlQ=", "u-alice", "alice", int(time.time() * 1000))
    event = websocket_event(
        "sendMessage", client.connection_id, client.authorizer, {"action": "sendMessage", "room": "general", "text": "hi"},
        connected_at=client.connected_at)
    result, took = _invoke(stalled_stack, "MessageFunction", event)
    assert result == {"statusCode": 500}
    assert took < REMAINING_S, took
    assert [f["code"] for f in management_api.frames(client.connection_id)] == ["internal_error"]
    assert _database_unavailable(capsys) == 1


def test_connect_and_disconnect_answer_500_in_time(stalled_stack, capsys):
    for logical_id, name in (("ConnectFunction", "connect.json"), ("DisconnectFunction", "disconnect.json")):
        result, took = _invoke(stalled_stack, logical_id, real_event(name))
        assert result == {"statusCode": 500}, logical_id
        assert took < REMAINING_S, (logical_id, took)
    assert _database_unavailable(capsys) == 2


def test_the_authorizer_fails_in_time(stalled_stack, capsys):
    issuer = stalled_stack.modules["AuthorizerFunction"].issuer
    token = issuer.issue(UserRef(id="u-alice", username="alice"), session_id="s1")
    result, took = _invoke(stalled_stack, "AuthorizerFunction", authorizer_event(token=token))
    assert type(result).__name__ == "StoreUnavailable"  # raised: API Gateway refuses the handshake with 500
    assert took < REMAINING_S, took
    assert _database_unavailable(capsys) == 1


def test_the_http_api_answers_503_in_time(stalled_stack, capsys):
    body = json.dumps({"username": "alice", "password": "long enough for alice"})
    event = http_event("POST", "/auth/login", headers={"content-type": "application/json"}, body=body)
    result, took = _invoke(stalled_stack, "AuthFunction", event)
    assert result["statusCode"] == 503, result
    assert took < REMAINING_S, took
    assert _database_unavailable(capsys) == 1
