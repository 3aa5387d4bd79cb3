"""MongoDB unreachable: handlers answer internal_error / 503 within seconds and broadcast nothing unstored."""

from __future__ import annotations

import socket
import time

import pytest

from tests.protocol_check import watch_stack
from tests.support import Stack

LIMIT_S = 10  # a hang guard (pymongo's default would wait 30 s), not a performance assertion


@pytest.fixture
def dead_db_stack(template, management_api, local_env, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PARLEY_ENV", "aws")
    monkeypatch.setenv("MONGODB_URI", f"mongodb://127.0.0.1:{port}/")
    return watch_stack(Stack(template, management_api, migrate=False), management_api, monkeypatch)  # docs/asyncapi.yaml too


def test_message_handler_answers_internal_error_and_broadcasts_nothing(dead_db_stack, management_api):
    from tests.support import Client

    client = Client(dead_db_stack, "BFHPhfCWIAMCKlQ=", "u-alice", "alice", int(time.time() * 1000))
    started = time.monotonic()
    result = client.send({"action": "sendMessage", "room": "general", "text": "lost?"})
    elapsed = time.monotonic() - started
    assert result == {"statusCode": 500}
    assert elapsed < LIMIT_S
    assert management_api.frames(client.connection_id) == [
        {"type": "error", "code": "internal_error", "message": "something went wrong; try again", "action": "sendMessage",
         "room": "general"}
    ]
    assert management_api.posts == 1  # only the error reply: nothing was broadcast


def test_connect_fails_fast_so_api_gateway_refuses_the_handshake(dead_db_stack):
    from tests.support import real_event

    event = real_event("connect.json")
    started = time.monotonic()
    assert dead_db_stack.invoke("ConnectFunction", event) == {"statusCode": 500}
    assert time.monotonic() - started < LIMIT_S


def test_http_api_answers_503(dead_db_stack):
    started = time.monotonic()
    status, body, _ = dead_db_stack.http("POST", "/auth/signup", {"username": "alice", "password": "quiet lantern ferry"})  # a strong one: refused by the database, not the rules
    assert status == 503 and "unavailable" in body["detail"]
    assert time.monotonic() - started < LIMIT_S
    assert dead_db_stack.http("GET", "/health")[0] == 200  # the process is alive; only the database is not
