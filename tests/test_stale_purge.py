"""The stale-connection purge (chat/service.py ``_purge``) against a real HTTP Management API that answers 410.

A broadcast that finds a connection gone removes it and tells its rooms its user went offline; telling them
may find more gone connections, and those are purged in the same invocation, up to MAX_PURGE."""

from __future__ import annotations

import pytest


def offline(client) -> set[tuple[str, str]]:
    return {(f["user"]["username"], f["room"]) for f in client.frames("presence") if f["status"] == "offline"}


@pytest.fixture
def chain(stack, management_api):
    """alice in r1; xena in r1, r2; yuri in r2, r3; zoe in r3, r4; the watcher in r2, r3, r4. xena, yuri and zoe
    vanished without a $disconnect, so only the broadcasts find them, one leading to the next."""
    clients = {name: stack.connect(name) for name in ("alice", "xena", "yuri", "zoe", "watcher")}
    rooms = {
        "alice": ["r1"], "xena": ["r1", "r2"], "yuri": ["r2", "r3"], "zoe": ["r3", "r4"], "watcher": ["r2", "r3", "r4"],
    }
    for name, joined in rooms.items():
        for room in joined:
            clients[name].send({"action": "join", "room": room})
    for name in ("xena", "yuri", "zoe"):
        management_api.gone.add(clients[name].connection_id)
    return clients


def stored(stack, client) -> bool:
    runtime = stack.modules["MessageFunction"].runtime
    return runtime.connections.get(connection_id=client.connection_id) is not None


def test_a_chain_of_gone_connections_is_purged_in_one_invocation(stack, chain):
    chain["alice"].send({"action": "sendMessage", "room": "r1", "text": "anyone?"})
    kept = [stored(stack, chain[name]) for name in ("alice", "xena", "yuri", "zoe", "watcher")]
    assert kept == [True, False, False, False, True]
    assert offline(chain["alice"]) == {("xena", "r1")}
    assert offline(chain["watcher"]) == {("xena", "r2"), ("yuri", "r2"), ("yuri", "r3"), ("zoe", "r3"), ("zoe", "r4")}


def test_the_purge_stops_at_max_purge_and_a_later_broadcast_finds_the_rest(stack, chain, monkeypatch):
    monkeypatch.setattr("parley.chat.service.MAX_PURGE", 2)
    chain["alice"].send({"action": "sendMessage", "room": "r1", "text": "anyone?"})
    assert [stored(stack, chain[name]) for name in ("xena", "yuri", "zoe")] == [False, False, True]
    assert ("zoe", "r3") not in offline(chain["watcher"])
    chain["watcher"].send({"action": "sendMessage", "room": "r3", "text": "still there?"})
    assert not stored(stack, chain["zoe"])
    assert {("zoe", "r3"), ("zoe", "r4")} <= offline(chain["watcher"])


def test_a_purged_users_offline_reaches_only_members_of_a_private_room(stack, management_api):
    def signed_up(name: str):
        status, body, _ = stack.http("POST", "/auth/signup", {"username": name, "password": "correct horse 1"})
        assert status == 201, body
        return stack.connect(name, user_id=body["user"]["id"])

    alice, bob, mallory = signed_up("alice"), signed_up("bob"), signed_up("mallory")
    alice.send({"action": "createRoom", "room": "design", "kind": "private"})
    alice.send({"action": "addMember", "room": "design", "username": "bob"})
    for c in (alice, bob):
        c.send({"action": "join", "room": "design"})
    runtime = stack.modules["MessageFunction"].runtime
    # mallory's connection is in the room without being a member (as a join that raced a removal leaves it)
    runtime.connections.join(connection=runtime.connections.get(connection_id=mallory.connection_id), room="design")
    management_api.gone.add(bob.connection_id)
    alice.send({"action": "sendMessage", "room": "design", "text": "bob?"})
    assert not stored(stack, bob)
    assert offline(alice) == {("bob", "design")}
    assert offline(mallory) == set()
