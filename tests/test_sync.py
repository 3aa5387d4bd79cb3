"""`sync` (issue 21): every message created or changed after a cursor, never one missed, through the real handlers.

The interleavings the race over real sockets (tests/local/test_sync_race_e2e.py) meets by chance are forced here:
a message or a change stored *after* a reader's cursor was handed out, but stamped *before* it, as a handler that
stamped it and was slower to store it does. `history after` misses such a message; `sync` must not.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from parley.model import SYNC_OVERLAP, new_message_id


def _db(stack):
    return stack.modules["MessageFunction"].runtime.db


def _room(stack, *names):
    clients = [stack.connect(n) for n in names]
    for c in clients:
        c.send({"action": "join", "room": "general"})
    return clients


def _send(client, text):
    client.send({"action": "sendMessage", "room": "general", "text": text})
    return client.last("message")["message"]


def _sync_all(client, since, limit=100, rounds=50):
    """Sync while hasMore, as a client does; every message seen (the highest version of each) and the cursor."""
    seen: dict[str, dict] = {}
    for _ in range(rounds):
        client.send({"action": "sync", "room": "general", "since": since, "limit": limit})
        page = client.last("sync")
        for m in page["messages"]:
            if m["id"] not in seen or seen[m["id"]]["version"] < m["version"]:
                seen[m["id"]] = m
        since = page["cursor"]
        if not page["hasMore"]:
            return seen, since
    raise AssertionError("sync never ended")


def _store_late(stack, *, stamped: datetime, text: str, user=("u-carol", "carol")) -> str:
    """What a handler that stamped a message at ``stamped`` and stored it only now leaves in the database."""
    message_id = new_message_id(stamped)
    _db(stack).messages.insert_one({"_id": message_id, "room": "general", "text": text, "userId": user[0],
                                    "username": user[1], "createdAt": stamped, "updatedAt": stamped, "version": 1})
    return message_id


def test_a_message_stored_late_behind_the_last_one_seen_is_synced_and_history_after_misses_it(stack):
    alice, bob = _room(stack, "alice", "bob")
    _send(alice, "one")
    last_seen = bob.last("message")["message"]  # bob's last live message; then his connection drops
    late = _store_late(stack, stamped=datetime.fromisoformat(last_seen["createdAt"]) - timedelta(seconds=5), text="late")
    assert late < last_seen["id"]  # it sorts before what bob saw
    bob.send({"action": "history", "room": "general", "after": last_seen["id"]})
    assert late not in [m["id"] for m in bob.last("history")["messages"]]  # the bug of issue 21
    seen, _ = _sync_all(bob, last_seen["cursor"])
    assert late in seen


def test_a_change_stored_late_behind_a_finished_sync_comes_in_the_next(stack):
    alice, bob = _room(stack, "alice", "bob")
    sent = _send(alice, "hello")
    _, cursor = _sync_all(bob, sent["cursor"])  # caught up
    # an edit stamped 10 s ago (within the function's timeout) and stored only now
    stamped = datetime.now(timezone.utc) - timedelta(seconds=10)
    _db(stack).messages.update_one({"_id": sent["id"]}, {"$set": {"text": "edited late", "editedAt": stamped,
                                                                  "updatedAt": stamped}, "$inc": {"version": 1}})
    seen, _ = _sync_all(bob, cursor)
    assert seen[sent["id"]]["text"] == "edited late" and seen[sent["id"]]["version"] == 2


def test_changes_to_old_messages_come_in_their_current_state(stack):
    alice, bob = _room(stack, "alice", "bob")
    old = _store_late(stack, stamped=datetime.now(timezone.utc) - timedelta(hours=1), text="old", user=("u-alice", "alice"))
    newest = _send(alice, "new")
    _, cursor = _sync_all(bob, newest["cursor"])
    alice.send({"action": "editMessage", "room": "general", "id": old, "text": "old, edited"})
    bob.send({"action": "react", "room": "general", "id": old, "emoji": "👍"})
    alice.send({"action": "deleteMessage", "room": "general", "id": newest["id"]})
    seen, _ = _sync_all(bob, cursor)
    assert seen[old]["text"] == "old, edited" and seen[old]["version"] == 3 and seen[old]["reactions"][0]["count"] == 1
    assert seen[newest["id"]]["deleted"] is True and "text" not in seen[newest["id"]]


def test_paging_ends_and_misses_nothing_when_more_changes_than_a_page_fall_in_the_overlap(stack):
    alice, bob = _room(stack, "alice", "bob")
    first = _send(alice, "m0")
    sent = [first["id"]] + [_send(alice, f"m{i}")["id"] for i in range(1, 250)]
    pages = []
    since = first["cursor"]
    while True:
        bob.send({"action": "sync", "room": "general", "since": since, "limit": 100})
        page = bob.last("sync")
        pages.append(page)
        since = page["cursor"]
        if not page["hasMore"]:
            break
    assert len(pages) == 3 and {m["id"] for p in pages for m in p["messages"]} == set(sent)
    got = [m["id"] for p in pages for m in p["messages"]]
    assert got == sorted(got)  # (updatedAt, id) order, which for unchanged messages is id order


def test_a_page_cut_to_fit_one_frame_goes_on_where_it_stopped(stack):
    alice, bob = _room(stack, "alice", "bob")
    first = _send(alice, "start")
    sent = {first["id"]} | {_send(alice, f"{i:03d}" + "x" * 3990)["id"] for i in range(60)}
    seen, _ = _sync_all(bob, first["cursor"])
    assert set(seen) == sent
    bob.send({"action": "sync", "room": "general", "since": first["cursor"], "limit": 100})
    page = bob.last("sync")
    assert page["hasMore"] is True and 1 <= len(page["messages"]) < 61


def test_without_since_the_newest_page_and_a_cursor_that_misses_nothing_after(stack):
    alice, bob = _room(stack, "alice", "bob")
    ids = [_send(alice, f"m{i}")["id"] for i in range(5)]
    bob.send({"action": "sync", "room": "general", "limit": 3})
    page = bob.last("sync")
    assert [m["id"] for m in page["messages"]] == ids[-3:] and page["hasMore"] is False
    late = _store_late(stack, stamped=datetime.now(timezone.utc) - SYNC_OVERLAP + timedelta(seconds=2), text="late")
    seen, _ = _sync_all(bob, page["cursor"])
    assert late in seen


def test_sync_of_a_private_room_is_for_members_only(stack):
    owner, outsider = stack.connect("olivia"), stack.connect("mallory")
    owner.send({"action": "createRoom", "room": "plans", "kind": "private"})
    outsider.send({"action": "sync", "room": "plans"})
    error = outsider.last("error")
    assert error["code"] == "forbidden" and error["action"] == "sync"


@pytest.mark.parametrize("since", ["x", 5, "0" * 47, "f" * 48, "0" * 24])
def test_a_since_that_is_no_cursor_is_refused_and_named(stack, since):
    (bob,) = _room(stack, "bob")
    bob.send({"action": "sync", "room": "general", "since": since})
    error = bob.last("error")
    assert error["code"] == "invalid_request" and "'since'" in error["message"], error
