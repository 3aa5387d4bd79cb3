"""Property-based: any frame at all gets exactly one well-formed reply, never an unhandled exception."""

from __future__ import annotations

import json

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
