"""Blocking (issue 22, section 3): someone you blocked cannot open a direct conversation with you, send in yours
or add you to a private room. Each path answers ``forbidden`` and none says that you blocked them; unblocking
restores them all; GET /blocks lists whom you blocked."""

from __future__ import annotations

import pytest

from tests.test_rooms_contract import connect, error_code, people, send_text  # noqa: F401 - fixtures


def _dm(client, username: str) -> str:
    client.send({"action": "openDirect", "username": username})
    return client.last("direct")["room"]


def _block(client, username: str, action: str = "block") -> dict:
    client.send({"action": action, "username": username})
    return client.last("blocked" if action == "block" else "unblocked")


# Each path by which the blocked person could reach the one who blocked them, and what it takes to try it.
def _open_direct(stack, mallory, alice_name, room):
    mallory.send({"action": "openDirect", "username": alice_name})


def _send_in_dm(stack, mallory, alice_name, room):
    mallory.send({"action": "sendMessage", "room": room, "text": "still here?"})


def _add_to_private_room(stack, mallory, alice_name, room):
    mallory.send({"action": "createRoom", "room": "mallorys-den", "kind": "private"})
    mallory.send({"action": "addMember", "room": "mallorys-den", "username": alice_name})


PATHS = {"openDirect": _open_direct, "sendMessage in the DM": _send_in_dm, "addMember": _add_to_private_room}


@pytest.mark.parametrize("path", list(PATHS))
def test_a_blocked_person_cannot_reach_you_by_any_path_and_is_not_told_why(stack, connect, people, path):
    alice, mallory = connect("alice"), connect("mallory")
    room = _dm(mallory, "alice")  # a conversation that existed before the block
    send_text(mallory, room, "hello")
    assert _block(alice, "mallory")["user"] == people("mallory")[0]
    seen_before = len(alice.frames())
    PATHS[path](stack, mallory, "alice", room)
    error = mallory.last("error")
    assert error["code"] == "forbidden" and "block" not in error["message"].lower()
    assert len(alice.frames()) == seen_before  # no added, no direct, no message reached her
    _block(alice, "mallory", "unblock")
    errors = len(mallory.frames("error"))
    PATHS[path](stack, mallory, "alice", room)
    assert [e for e in mallory.frames("error")[errors:] if e.get("action") != "createRoom"] == []  # made before
    assert len(alice.frames()) > seen_before  # the direct room, the message or the invitation reached her


def test_blocking_before_any_conversation_holds_for_a_conversation_opened_later(connect):
    alice, mallory = connect("alice"), connect("mallory")
    _block(alice, "mallory")
    room = _dm(alice, "mallory")  # she may still open it (to read an old one, say), but he cannot write in it
    mallory.send({"action": "sendMessage", "room": room, "text": "hi"})
    assert error_code(mallory) == "forbidden"
    alice.send({"action": "sendMessage", "room": room, "text": "hi"})
    error = alice.last("error")
    assert error["code"] == "invalid_request" and "unblock" in error["message"]


def test_get_blocks_lists_whom_you_blocked_and_nobody_else_sees_it(stack, connect, people):
    alice = connect("alice")
    connect("mallory"), connect("bob")
    _block(alice, "mallory")
    _block(alice, "bob")
    _block(alice, "mallory")  # twice counts once
    status, body, _ = stack.http("GET", "/blocks", token=people("alice")[1])
    assert status == 200 and body == {"blocks": [people("mallory")[0], people("bob")[0]]}
    _block(alice, "bob", "unblock")
    assert stack.http("GET", "/blocks", token=people("alice")[1])[1] == {"blocks": [people("mallory")[0]]}
    assert stack.http("GET", "/blocks", token=people("mallory")[1])[1] == {"blocks": []}
    assert stack.http("GET", "/blocks")[0] == 401


def test_blocking_yourself_or_nobody_is_a_clear_error(connect):
    alice = connect("alice")
    alice.send({"action": "block", "username": "alice"})
    assert error_code(alice) == "invalid_request"
    alice.send({"action": "block", "username": "nobody-here"})
    assert error_code(alice) == "not_found"
    alice.send({"action": "unblock"})
    assert error_code(alice) == "invalid_request"


def test_others_are_not_affected(connect):
    alice, mallory, bob = connect("alice"), connect("mallory"), connect("bob")
    _block(alice, "mallory")
    room = _dm(bob, "alice")
    assert send_text(bob, room, "hi alice")["text"] == "hi alice"
    bob.send({"action": "createRoom", "room": "team", "kind": "private"})
    bob.send({"action": "addMember", "room": "team", "username": "mallory"})
    assert mallory.last("added")["room"] == "team"


CHANGES = {  # issue 21: each change of a message in the DM reaches the other member as messageUpdated
    "editMessage": lambda room, mid: {"action": "editMessage", "room": room, "id": mid, "text": "edited"},
    "deleteMessage": lambda room, mid: {"action": "deleteMessage", "room": room, "id": mid},
    "react": lambda room, mid: {"action": "react", "room": room, "id": mid, "emoji": "🎉"},
    "unreact": lambda room, mid: {"action": "unreact", "room": room, "id": mid, "emoji": "👍"},
    "sendMessage with replyTo and mentions": lambda room, mid: {
        "action": "sendMessage", "room": room, "text": "re", "replyTo": mid, "mentions": []},
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_blocked_person_cannot_change_messages_of_your_conversation(connect, people, change):
    alice, mallory = connect("alice"), connect("mallory")
    room = _dm(mallory, "alice")
    mine = send_text(mallory, room, "hello")["id"]
    mallory.send({"action": "react", "room": room, "id": mine, "emoji": "👍"})
    _block(alice, "mallory")
    seen_before = len(alice.frames())
    mallory.send(CHANGES[change](room, mine))
    error = mallory.last("error")
    assert error["code"] == "forbidden" and "block" not in error["message"].lower()
    assert len(alice.frames()) == seen_before
    alice.send({"action": "history", "room": room})
    (stored,) = alice.last("history")["messages"]
    assert stored["version"] == 2 and stored["text"] == "hello"  # as it was: sent, then the 👍
    _block(alice, "mallory", "unblock")
    mallory.send(CHANGES[change](room, mine))
    assert alice.frames()[-1]["type"] in ("messageUpdated", "message")


def test_a_blocked_person_still_reads_the_conversation_they_had(connect, people):
    """docs/protocol.md, "block, unblock": a block stops new contact; it does not take back what was sent."""
    alice, mallory = connect("alice"), connect("mallory")
    room = _dm(mallory, "alice")
    said = send_text(alice, room, "before the block")["id"]
    _block(alice, "mallory")
    mallory.send({"action": "history", "room": room})
    assert [m["id"] for m in mallory.last("history")["messages"]] == [said]
    mallory.send({"action": "sync", "room": room})
    assert [m["id"] for m in mallory.last("sync")["messages"]] == [said]
