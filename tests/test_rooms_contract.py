"""Private and direct rooms (docs/protocol.md), through the real handlers: users sign up over the HTTP API,
connections carry their real ids, frames are checked as each member's connections receive them."""

from __future__ import annotations

import pytest

PASSWORD = "correct horse 1"


@pytest.fixture
def people(stack):
    """Sign up users over HTTP; returns a function username -> (user json, token)."""
    made = {}

    def person(name: str):
        if name not in made:
            status, body, _ = stack.http("POST", "/auth/signup", {"username": name, "password": PASSWORD})
            assert status == 201, body
            made[name] = (body["user"], body["token"])
        return made[name]

    return person


@pytest.fixture
def connect(stack, people):
    def open_(name: str):
        user, _ = people(name)
        return stack.connect(name, user_id=user["id"])

    return open_


def error_code(client) -> str:
    return client.last("error")["code"]


def send_text(client, room: str, text: str) -> dict:
    client.send({"action": "sendMessage", "room": room, "text": text})
    return client.last("message")["message"]


def test_create_room_replies_with_owner_and_members(connect, people):
    alice = connect("alice")
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    me = people("alice")[0]
    assert alice.last("roomCreated") == {"type": "roomCreated", "room": "design", "kind": "private", "owner": me,
                                         "members": [me]}


@pytest.mark.parametrize("frame, code", [
    ({"action": "createRoom", "room": "dm-abc", "kind": "private"}, "invalid_request"),
    ({"action": "createRoom", "room": "x", "kind": "public"}, "invalid_request"),
    ({"action": "createRoom", "room": "Bad Name", "kind": "private"}, "invalid_request"),
    ({"action": "addMember", "room": "x"}, "invalid_request"),
    ({"action": "markRead", "room": "x", "id": "nope"}, "invalid_request"),
    ({"action": "openDirect", "username": "nobody-here"}, "not_found"),
])
def test_bad_room_frames_get_clear_errors(connect, frame, code):
    alice = connect("alice")
    alice.send(frame)
    error = alice.last("error")
    assert error["code"] == code and error["action"] == frame["action"]


def test_room_taken_by_any_room_of_that_name(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    bob.send({"action": "createRoom", "room": "design", "kind": "private"})
    assert error_code(bob) == "room_taken"
    bob.send({"action": "join", "room": "lobby"})  # a public room exists once anyone joined it
    alice.send({"action": "createRoom", "room": "lobby", "kind": "private"})
    assert error_code(alice) == "room_taken"
    # a public room used before rooms were recorded: it holds messages but has no rooms record
    db = stack.modules["MessageFunction"].runtime.db
    db.messages.insert_one({"_id": "0" * 24, "room": "oldroom", "text": "x", "userId": "u", "username": "u",
                            "createdAt": db.users.find_one()["createdAt"]})
    alice.send({"action": "createRoom", "room": "oldroom", "kind": "private"})
    assert error_code(alice) == "room_taken"


def test_members_get_messages_on_every_connection_without_joining(connect, people):
    alice, bob, bob_phone, carol = connect("alice"), connect("bob"), connect("bob"), connect("carol")
    people("bob")
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    alice.send({"action": "addMember", "room": "design", "username": "bob"})
    bob_user = people("bob")[0]
    for c in (bob, bob_phone):
        added = c.last("added")
        assert added["room"] == "design" and added["kind"] == "private"
        assert added["owner"] == people("alice")[0] and bob_user in added["members"]
    assert alice.last("memberAdded") == {"type": "memberAdded", "room": "design", "user": bob_user}
    message = send_text(alice, "design", "secret plan")  # alice never joined either
    for c in (bob, bob_phone):
        assert c.last("message")["message"]["id"] == message["id"]
    assert carol.frames("message") == [] and carol.frames("added") == []


def test_add_member_is_owner_only_and_names_must_exist(connect, people):
    alice, bob = connect("alice"), connect("bob")
    people("carol")
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    alice.send({"action": "addMember", "room": "design", "username": "bob"})
    bob.send({"action": "addMember", "room": "design", "username": "carol"})
    assert error_code(bob) == "forbidden"
    alice.send({"action": "addMember", "room": "design", "username": "nobody-here"})
    assert error_code(alice) == "not_found"
    alice.send({"action": "addMember", "room": "design", "username": "bob"})
    assert error_code(alice) == "invalid_request"


def test_first_direct_message_from_a_stranger_reaches_every_connection(connect, people):
    alice, bob, bob_phone = connect("alice"), connect("bob"), connect("bob")
    alice.send({"action": "openDirect", "username": "bob"})
    direct = alice.last("direct")
    ids = sorted([people("alice")[0]["id"], people("bob")[0]["id"]])
    assert direct == {"type": "direct", "room": f"dm-{ids[0]}-{ids[1]}", "kind": "direct",
                      "members": [people("alice")[0], people("bob")[0]]}
    bob.send({"action": "openDirect", "username": "ALICE"})
    assert bob.last("direct")["room"] == direct["room"]  # one room per pair, whoever opens it
    message = send_text(alice, direct["room"], "hi bob")
    for c in (bob, bob_phone):
        assert c.last("message")["message"] == message


def test_mark_read_moves_forward_and_tells_other_devices_and_the_other_member(connect, people):
    alice, alice_phone, bob = connect("alice"), connect("alice"), connect("bob")
    alice.send({"action": "openDirect", "username": "bob"})
    room = alice.last("direct")["room"]
    first = send_text(bob, room, "one")
    second = send_text(bob, room, "two")
    alice.send({"action": "markRead", "room": room, "id": second["id"]})
    assert alice_phone.last("read") == {"type": "read", "room": room, "id": second["id"]}
    assert alice.frames("read") == []  # not the connection that read
    assert bob.last("receipt") == {"type": "receipt", "room": room, "user": people("alice")[0], "id": second["id"]}
    alice.send({"action": "markRead", "room": room, "id": first["id"]})  # backwards: nothing changes or goes out
    assert len(alice_phone.frames("read")) == 1 and len(bob.frames("receipt")) == 1
    alice.send({"action": "rooms"})
    (item,) = alice.last("rooms")["rooms"]
    assert item["readId"] == second["id"] and item["unread"] == 0


def test_mark_read_takes_only_ids_of_messages_in_that_room(connect, people):
    """Issue 22, section 5: a made-up id sent the partner a receipt for nothing and, sorting after every real id,
    kept the unread badge at 0 for good."""
    alice, bob = connect("alice"), connect("bob")
    alice.send({"action": "openDirect", "username": "bob"})
    room = alice.last("direct")["room"]
    bob.send({"action": "join", "room": "general"})
    elsewhere = send_text(bob, "general", "in another room")
    send_text(bob, room, "one")
    for made_up in ("f" * 24, elsewhere["id"]):
        alice.send({"action": "markRead", "room": room, "id": made_up})
        assert error_code(alice) == "invalid_request"
    assert bob.frames("receipt") == []
    later = send_text(bob, room, "two")
    alice.send({"action": "rooms"})
    (item,) = [i for i in alice.last("rooms")["rooms"] if i["room"] == room]
    assert item["unread"] == 2 and item.get("readId") is None
    alice.send({"action": "markRead", "room": room, "id": later["id"]})
    assert bob.last("receipt")["id"] == later["id"]


def test_rooms_list_items_order_and_unread(stack, connect, people):
    alice, bob = connect("alice"), connect("bob")
    alice.send({"action": "join", "room": "general"})
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    alice.send({"action": "addMember", "room": "design", "username": "bob"})
    alice.send({"action": "openDirect", "username": "bob"})
    dm = alice.last("direct")["room"]
    send_text(alice, "design", "mine: not unread for me")
    for i in range(3):
        last = send_text(bob, dm, f"dm {i}")
    bob.send({"action": "rooms"})
    alice.send({"action": "rooms"})
    items = alice.last("rooms")["rooms"]
    assert [i["room"] for i in items] == [dm, "design", "general"]  # most recently active first
    by = {i["room"]: i for i in items}
    assert by[dm]["kind"] == "direct" and by[dm]["members"] == people("bob")[0]
    assert by[dm]["unread"] == 3 and by[dm]["unreadCapped"] is False
    assert by[dm]["lastMessage"] == {k: last[k] for k in ("id", "text", "user", "createdAt")}
    assert by["design"]["members"] == 2 and by["design"]["owner"] == people("alice")[0] and by["design"]["unread"] == 0
    assert by["general"]["kind"] == "public" and by["general"]["lastMessage"] is None
    bob_items = {i["room"]: i for i in bob.last("rooms")["rooms"]}
    assert bob_items["design"]["unread"] == 1 and "general" not in bob_items
    status, body, _ = stack.http("GET", "/rooms", token=people("alice")[1])
    assert status == 200 and body["rooms"] == items


def test_unread_stops_at_100_and_says_so(connect):
    alice, bob = connect("alice"), connect("bob")
    alice.send({"action": "openDirect", "username": "bob"})
    room = alice.last("direct")["room"]
    for i in range(102):
        send_text(bob, room, f"m{i}")
    alice.send({"action": "rooms"})
    (item,) = alice.last("rooms")["rooms"]
    assert item["unread"] == 100 and item["unreadCapped"] is True


def test_removed_member_gets_removed_and_nothing_more(connect, people):
    alice, bob, bob_phone, carol = connect("alice"), connect("bob"), connect("bob"), connect("carol")
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    for name in ("bob", "carol"):
        alice.send({"action": "addMember", "room": "design", "username": name})
    for c in (alice, bob, carol):
        c.send({"action": "join", "room": "design"})
    alice.send({"action": "removeMember", "room": "design", "username": "bob"})
    for c in (bob, bob_phone):
        assert c.last("removed") == {"type": "removed", "room": "design"}
    assert alice.last("memberRemoved") == {"type": "memberRemoved", "room": "design", "user": people("bob")[0]}
    assert carol.last("memberRemoved")["user"] == people("bob")[0]
    assert carol.last("presence") == {"type": "presence", "room": "design", "user": people("bob")[0],
                                      "status": "offline"}
    seen = {c.connection_id: len(c.frames()) for c in (bob, bob_phone)}
    send_text(alice, "design", "after bob left")
    carol.send({"action": "typing", "room": "design", "isTyping": True})
    carol.send({"action": "leave", "room": "design"})
    carol.send({"action": "join", "room": "design"})
    assert alice.last("typing")["user"] == people("carol")[0]
    for c in (bob, bob_phone):
        assert len(c.frames()) == seen[c.connection_id], c.frames()[seen[c.connection_id]:]
    bob.send({"action": "sendMessage", "room": "design", "text": "still here?"})
    assert error_code(bob) == "forbidden"


def test_owner_leaving_passes_ownership_to_the_longest_standing_member(connect, people):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    for name in ("bob", "carol"):
        alice.send({"action": "addMember", "room": "design", "username": name})
    alice.send({"action": "removeMember", "room": "design", "username": "alice"})
    assert alice.last("removed") == {"type": "removed", "room": "design"}
    for c in (bob, carol):
        assert c.last("ownerChanged") == {"type": "ownerChanged", "room": "design", "owner": people("bob")[0]}
    bob.send({"action": "removeMember", "room": "design", "username": "carol"})  # bob manages it now
    assert carol.last("removed")["room"] == "design"
    bob.send({"action": "addMember", "room": "design", "username": "alice"})
    assert alice.last("added")["owner"] == people("bob")[0]


def test_member_removes_themself_but_not_others(connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    for name in ("bob", "carol"):
        alice.send({"action": "addMember", "room": "design", "username": name})
    bob.send({"action": "removeMember", "room": "design", "username": "carol"})
    assert error_code(bob) == "forbidden"
    bob.send({"action": "removeMember", "room": "design", "username": "bob"})
    assert bob.last("removed")["room"] == "design"
    assert alice.last("memberRemoved")["user"]["username"] == "bob"


def test_direct_rooms_cannot_be_left_or_managed(connect):
    alice, _ = connect("alice"), connect("bob")
    connect("carol")
    alice.send({"action": "openDirect", "username": "bob"})
    room = alice.last("direct")["room"]
    alice.send({"action": "addMember", "room": room, "username": "carol"})
    assert error_code(alice) == "forbidden"
    alice.send({"action": "removeMember", "room": room, "username": "alice"})
    assert error_code(alice) == "invalid_request"


def test_leaving_a_public_room_list(connect):
    alice = connect("alice")
    alice.send({"action": "join", "room": "general"})
    alice.send({"action": "removeMember", "room": "general", "username": "alice"})
    assert alice.last("removed") == {"type": "removed", "room": "general"}
    alice.send({"action": "rooms"})
    assert alice.last("rooms")["rooms"] == []


def test_public_directory_pages_most_recent_first(stack, connect, people):
    alice = connect("alice")
    names = [f"room-{i}" for i in range(5)]
    for name in names:
        alice.send({"action": "join", "room": name})
        send_text(alice, name, f"in {name}")
    alice.send({"action": "createRoom", "room": "hidden", "kind": "private"})
    token = people("alice")[1]
    seen, cursor = [], None
    while True:
        status, body, _ = stack.http("GET", "/rooms/public", token=token,
                                     query="limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, body
        seen += [r["room"] for r in body["rooms"]]
        assert all(r["kind"] == "public" and r["members"] == 1 for r in body["rooms"])
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == names[::-1]
    assert stack.http("GET", "/rooms/public", token=token, query="cursor=garbage")[0] == 422
    assert stack.http("GET", "/rooms/public")[0] == 401


def test_http_history_and_presence_refuse_non_members(stack, connect, people):
    alice = connect("alice")
    connect("bob")
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    send_text(alice, "design", "secret")
    bob_token = people("bob")[1]
    for path in ("/rooms/design/messages", "/rooms/design/presence", "/rooms/dm-aaa-bbb/messages"):
        status, body, _ = stack.http("GET", path, token=bob_token)
        assert (status, body) == (403, {"detail": "you are not a member of this room"}), path
    status, body, _ = stack.http("GET", "/rooms/design/messages", token=people("alice")[1])
    assert status == 200 and [m["text"] for m in body["messages"]] == ["secret"]


@pytest.mark.parametrize("what", ["messages", "presence"])
def test_a_private_room_and_an_unused_name_look_the_same_to_an_outsider(stack, connect, people, what):
    """Issue 22, section 5: 403 for a private room but 200 and an empty list for an unused name told outsiders
    which private room names exist."""
    alice = connect("alice")
    connect("bob")
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    alice.send({"action": "join", "room": "lobby"})  # a public room answers anyone
    bob_token = people("bob")[1]
    private = stack.http("GET", f"/rooms/design/{what}", token=bob_token)[:2]
    unused = stack.http("GET", f"/rooms/no-such-room/{what}", token=bob_token)[:2]
    assert private == unused == (403, {"detail": "you are not a member of this room"})
    assert stack.http("GET", f"/rooms/lobby/{what}", token=bob_token)[0] == 200


def _db(stack):
    return stack.modules["MessageFunction"].runtime.db


def test_a_connection_left_in_the_room_by_a_racing_removal_gets_nothing(stack, connect, people):
    """A removal that raced a join can leave the room in the removed user's connection (its join wrote after the
    removal's cleanup). Deliveries read memberships, so that connection still gets no message, typing or presence."""
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    for name in ("bob", "carol"):
        alice.send({"action": "addMember", "room": "design", "username": name})
    for c in (alice, bob, carol):
        c.send({"action": "join", "room": "design"})
    bob_id = people("bob")[0]["id"]
    _db(stack).memberships.delete_one({"room": "design", "userId": bob_id})  # removed; the connection still lists it
    assert "design" in _db(stack).connections.find_one({"_id": bob.connection_id})["rooms"]
    seen = len(bob.frames())
    alice.send({"action": "typing", "room": "design", "isTyping": True})
    send_text(alice, "design", "not for bob")
    carol.send({"action": "leave", "room": "design"})
    carol.send({"action": "join", "room": "design"})
    assert carol.last("typing")["user"]["username"] == "alice"
    assert bob.frames()[seen:] == []
    assert [u["username"] for u in carol.last("joined")["users"]] == ["alice", "carol"]  # bob is not listed


def test_join_that_loses_a_race_with_removal_is_undone(stack, connect, people, monkeypatch):
    """The membership is read again after the room is added to the connection: a removal in between wins."""
    alice, bob = connect("alice"), connect("bob")
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    alice.send({"action": "addMember", "room": "design", "username": "bob"})
    alice.send({"action": "join", "room": "design"})
    store = stack.modules["MessageFunction"].runtime.connections
    real_join = type(store).join
    bob_id = people("bob")[0]["id"]

    def join_then_removed(self, *, connection, room, **limit):
        before = real_join(self, connection=connection, room=room, **limit)
        _db(stack).memberships.delete_one({"room": room, "userId": bob_id})  # the removal lands here
        return before

    monkeypatch.setattr(type(store), "join", join_then_removed)
    bob.send({"action": "join", "room": "design"})
    assert error_code(bob) == "forbidden" and bob.frames("joined") == []
    assert "design" not in _db(stack).connections.find_one({"_id": bob.connection_id})["rooms"]
    assert alice.frames("presence") == []


@pytest.mark.parametrize("cursor", ["300000000000000~x", "9999999999999~room", "12~", "abc~x", "~x"])
def test_directory_cursors_out_of_range_or_malformed_get_422(stack, people, cursor):
    status, body, _ = stack.http("GET", "/rooms/public", token=people("alice")[1], query=f"cursor={cursor}")
    assert status in (200, 422), body
    if status == 200:  # the largest well-formed cursor is a valid time (year 2286): an empty page
        assert cursor == "9999999999999~room" and body == {"rooms": [], "next": None}
    else:
        assert isinstance(body["detail"], list)


def test_room_members_pages_every_member_for_members_only(stack, connect, people):
    """Issue 23: after a reload the owner's Members panel knew only who was online; GET /rooms/{room}/members
    lists every member, a page at a time, longest-standing first, and only to members."""
    alice = connect("alice")
    names = ["bob", "carol", "dave", "erin"]
    for name in names:
        connect(name)
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    for name in names:
        alice.send({"action": "addMember", "room": "design", "username": name})
    connect("mallory")
    token = people("carol")[1]
    seen, cursor = [], None
    while True:
        status, body, _ = stack.http("GET", "/rooms/design/members", token=token,
                                     query="limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, body
        assert len(body["members"]) <= 2 and body["room"] == "design"
        seen += [m["username"] for m in body["members"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(["alice", *names]) and seen[0] == "alice"
    outsider = people("mallory")[1]
    for room in ("design", "no-such-room"):
        assert stack.http("GET", f"/rooms/{room}/members", token=outsider)[:2] == (
            403, {"detail": "you are not a member of this room"})
    assert stack.http("GET", "/rooms/design/members", token=token, query="cursor=garbage")[0] == 422
    assert stack.http("GET", "/rooms/design/members")[0] == 401
