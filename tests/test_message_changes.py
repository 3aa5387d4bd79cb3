"""Edit, delete, react, unreact, replyTo and mentions (issue 21), driven through the real handlers with
real-shaped events; every frame is checked against docs/asyncapi.yaml (tests/protocol_check.py)."""

from __future__ import annotations

import pytest

PASSWORD = "correct horse 1"


@pytest.fixture
def connect(stack):
    """A connection of a user signed up over the HTTP API (private rooms look members up by name)."""
    made = {}

    def open_(name: str):
        if name not in made:
            status, body, _ = stack.http("POST", "/auth/signup", {"username": name, "password": PASSWORD})
            assert status == 201, body
            made[name] = body["user"]
        return stack.connect(name, user_id=made[name]["id"])

    return open_


def _room(stack, *names):
    clients = [stack.connect(n) for n in names]
    for c in clients:
        c.send({"action": "join", "room": "general"})
    return clients


def _send(client, text="hello", **extra):
    client.send({"action": "sendMessage", "room": "general", "text": text, **extra})
    return client.last("message")["message"]


def test_every_message_carries_version_and_cursor(stack):
    (alice,) = _room(stack, "alice")
    message = _send(alice)
    assert message["version"] == 1
    assert isinstance(message["cursor"], str) and len(message["cursor"]) == 48
    alice.send({"action": "history", "room": "general"})
    assert alice.last("history")["messages"][-1]["version"] == 1


def test_the_author_edits_and_the_room_gets_the_whole_message(stack):
    alice, bob = _room(stack, "alice", "bob")
    sent = _send(alice, "helo")
    alice.send({"action": "editMessage", "room": "general", "id": sent["id"], "text": "  hello  "})
    updated = bob.last("messageUpdated")["message"]
    assert updated["id"] == sent["id"] and updated["text"] == "hello" and updated["version"] == 2
    assert "editedAt" in updated and updated["createdAt"] == sent["createdAt"]
    assert alice.last("messageUpdated") == bob.last("messageUpdated")
    alice.send({"action": "history", "room": "general"})
    assert alice.last("history")["messages"][-1]["text"] == "hello"


def test_only_the_author_edits(stack):
    alice, bob = _room(stack, "alice", "bob")
    sent = _send(alice, "mine")
    bob.send({"action": "editMessage", "room": "general", "id": sent["id"], "text": "yours"})
    assert bob.last("error")["code"] == "forbidden"
    assert alice.frames("messageUpdated") == []


def test_edit_refuses_text_over_the_limit_and_never_cuts_it(stack):
    (alice,) = _room(stack, "alice")
    sent = _send(alice)
    alice.send({"action": "editMessage", "room": "general", "id": sent["id"], "text": "x" * 4001})
    error = alice.last("error")
    assert error["code"] == "invalid_request" and "'text'" in error["message"] and "4000" in error["message"]
    assert alice.frames("messageUpdated") == []


def test_an_unknown_message_is_not_found(stack):
    (alice,) = _room(stack, "alice")
    alice.send({"action": "editMessage", "room": "general", "id": "0" * 24, "text": "x"})
    assert alice.last("error")["code"] == "not_found"
    alice.send({"action": "react", "room": "general", "id": "0" * 24, "emoji": "👍"})
    assert alice.last("error")["code"] == "not_found"
    alice.send({"action": "deleteMessage", "room": "general", "id": "0" * 24})
    assert alice.last("error")["code"] == "not_found"


def test_a_message_of_another_room_is_not_found_here(stack):
    alice = stack.connect("alice")
    for room in ("general", "random"):
        alice.send({"action": "join", "room": room})
    sent = _send(alice)
    alice.send({"action": "editMessage", "room": "random", "id": sent["id"], "text": "moved"})
    assert alice.last("error")["code"] == "not_found"


def test_delete_leaves_a_tombstone_in_place(stack):
    alice, bob = _room(stack, "alice", "bob")
    first, sent, last = _send(alice, "one"), _send(alice, "secret"), _send(alice, "three")
    bob.send({"action": "react", "room": "general", "id": sent["id"], "emoji": "👍"})
    alice.send({"action": "deleteMessage", "room": "general", "id": sent["id"]})
    tomb = bob.last("messageUpdated")["message"]
    assert tomb["deleted"] is True and tomb["deletedBy"]["username"] == "alice" and tomb["version"] == 3
    assert "text" not in tomb and "reactions" not in tomb
    assert set(tomb) >= {"id", "room", "user", "createdAt"}
    alice.send({"action": "history", "room": "general"})
    ids = [m["id"] for m in alice.last("history")["messages"]]
    assert ids == [first["id"], sent["id"], last["id"]]
    assert "secret" not in str(alice.last("history"))
    alice.send({"action": "editMessage", "room": "general", "id": sent["id"], "text": "back"})
    assert alice.last("error")["code"] == "invalid_request" and "deleted" in alice.last("error")["message"]


def test_only_the_author_deletes_in_a_public_room(stack):
    alice, bob = _room(stack, "alice", "bob")
    sent = _send(alice)
    bob.send({"action": "deleteMessage", "room": "general", "id": sent["id"]})
    assert bob.last("error")["code"] == "forbidden"


def test_the_owner_of_a_private_room_deletes_any_message(connect):
    olivia, bob = connect("olivia"), connect("bob")
    olivia.send({"action": "createRoom", "room": "plans", "kind": "private"})
    olivia.send({"action": "addMember", "room": "plans", "username": "bob"})
    bob.send({"action": "sendMessage", "room": "plans", "text": "spam"})
    sent = bob.last("message")["message"]
    olivia.send({"action": "deleteMessage", "room": "plans", "id": sent["id"]})
    tomb = bob.last("messageUpdated")["message"]
    assert tomb["deleted"] and tomb["deletedBy"]["username"] == "olivia"
    olivia.send({"action": "sendMessage", "room": "plans", "text": "mine"})
    mine = olivia.last("message")["message"]
    bob.send({"action": "deleteMessage", "room": "plans", "id": mine["id"]})
    assert bob.last("error")["code"] == "forbidden"


def test_reactions_count_each_user_once(stack):
    alice, bob = _room(stack, "alice", "bob")
    sent = _send(alice)
    bob.send({"action": "react", "room": "general", "id": sent["id"], "emoji": "👍"})
    assert bob.last("messageUpdated")["message"]["version"] == 2
    bob.send({"action": "react", "room": "general", "id": sent["id"], "emoji": "👍"})  # twice: counts once
    again = bob.last("messageUpdated")["message"]
    assert again["version"] == 2 and again["reactions"] == [
        {"emoji": "👍", "count": 1, "users": [{"id": "u-bob", "username": "bob"}]}]
    assert len(alice.frames("messageUpdated")) == 1  # the no-op went to bob alone
    alice.send({"action": "react", "room": "general", "id": sent["id"], "emoji": "👍"})
    alice.send({"action": "react", "room": "general", "id": sent["id"], "emoji": "👨‍👩‍👧"})
    reactions = alice.last("messageUpdated")["message"]["reactions"]
    assert [(r["emoji"], r["count"]) for r in reactions] == [("👍", 2), ("👨‍👩‍👧", 1)]
    bob.send({"action": "unreact", "room": "general", "id": sent["id"], "emoji": "👍"})
    final = alice.last("messageUpdated")["message"]
    assert [(r["emoji"], r["count"]) for r in final["reactions"]] == [("👍", 1), ("👨‍👩‍👧", 1)]
    assert final["version"] == 5


def test_reaction_users_list_the_first_ten_and_count_all(stack):
    clients = _room(stack, *[f"user{i:02d}" for i in range(12)])
    sent = _send(clients[0])
    for c in clients:
        c.send({"action": "react", "room": "general", "id": sent["id"], "emoji": "🎉"})
    (reaction,) = clients[0].last("messageUpdated")["message"]["reactions"]
    assert reaction["count"] == 12 and [u["username"] for u in reaction["users"]] == [f"user{i:02d}" for i in range(10)]


@pytest.mark.parametrize("emoji", ["a", "👍👍", " 👍", "👍 ", "", "x👍", "\ud800", 7, None, "🙂" * 40])
def test_react_takes_exactly_one_emoji(stack, emoji):
    (alice,) = _room(stack, "alice")
    sent = _send(alice)
    alice.send({"action": "react", "room": "general", "id": sent["id"], "emoji": emoji})
    error = alice.last("error")
    assert error["code"] == "invalid_request" and "'emoji'" in error["message"], error


def test_a_message_takes_at_most_twenty_distinct_emoji(stack):
    (alice,) = _room(stack, "alice")
    sent = _send(alice)
    emoji = ["😀", "😃", "😄", "😁", "😆", "😅", "🤣", "😂", "🙂", "🙃", "😉", "😊", "😇", "🥰", "😍", "🤩", "😘",
             "😗", "😚", "😙", "😋"]
    for e in emoji[:20]:
        alice.send({"action": "react", "room": "general", "id": sent["id"], "emoji": e})
    assert len(alice.last("messageUpdated")["message"]["reactions"]) == 20
    alice.send({"action": "react", "room": "general", "id": sent["id"], "emoji": emoji[20]})
    error = alice.last("error")
    assert error["code"] == "invalid_request" and "20" in error["message"]
    alice.send({"action": "unreact", "room": "general", "id": sent["id"], "emoji": emoji[0]})
    alice.send({"action": "react", "room": "general", "id": sent["id"], "emoji": emoji[20]})  # room again
    assert [r["emoji"] for r in alice.last("messageUpdated")["message"]["reactions"]][-1] == emoji[20]


def test_a_reply_carries_who_and_an_excerpt_of_the_original(stack):
    alice, bob = _room(stack, "alice", "bob")
    original = _send(alice, "x" * 300)
    reply = _send(bob, "yes", replyTo=original["id"])
    assert reply["replyTo"] == {"id": original["id"], "user": {"id": "u-alice", "username": "alice"}, "excerpt": "x" * 200}
    alice.send({"action": "deleteMessage", "room": "general", "id": original["id"]})
    alice.send({"action": "history", "room": "general"})
    stored = alice.last("history")["messages"][-1]
    assert stored["replyTo"]["excerpt"] == "" and stored["version"] == 2  # the deleted text is gone from replies too
    late = _send(bob, "late", replyTo=original["id"])
    assert late["replyTo"]["excerpt"] == ""


def test_reply_to_must_name_a_message_of_the_room(stack):
    alice = stack.connect("alice")
    for room in ("general", "random"):
        alice.send({"action": "join", "room": room})
    elsewhere = _send(alice)
    alice.send({"action": "sendMessage", "room": "random", "text": "re", "replyTo": elsewhere["id"]})
    assert alice.last("error")["code"] == "invalid_request" and "'replyTo'" in alice.last("error")["message"]
    alice.send({"action": "sendMessage", "room": "general", "text": "re", "replyTo": "nope"})
    assert "'replyTo'" in alice.last("error")["message"]


def test_mentions_keep_members_only_and_count_until_read(connect):
    olivia, bob, carol = connect("olivia"), connect("bob"), connect("carol")
    olivia.send({"action": "createRoom", "room": "plans", "kind": "private"})
    olivia.send({"action": "addMember", "room": "plans", "username": "bob"})
    olivia.send({"action": "sendMessage", "room": "plans", "text": "@bob @carol look",
                 "mentions": [bob.user_id, carol.user_id, bob.user_id, "u-nobody"]})
    sent = olivia.last("message")["message"]
    assert sent["mentions"] == [{"id": bob.user_id, "username": "bob"}]  # carol is no member; nobody is nobody
    olivia.send({"action": "sendMessage", "room": "plans", "text": "no mention"})
    bob.send({"action": "rooms"})
    (item,) = [i for i in bob.last("rooms")["rooms"] if i["room"] == "plans"]
    assert item["mentions"] == 1 and item["unread"] == 2
    bob.send({"action": "markRead", "room": "plans", "id": sent["id"]})
    bob.send({"action": "rooms"})
    (item,) = [i for i in bob.last("rooms")["rooms"] if i["room"] == "plans"]
    assert item["mentions"] == 0 and item["unread"] == 1
    assert "plans" not in str(carol.frames())


@pytest.mark.parametrize("mentions", ["u-bob", [1], ["bad id!"], ["u"] * 21, {"id": "u-bob"}])
def test_mentions_must_be_a_list_of_user_ids(stack, mentions):
    (alice,) = _room(stack, "alice")
    alice.send({"action": "sendMessage", "room": "general", "text": "hi", "mentions": mentions})
    error = alice.last("error")
    assert error["code"] == "invalid_request" and "'mentions'" in error["message"], error


def test_a_deleted_last_message_shows_as_deleted_in_the_room_list(connect, stack):
    olivia = connect("olivia")
    olivia.send({"action": "createRoom", "room": "plans", "kind": "private"})
    olivia.send({"action": "sendMessage", "room": "plans", "text": "oops"})
    sent = olivia.last("message")["message"]
    olivia.send({"action": "deleteMessage", "room": "plans", "id": sent["id"]})
    olivia.send({"action": "rooms"})
    (item,) = olivia.last("rooms")["rooms"]
    assert item["lastMessage"]["deleted"] is True and item["lastMessage"]["text"] == ""
    assert "oops" not in str(olivia.last("rooms"))
