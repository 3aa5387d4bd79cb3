"""Property-based, for the room actions: any frame gets exactly one well-formed reply to the sender and never
an unhandled exception (``internal_error``), whatever the values of its fields."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocol_check import watch_stack
from tests.support import Stack

ACTIONS = ["createRoom", "addMember", "removeMember", "openDirect", "markRead", "rooms"]
REPLIES = {"roomCreated", "memberAdded", "added", "removed", "memberRemoved", "ownerChanged", "direct", "rooms", "error"}
ERROR_CODES = {"invalid_request", "forbidden", "room_taken", "not_found", "not_in_room"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
names = st.one_of(
    st.sampled_from(["general", "design", "dm-a-b", "dm-", "vault", "", "Design", "x" * 65, "\ud800", "alice", "bob",
                     "nobody", "ALICE", "dm-0-1"]),
    st.text(max_size=40),
    json_values,
)
frames = st.fixed_dictionaries(
    {"action": st.sampled_from(ACTIONS)},
    optional={
        "room": names,
        "username": names,
        "kind": st.one_of(st.sampled_from(["private", "public", "direct", "PRIVATE"]), json_values),
        "id": st.one_of(st.text(alphabet="0123456789abcdef", min_size=23, max_size=25), json_values),
    },
)


def test_every_room_frame_gets_one_well_formed_reply(template, management_api, local_env, monkeypatch):
    stack = watch_stack(Stack(template, management_api), management_api, monkeypatch)  # docs/asyncapi.yaml too
    for name in ("alice", "bob"):
        status, body, _ = stack.http("POST", "/auth/signup", {"username": name, "password": "correct horse 1"})
        assert status == 201, body
    alice_id = stack.modules["AuthFunction"].users.by_username(username="alice").id
    alice = stack.connect("alice", user_id=alice_id)
    alice.send({"action": "createRoom", "room": "vault", "kind": "private"})

    @given(frame=frames)
    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(frame):
        management_api.clear()
        assert alice.send(frame) == {"statusCode": 200}, frame
        mine = alice.frames()
        assert len(mine) >= 1, frame
        first = mine[0]
        assert first["type"] in REPLIES, (frame, first)
        if first["type"] == "error":
            assert first["code"] in ERROR_CODES, (frame, first)
            assert first["message"] and "Traceback" not in first["message"]
        for f in mine:
            json.dumps(f)

    check()
