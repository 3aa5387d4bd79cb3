"""The WebSocket contract of docs/protocol.md, driven through the real handlers with real-shaped events."""

from __future__ import annotations

import json
import re

import pytest

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_join_replies_with_users_and_announces_presence(stack):
    alice = stack.connect("alice")
    bob = stack.connect("bob")
    alice.send({"action": "join", "room": "general"})
    joined = alice.last("joined")
    assert joined == {"type": "joined", "room": "general", "users": [{"id": "u-alice", "username": "alice"}]}

    bob.send({"action": "join", "room": "general"})
    assert [u["username"] for u in bob.last("joined")["users"]] == ["alice", "bob"]
    assert alice.frames("presence") == [
        {"type": "presence", "room": "general", "user": {"id": "u-bob", "username": "bob"}, "status": "online"}
    ]
    assert bob.frames("presence") == []  # the joiner is not told about itself


def test_second_connection_of_a_present_user_announces_nothing(stack):
    alice = stack.connect("alice")
    bob = stack.connect("bob")
    bob2 = stack.connect("bob")
    for c in (alice, bob, bob2):
        c.send({"action": "join", "room": "general"})
    assert len(alice.frames("presence")) == 1
    assert [u["username"] for u in bob2.last("joined")["users"]] == ["alice", "bob"]
    bob.disconnect()
    assert len(alice.frames("presence")) == 1  # bob is still there on bob2
    bob2.disconnect()
    assert alice.last("presence")["status"] == "offline"
    assert alice.last("presence")["user"]["username"] == "bob"


def test_send_message_stores_then_reaches_everyone_in_the_room(stack):
    alice, bob, carol = stack.connect("alice"), stack.connect("bob"), stack.connect("carol")
    alice.send({"action": "join", "room": "general"})
    bob.send({"action": "join", "room": "general"})
    carol.send({"action": "join", "room": "random"})
    alice.send({"action": "sendMessage", "room": "general", "text": "  hello bob  ", "clientMsgId": "c1"})
    frame = bob.last("message")
    message = frame["message"]
    assert message["text"] == "hello bob"  # trimmed
    assert message["room"] == "general"
    assert message["user"] == {"id": "u-alice", "username": "alice"}
    assert message["clientMsgId"] == "c1"
    assert re.fullmatch(r"[0-9a-f]{24}", message["id"])
    assert ISO_MS.match(message["createdAt"])
    assert alice.last("message") == frame  # the sender's own copy
    assert carol.frames("message") == []  # another room
    alice.send({"action": "sendMessage", "room": "general", "text": "no id"})
    assert bob.last("message")["message"]["clientMsgId"] is None
    history = stack.modules["MessageFunction"].runtime.messages.page(room="general", limit=10)
    assert [m.text for m in history.messages] == ["hello bob", "no id"]


def test_identity_comes_from_the_authorizer_never_the_frame(stack):
    alice, bob = stack.connect("alice"), stack.connect("bob")
    for c in (alice, bob):
        c.send({"action": "join", "room": "general"})
    alice.send(
        {"action": "sendMessage", "room": "general", "text": "hi", "user": {"id": "u-bob", "username": "bob"},
         "userId": "u-bob", "username": "bob"}
    )
    assert bob.last("message")["message"]["user"] == {"id": "u-alice", "username": "alice"}


def test_same_client_msg_id_is_stored_once_and_only_the_sender_hears_it_again(stack):
    alice, bob = stack.connect("alice"), stack.connect("bob")
    for c in (alice, bob):
        c.send({"action": "join", "room": "general"})
    first = {"action": "sendMessage", "room": "general", "text": "once", "clientMsgId": "dup-1"}
    alice.send(first)
    alice.send(first)
    alice.send({**first, "text": "changed text, same id"})
    assert len(bob.frames("message")) == 1
    sent = alice.frames("message")
    assert len(sent) == 3 and all(f == sent[0] for f in sent)
    # another user may use the same client id independently
    bob.send({"action": "sendMessage", "room": "general", "text": "mine", "clientMsgId": "dup-1"})
    assert alice.last("message")["message"]["text"] == "mine"
    page = stack.modules["MessageFunction"].runtime.messages.page(room="general", limit=10)
    assert [m.text for m in page.messages] == ["once", "mine"]


def test_typing_reaches_other_users_only(stack):
    alice, alice2, bob = stack.connect("alice"), stack.connect("alice"), stack.connect("bob")
    for c in (alice, alice2, bob):
        c.send({"action": "join", "room": "general"})
    alice.send({"action": "typing", "room": "general", "isTyping": True})
    assert bob.frames("typing") == [
        {"type": "typing", "room": "general", "user": {"id": "u-alice", "username": "alice"}, "isTyping": True}
    ]
    assert alice.frames("typing") == [] and alice2.frames("typing") == []
    alice.send({"action": "typing", "room": "general", "isTyping": False})
    assert bob.last("typing")["isTyping"] is False


def test_typing_is_relayed_once_per_quiet_period_and_stopping_always_goes(stack, monkeypatch):
    import dataclasses
    from datetime import timedelta

    from parley.model import utcnow

    alice, bob = stack.connect("alice"), stack.connect("bob")
    for c in (alice, bob):
        c.send({"action": "join", "room": "general"})
    states = lambda: [f["isTyping"] for f in bob.frames("typing")]  # noqa: E731
    alice.send({"action": "typing", "room": "general", "isTyping": True})
    alice.send({"action": "typing", "room": "general", "isTyping": True})  # too soon: dropped
    assert states() == [True]
    alice.send({"action": "typing", "room": "general", "isTyping": False})
    alice.send({"action": "typing", "room": "general", "isTyping": True})  # right after "stopped": relayed
    assert states() == [True, False, True]
    module = stack.modules["MessageFunction"]
    later = lambda: utcnow() + timedelta(seconds=3)  # noqa: E731 - past the quiet period
    monkeypatch.setattr(module, "runtime", dataclasses.replace(module.runtime, clock=later))
    alice.send({"action": "typing", "room": "general", "isTyping": True})
    assert states() == [True, False, True, True]
    assert alice.frames("error") == []  # a dropped typing frame is not an error


def test_typing_quiet_period_is_per_connection(stack):
    alice, bob, carol = stack.connect("alice"), stack.connect("bob"), stack.connect("carol")
    for c in (alice, bob, carol):
        c.send({"action": "join", "room": "general"})
    alice.send({"action": "typing", "room": "general", "isTyping": True})
    bob.send({"action": "typing", "room": "general", "isTyping": True})
    assert [f["user"]["username"] for f in carol.frames("typing")] == ["alice", "bob"]


@pytest.mark.parametrize(
    "frame",
    [
        {"action": "sendMessage", "room": "elsewhere", "text": "hi"},
        {"action": "typing", "room": "elsewhere", "isTyping": True},
    ],
)
def test_rooms_must_be_joined_before_use(stack, frame):
    alice, bob = stack.connect("alice"), stack.connect("bob")
    bob.send({"action": "join", "room": "elsewhere"})
    alice.send(frame)
    error = alice.last("error")
    assert error["code"] == "not_in_room" and error["action"] == frame["action"]
    assert bob.frames("message") == [] and bob.frames("typing") == []


def test_leave_tells_the_caller_and_the_room(stack):
    alice, bob = stack.connect("alice"), stack.connect("bob")
    for c in (alice, bob):
        c.send({"action": "join", "room": "general"})
    bob.send({"action": "leave", "room": "general"})
    assert bob.last("left") == {"type": "left", "room": "general"}
    assert alice.last("presence")["status"] == "offline"
    bob.send({"action": "sendMessage", "room": "general", "text": "still here?"})
    assert bob.last("error")["code"] == "not_in_room"
    bob.send({"action": "leave", "room": "general"})  # leaving twice is harmless
    assert len(alice.frames("presence")) == 2  # online + one offline, not two


def test_disconnect_leaves_every_room(stack):
    alice, bob = stack.connect("alice"), stack.connect("bob")
    for room in ("general", "random"):
        alice.send({"action": "join", "room": room})
        bob.send({"action": "join", "room": room})
    assert bob.disconnect() == {"statusCode": 200}
    offline = [f for f in alice.frames("presence") if f["status"] == "offline"]
    assert sorted(f["room"] for f in offline) == ["general", "random"]
    assert bob.disconnect() == {"statusCode": 200}  # a repeated $disconnect is harmless


def test_history_pages_both_ways(stack):
    alice = stack.connect("alice")
    alice.send({"action": "join", "room": "general"})
    for i in range(7):
        alice.send({"action": "sendMessage", "room": "general", "text": f"m{i}"})
    alice.send({"action": "history", "room": "general", "limit": 3})
    latest = alice.last("history")
    assert [m["text"] for m in latest["messages"]] == ["m4", "m5", "m6"] and latest["hasMore"] is True
    alice.send({"action": "history", "room": "general", "limit": 3, "before": latest["messages"][0]["id"]})
    older = alice.last("history")
    assert [m["text"] for m in older["messages"]] == ["m1", "m2", "m3"] and older["hasMore"] is True
    alice.send({"action": "history", "room": "general", "limit": 3, "before": older["messages"][0]["id"]})
    oldest = alice.last("history")
    assert [m["text"] for m in oldest["messages"]] == ["m0"] and oldest["hasMore"] is False
    alice.send({"action": "history", "room": "general", "limit": 4, "after": oldest["messages"][0]["id"]})
    newer = alice.last("history")
    assert [m["text"] for m in newer["messages"]] == ["m1", "m2", "m3", "m4"] and newer["hasMore"] is True
    alice.send({"action": "history", "room": "general", "after": newer["messages"][-1]["id"]})
    rest = alice.last("history")
    assert [m["text"] for m in rest["messages"]] == ["m5", "m6"] and rest["hasMore"] is False
    alice.send({"action": "join", "room": "empty-room"})
    alice.send({"action": "history", "room": "empty-room"})
    assert alice.last("history") == {"type": "history", "room": "empty-room", "messages": [], "hasMore": False}
    alice.send({"action": "history", "room": "no-such-room"})  # as a private room's to an outsider (issue 22)
    assert alice.last("error")["code"] == "forbidden"


def test_ping_pongs(stack):
    alice = stack.connect("alice")
    alice.send({"action": "ping"})
    assert alice.frames() == [{"type": "pong"}]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("not json", "invalid_json"),
        ("", "invalid_json"),
        ("[1, 2]", "invalid_request"),
        ('{"action": "dance"}', "unknown_action"),
        ('{"room": "general"}', "unknown_action"),
        ('{"action": "join"}', "invalid_request"),
        ('{"action": "join", "room": "General!"}', "invalid_request"),
        ('{"action": "join", "room": "' + "a" * 65 + '"}', "invalid_request"),
        ('{"action": "sendMessage", "room": "general", "text": "   "}', "invalid_request"),
        ('{"action": "sendMessage", "room": "general", "text": 42}', "invalid_request"),
        ('{"action": "sendMessage", "room": "general", "text": "' + "x" * 4001 + '"}', "invalid_request"),
        ('{"action": "sendMessage", "room": "general", "text": "\\ud800"}', "invalid_request"),
        ('{"action": "typing", "room": "general", "isTyping": "yes"}', "invalid_request"),
        ('{"action": "history", "room": "general", "limit": 0}', "invalid_request"),
        ('{"action": "history", "room": "general", "limit": 101}', "invalid_request"),
        ('{"action": "history", "room": "general", "before": "nope"}', "invalid_request"),
        ("[" * 5000 + "]" * 5000, "invalid_json"),
    ],
)
def test_bad_frames_get_a_precise_error_and_the_connection_stays(stack, body, code):
    alice = stack.connect("alice")
    result = alice.send(body, route="$default")
    assert result == {"statusCode": 200}
    error = alice.last("error")
    assert error["type"] == "error" and error["code"] == code and error["message"]
    alice.send({"action": "ping"})
    assert alice.frames()[-1] == {"type": "pong"}


def test_text_of_exactly_4000_characters_is_accepted(stack):
    alice = stack.connect("alice")
    alice.send({"action": "join", "room": "general"})
    alice.send({"action": "sendMessage", "room": "general", "text": "y" * 4000})
    assert len(alice.last("message")["message"]["text"]) == 4000


def test_error_frames_never_echo_message_text(stack):
    alice = stack.connect("alice")
    alice.send({"action": "sendMessage", "room": "general", "text": "secret words"})
    assert "secret words" not in json.dumps(alice.frames())


def test_a_message_sent_after_another_sorts_after_it_even_if_this_clock_is_behind(stack, monkeypatch):
    import dataclasses
    from datetime import timedelta

    from parley.model import utcnow

    alice, bob = stack.connect("alice"), stack.connect("bob")
    for c in (alice, bob):
        c.send({"action": "join", "room": "general"})
    alice.send({"action": "sendMessage", "room": "general", "text": "first"})
    first = bob.last("message")["message"]
    # the next invocation lands in a container whose clock is 5 seconds behind
    skewed = lambda: utcnow() - timedelta(seconds=5)  # noqa: E731
    module = stack.modules["MessageFunction"]
    monkeypatch.setattr(module, "runtime", dataclasses.replace(module.runtime, clock=skewed))
    bob.send({"action": "sendMessage", "room": "general", "text": "reply"})
    reply = alice.last("message")["message"]
    assert reply["id"] > first["id"] and reply["createdAt"] >= first["createdAt"]
    bob.send({"action": "history", "room": "general"})
    assert [m["text"] for m in bob.last("history")["messages"]] == ["first", "reply"]



def test_an_error_names_the_client_msg_id_it_refused(stack):
    alice = stack.connect("alice")
    alice.send({"action": "sendMessage", "room": "general", "text": "hi", "clientMsgId": "c-42"})
    error = alice.last("error")
    assert error["code"] == "not_in_room" and error["clientMsgId"] == "c-42" and error["action"] == "sendMessage"
    alice.send({"action": "ping", "clientMsgId": {"not": "a string"}})
    assert alice.frames()[-1] == {"type": "pong"}
    alice.send('{"action": "sendMessage", "room": "general", "text": 5, "clientMsgId": 7}')
    assert "clientMsgId" not in alice.last("error")


@pytest.mark.parametrize(
    "frame",
    [
        {"action": "join", "room": "plans"},  # a private room of someone else's
        {"action": "history", "room": "plans"},
        {"action": "typing", "room": "plans", "isTyping": True},
        {"action": "sendMessage", "room": "plans", "text": "hi"},
        {"action": "markRead", "room": "plans", "id": "0" * 24},
        {"action": "addMember", "room": "plans", "username": "alice"},
    ],
    ids=lambda frame: frame["action"],
)
def test_an_error_names_the_room_it_refused(stack, frame):
    owner = stack.connect("olivia")
    owner.send({"action": "createRoom", "room": "plans", "kind": "private"})
    assert owner.last("roomCreated")["room"] == "plans"
    alice = stack.connect("alice")
    alice.send(frame)
    error = alice.last("error")
    assert error["action"] == frame["action"] and error["room"] == "plans", error


@pytest.mark.parametrize("room", ["Not A Room", "x" * 65, 7, None, "-lead", "\ud800"])
def test_an_error_repeats_no_room_that_is_not_a_room_name(stack, room):
    alice = stack.connect("alice")
    alice.send(json.dumps({"action": "join", "room": room}))
    error = alice.last("error")
    assert error["code"] == "invalid_request" and "room" not in error, error
