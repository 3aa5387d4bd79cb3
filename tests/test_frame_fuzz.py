"""Property-based: any frame at all gets exactly one well-formed reply, never an unhandled exception."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocol_check import watch_stack
from tests.support import Stack

ACTIONS = ["sendMessage", "typing", "join", "leave", "history", "ping", "chat", "", None]
REPLY_TYPES = {"error", "joined", "left", "history", "pong", "message"}
ERROR_CODES = {"invalid_json", "unknown_action", "invalid_request", "not_in_room", "rate_limited"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
nasty_text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(categories=["Cc", "Cs", "Zs", "So"]), max_size=50),
    st.just("a" * 10_000),
    st.just("x" * 4001),
    st.sampled_from(["general", "General", "-x", "ok_room", "\u0000", "\ud800", "room\n", "ü"]),
)
frames = st.one_of(
    # structured frames with the right keys and wrong or odd values
    st.fixed_dictionaries(
        {"action": st.sampled_from(ACTIONS)},
        optional={
            "room": st.one_of(nasty_text, json_values),
            "text": st.one_of(nasty_text, json_values),
            "clientMsgId": st.one_of(nasty_text, json_values),
            "isTyping": json_values,
            "before": st.one_of(st.text(alphabet="0123456789abcdefg", min_size=23, max_size=25), json_values),
            "after": st.one_of(st.text(alphabet="0123456789abcdef", min_size=24, max_size=24), json_values),
            "limit": st.one_of(st.integers(-5, 200), json_values),
            "user": json_values,
        },
    ).map(lambda d: json.dumps(d)),
    json_values.map(json.dumps),  # any JSON at all
    st.text(max_size=300),  # not JSON, or JSON by chance
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),  # deeply nested
    st.integers(1, 3000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.binary(max_size=100).map(lambda b: b.decode("utf-8", errors="surrogateescape")),  # invalid UTF-8
)


def test_every_frame_gets_one_well_formed_reply(template, management_api, local_env, monkeypatch):
    stack = watch_stack(Stack(template, management_api), management_api, monkeypatch)  # docs/asyncapi.yaml too
    alice = stack.connect("alice")
    alice.send({"action": "join", "room": "general"})
    management_api.clear()

    @given(body=frames)
    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(body):
        management_api.clear()
        result = alice.send(body, route="$default")
        assert result == {"statusCode": 200}, body
        replies = alice.frames()
        assert len(replies) >= 1
        reply = replies[0]
        assert reply["type"] in REPLY_TYPES
        if reply["type"] == "error":
            assert reply["code"] in ERROR_CODES and isinstance(reply["message"], str) and reply["message"]
            assert "Traceback" not in reply["message"]
        for frame in replies:
            json.dumps(frame)  # well-formed JSON that any client can parse

    check()


# ---------------------------------------------------------------------- issue 22, section 5: every action


def _fields_by_action() -> dict[str, list[str]]:
    """Each client frame's fields, from docs/asyncapi.yaml (so an action added there is fuzzed here too)."""
    import yaml

    doc = yaml.safe_load((Path(__file__).parents[1] / "docs" / "asyncapi.yaml").read_text())
    schemas = doc["components"]["schemas"]
    found = {}
    for message in doc["components"]["messages"].values():
        payload = message["payload"]
        if "$ref" in payload:
            payload = schemas[payload["$ref"].rsplit("/", 1)[1]]
        action = payload.get("properties", {}).get("action", {})
        for name in action.get("enum", []) + ([action["const"]] if "const" in action else []):
            found[name] = [f for f in payload["properties"] if f != "action"]
    return found


def test_every_action_with_hostile_values_gets_a_reply_and_never_internal_error(template, management_api, local_env,
                                                                                   monkeypatch):
    """Every action of parley.chat.frames.ACTIONS, each of its fields (and the others') holding lone surrogates,
    NUL, 10**400, 1e999, NaN, 5,000 digits, nesting 5,000 deep, 100,000-character strings or the wrong type."""
    from parley.chat.frames import ACTIONS as EVERY_ACTION

    from tests.hostile import raw_object

    fields = _fields_by_action()
    assert set(EVERY_ACTION) <= set(fields), f"actions without a frame in docs/asyncapi.yaml: {set(EVERY_ACTION) - set(fields)}"
    every_field = sorted({f for names in fields.values() for f in names} | {"user", "type", "userId"})
    stack = watch_stack(Stack(template, management_api), management_api, monkeypatch)
    for name in ("alice", "bob"):
        status, body, _ = stack.http("POST", "/auth/signup", {"username": name, "password": "correct horse 1"})
        assert status == 201, body
    alice = stack.connect("alice", user_id=stack.modules["AuthFunction"].users.by_username(username="alice").id)
    alice.send({"action": "join", "room": "general"})
    alice.send({"action": "createRoom", "room": "vault", "kind": "private"})
    tried: dict[str, int] = {}

    frames_of_every_action = st.sampled_from(sorted(EVERY_ACTION)).flatmap(
        lambda action: st.tuples(st.just(action), st.one_of(raw_object(fields[action]), raw_object(every_field))))

    @given(case=frames_of_every_action)
    @settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        action, rest = case
        frame = '{"action":' + json.dumps(action) + ("," + rest[1:] if rest != "{}" else "}")
        management_api.clear()
        assert alice.send(frame, route=action) == {"statusCode": 200}, frame[:300]
        replies = alice.frames()
        assert replies or action in ("typing", "leave"), frame[:300]  # typing and leave may answer nothing
        for reply in replies:
            json.dumps(reply)
            assert reply.get("code") != "internal_error", (frame[:300], reply)
            if reply["type"] == "error":
                assert reply["code"] in ERROR_CODES | {"invalid_request", "forbidden", "not_found", "room_taken"}, reply
                assert reply["message"] and "Traceback" not in reply["message"]
        tried[action] = tried.get(action, 0) + 1

    check()
    assert set(tried) == set(EVERY_ACTION)
