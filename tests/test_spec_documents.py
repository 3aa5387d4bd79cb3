"""The machine-readable protocol documents: docs/asyncapi.yaml (WebSocket) and docs/openapi.json (HTTP).

- what the stack serves at /asyncapi.yaml is docs/asyncapi.yaml, byte for byte (the function ships a copy in
  its CodeUri, since `sam build` packages only functions/auth/);
- docs/openapi.json is what /openapi.json serves;
- the frame checker (tests/protocol_check.py) refuses a frame of the wrong shape and says where.

`make spec` (PARLEY_WRITE_SPECS=1) rewrites docs/openapi.json and the function's copy of docs/asyncapi.yaml from
the sources instead of comparing them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil

import pytest
import yaml

from tests import protocol_check
from tests.protocol_check import client_frame_problem, server_frame_problem
from tests.support import ROOT

ASYNCAPI = ROOT / "docs" / "asyncapi.yaml"
SHIPPED_ASYNCAPI = ROOT / "functions" / "auth" / "asyncapi.yaml"
OPENAPI = ROOT / "docs" / "openapi.json"
WRITE = os.environ.get("PARLEY_WRITE_SPECS") == "1"

USER = {"id": "0123456789abcdef0123456789abcdef", "username": "alice"}
MESSAGE = {
    "id": "018f3a2b4c5d0123456789ab",
    "room": "general",
    "text": "hello",
    "user": USER,
    "clientMsgId": None,
    "createdAt": "2026-12-01T12:00:00.123Z",
    "version": 1,
    "cursor": "018f3a2b4c5d" + "0" * 24 + "000000000000",
}
TOMBSTONE = {**{k: v for k, v in MESSAGE.items() if k != "text"}, "version": 3, "deleted": True, "deletedBy": USER}


def test_the_served_asyncapi_document_is_docs_asyncapi_yaml(stack) -> None:
    if WRITE:
        shutil.copyfile(ASYNCAPI, SHIPPED_ASYNCAPI)
    status, body, headers = stack.http("GET", "/asyncapi.yaml")
    assert status == 200
    assert headers.get("content-type", "").startswith("application/yaml")
    # Mangum sends a body whose type is not text/* or JSON base64-encoded; API Gateway decodes it for the client.
    served = body if body.startswith("asyncapi:") else base64.b64decode(body, validate=True).decode()
    assert served == ASYNCAPI.read_text(), "the served /asyncapi.yaml differs from docs/asyncapi.yaml: run `make spec`"


def test_docs_openapi_json_is_what_the_stack_serves(stack) -> None:
    status, served, _ = stack.http("GET", "/openapi.json")
    assert status == 200
    if WRITE:
        OPENAPI.write_text(json.dumps(served, indent=2, ensure_ascii=False) + "\n")
    assert json.loads(OPENAPI.read_text()) == served, "docs/openapi.json is not what /openapi.json serves: run `make spec`"


def test_the_asyncapi_document_names_every_frame_and_error_code_of_the_code() -> None:
    """Every action the parser knows and every error code has its place in the document."""
    from parley.chat.frames import ACTIONS
    from parley.errors import ErrorCode

    proto = protocol_check.protocol()
    assert sorted(proto.client) == sorted(ACTIONS)
    doc = yaml.safe_load(ASYNCAPI.read_text())
    assert doc["asyncapi"] == "3.0.0"
    assert sorted(doc["components"]["schemas"]["ErrorCode"]["enum"]) == sorted(c.value for c in ErrorCode)
    assert doc["channels"]["chat"]["bindings"]["ws"]["query"]["required"] == ["token"]
    for code in ("1000", "1001", "1009"):
        assert f"| {code} |" in doc["info"]["description"]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"type": "message", "message": {**MESSAGE, "text": 42}}, "at $.message.text: 42 is not of type 'string'"),
        ({"type": "message", "message": {k: v for k, v in MESSAGE.items() if k != "createdAt"}},
         "at $.message: 'createdAt' is a required property"),
        ({"type": "pong", "at": 1}, "at $: Additional properties are not allowed ('at' was unexpected)"),
        ({"type": "presence", "room": "general", "user": USER, "status": "away"},
         "at $.status: 'away' is not one of ['online', 'offline']"),
        ({"type": "error", "code": "rate_limited", "message": "slow down"}, "'retryAfterMs' is a required property"),
        ({"type": "joined", "room": "general\n", "users": []}, "at $.room: 'general\\n' does not match"),
        ({"type": "sparkle"}, "type 'sparkle', which docs/asyncapi.yaml does not have"),
        ({"type": "messageUpdated", "message": {**TOMBSTONE, "text": "still here"}}, "at $.message"),
        ({"type": "messageUpdated", "message": {k: v for k, v in MESSAGE.items() if k != "version"}},
         "'version' is a required property"),
        ({"type": "messageUpdated", "message": {**MESSAGE, "reactions": [{"emoji": "ok", "count": 1, "users": [USER]}]}},
         "is not exactly one emoji"),
        ("not json", "not JSON"),
    ],
)
def test_a_wrong_server_frame_fails_and_says_where(frame, expected) -> None:
    problem = server_frame_problem(frame)
    assert problem is not None and expected in problem, problem


def test_well_formed_server_frames_pass() -> None:
    for frame in (
        {"type": "message", "message": MESSAGE},
        {"type": "messageUpdated", "message": TOMBSTONE},
        {"type": "messageUpdated", "message": {
            **MESSAGE, "version": 4, "editedAt": "2026-12-01T12:00:01.000Z",
            "reactions": [{"emoji": "👨‍👩‍👧", "count": 12, "users": [USER]}],
            "replyTo": {"id": "018f3a2b4c5d0123456789aa", "user": USER, "excerpt": ""}, "mentions": [USER]}},
        {"type": "sync", "room": "general", "messages": [MESSAGE, TOMBSTONE], "cursor": "0" * 48, "hasMore": False},
        {"type": "pong"},
        {"type": "error", "code": "rate_limited", "message": "slow down", "action": "sendMessage", "retryAfterMs": 900},
        {"type": "direct", "room": "dm-a1-b2", "kind": "direct", "members": [USER, {"id": "b2", "username": "bob"}]},
        {"message": "Internal server error", "connectionId": "abc=", "requestId": "def="},
    ):
        assert server_frame_problem(frame) is None


@pytest.mark.parametrize(
    "body",
    [
        '{"action": "ping"}',
        '{"action": "sendMessage", "room": "general", "text": "  hi  ", "user": "ignored"}',
        '{"action": "history", "room": "general", "limit": 100, "before": null}',
        '{"action": "markRead", "room": "dm-a1-b2", "id": "018f3a2b4c5d0123456789ab"}',
        '{"action": "editMessage", "room": "general", "id": "018f3a2b4c5d0123456789ab", "text": " new "}',
        '{"action": "deleteMessage", "room": "general", "id": "018f3a2b4c5d0123456789ab"}',
        '{"action": "react", "room": "general", "id": "018f3a2b4c5d0123456789ab", "emoji": "\ud83d\udc4d"}',
        '{"action": "unreact", "room": "general", "id": "018f3a2b4c5d0123456789ab", "emoji": "\u2764\ufe0f"}',
        '{"action": "sync", "room": "general"}', '{"action": "sync", "room": "general", "since": "' + "a" * 48 + '"}',
        '{"action": "sendMessage", "room": "general", "text": "hi", "replyTo": "018f3a2b4c5d0123456789ab",'
        ' "mentions": ["0123456789abcdef0123456789abcdef"]}',
        '{"action": "react", "room": "general", "id": "018f3a2b4c5d0123456789ab", "emoji": "ok"}',
        '{"action": "react", "room": "general", "id": "018f3a2b4c5d0123456789ab", "emoji": "\ud83d\udc4d\ud83d\udc4d"}',
        '{"action": "sync", "room": "general", "since": "' + "a" * 47 + '"}',
        '{"action": "sync", "room": "general", "since": "' + "e" * 48 + '"}',  # after the year 9770: no cursor
        '{"action": "editMessage", "room": "general", "id": "x", "text": "new"}',
        '{"action": "sendMessage", "room": "general", "text": "hi", "mentions": "me"}',
        # refused by both the document and the parser
        "", "[1]", '{"action": "dance"}', '{"action": "sendMessage", "room": "general", "text": " \\u3000 "}',
        '{"action": "history", "room": "general", "limit": 5.0}', '{"action": "join", "room": "general\\n"}',
        '{"action": "sendMessage", "room": "general", "text": "\\ud800"}',
        '{"action": "sendMessage", "room": "general", "text": "' + "x" * 4000 + ' "}',
        '{"action": "sendMessage", "room": "general", "text": "' + "x" * 4001 + '"}',
    ],
)
def test_the_document_and_the_parser_agree_on_client_frames(body) -> None:
    assert client_frame_problem(body) is None


def test_a_document_that_disagrees_with_the_parser_fails_and_says_how(tmp_path) -> None:
    doc = yaml.safe_load(ASYNCAPI.read_text())
    doc["components"]["schemas"]["HistoryAction"]["properties"]["limit"]["oneOf"][1]["maximum"] = 500
    del doc["components"]["schemas"]["JoinAction"]["required"]
    path = tmp_path / "asyncapi.yaml"
    path.write_text(yaml.safe_dump(doc))
    loose = protocol_check.protocol(path)
    problem = client_frame_problem('{"action": "history", "room": "general", "limit": 200}', loose)
    assert problem is not None and "the server refuses it as invalid_request ('limit' must be" in problem
    problem = client_frame_problem('{"action": "join"}', loose)
    assert problem is not None and "allows client frame" in problem
    doc["components"]["schemas"]["PingAction"]["additionalProperties"] = False
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump(doc))
    strict = protocol_check.protocol(path)
    problem = client_frame_problem('{"action": "ping", "user": "x"}', strict)
    assert problem is not None and "the server accepts client frame" in problem and "PingAction" in problem


def test_a_changed_frame_shape_fails_the_test_that_sees_it(stack, monkeypatch, protocol_frames) -> None:
    """The hook bites: a server that adds a field the document lacks fails at the invocation that sent it."""
    from parley.chat import service


    monkeypatch.setattr(service, "_presence_frame", lambda room, user, status: {
        "type": "presence", "room": room, "user": user.to_json(), "status": status, "since": "now"})
    alice, bob = stack.connect("alice"), stack.connect("bob")
    alice.send({"action": "join", "room": "general"})
    with pytest.raises(AssertionError, match=r"does not match PresenceFrame: at \$: Additional properties"):
        bob.send({"action": "join", "room": "general"})
    assert protocol_frames.pending == []  # reported by the failing invocation itself, not again at teardown
    assert "does not match PresenceFrame" in protocol_frames.failures[-1]
    protocol_frames.failures.pop()  # provoked on purpose: not a mismatch of the run


def test_every_test_that_starts_parleys_stack_watches_its_frames() -> None:
    """A new fixture that starts Parley's stack in the local gateway (they all name it `stack_name=STACK_NAME`, as
    `make run` does) without watch_websockets would let its frames go unchecked."""
    starters = [p for p in sorted((ROOT / "tests").rglob("*.py")) if "stack_name=STACK_NAME" in p.read_text()]
    assert len(starters) >= 2  # tests/local/conftest.py and tests/browser/conftest.py at least
    unwatched = [str(p.relative_to(ROOT)) for p in starters if "watch_websockets()" not in p.read_text()]
    assert unwatched == []
