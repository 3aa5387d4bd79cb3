"""Issue 20 §6: membership changes that a failure cannot leave half-done.

Each test fails one step of an action at a time (the database ports raise at their N-th call, or the N-th post
fails), then retries the action as a client would after ``internal_error``, and checks that the state converged:
the membership gone (or there), the room out of the removed user's connections, ``memberCount`` equal to the
memberships there really are, and every frame sent at least once. N runs over every step until the action
no longer reaches N."""

from __future__ import annotations

import pytest

from parley.errors import StoreUnavailable
from tests.support import Stack

PASSWORD = "correct horse 1"
MAX_STEPS = 40  # a guard: the actions here take fewer


class FaultAt:
    """Wraps the public methods of the message function's stores and the Management API's ``send``: the
    ``n``-th call of any of them raises ``StoreUnavailable`` (the post: ``ConnectionError``) instead."""

    def __init__(self, monkeypatch, runtime, n: int) -> None:
        from parley.adapters import apigw

        self.n, self.calls, self.failed = n, 0, None
        for store in (runtime.rooms, runtime.connections, runtime.users):
            for name in dir(type(store)):
                if not name.startswith("_") and callable(getattr(store, name)):
                    monkeypatch.setattr(store, name, self._wrap(getattr(store, name), name))
        monkeypatch.setattr(apigw.ManagementApiBroadcaster, "send",
                            self._wrap(apigw.ManagementApiBroadcaster.send, "send", ConnectionError))

    def _wrap(self, fn, name, error=StoreUnavailable):
        def call(*args, **kwargs):
            self.calls += 1
            if self.calls == self.n:
                self.failed = name
                raise error(f"injected at step {self.n} ({name})")
            return fn(*args, **kwargs)

        return call


@pytest.fixture
def world(template, management_api, local_env, monkeypatch):
    for name in ("CREATE_ROOM_LIMIT", "ADD_MEMBER_LIMIT", "JOIN_LIMIT"):  # many rooms here, one per step
        monkeypatch.setenv(name, "1000")
    stack = Stack(template, management_api)
    users = {}
    for name in ("alice", "bob", "carol"):
        status, body, _ = stack.http("POST", "/auth/signup", {"username": name, "password": PASSWORD})
        assert status == 201, body
        users[name] = stack.connect(name, user_id=body["user"]["id"])
    runtime = stack.modules["MessageFunction"].runtime
    return stack, users, runtime


def _private_room(users, room: str) -> None:
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    alice.send({"action": "createRoom", "room": room, "kind": "private"})
    for name in ("bob", "carol"):
        alice.send({"action": "addMember", "room": room, "username": name})
    for client in (alice, bob, carol):
        assert client.send({"action": "join", "room": room}) == {"statusCode": 200}
    assert not [f for c in (alice, bob, carol) for f in c.frames("error") if f.get("room") == room]


def _state(runtime, room: str) -> dict:
    db = runtime.db
    doc = db.rooms.find_one({"_id": room}) or {}
    return {
        "members": sorted(m["username"] for m in db.memberships.find({"room": room})),
        "memberCount": doc.get("memberCount"),
        "owner": doc.get("ownerUsername"),
        "removing": doc.get("removing") or [],
        "joined": sorted(c["username"] for c in db.connections.find({"rooms": room})),
    }


def _frames(client, type_: str, room: str) -> list[dict]:
    return [f for f in client.frames(type_) if f.get("room") == room]


def _run_with_fault(monkeypatch, runtime, n: int, action) -> FaultAt:
    with monkeypatch.context() as patch:
        fault = FaultAt(patch, runtime, n)
        action()
    return fault


SCENARIOS = {  # actor, target, who stays, the owner after
    "the owner removes bob": ("alice", "bob", ["alice", "carol"], "alice"),
    "bob leaves": ("bob", "bob", ["alice", "carol"], "alice"),
    "the owner leaves": ("alice", "alice", ["bob", "carol"], "bob"),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_remove_member_failed_at_any_step_converges_on_retry(world, monkeypatch, scenario):
    stack, users, runtime = world
    actor_name, target_name, stay, owner = SCENARIOS[scenario]
    actor, target = users[actor_name], users[target_name]
    others = [users[n] for n in stay]
    frame = {"action": "removeMember", "username": target_name}
    report = []
    for n in range(1, MAX_STEPS):
        room = f"den-{n}"
        _private_room(users, room)
        fault = _run_with_fault(monkeypatch, runtime, n, lambda: actor.send({**frame, "room": room}))
        if fault.failed is None:  # the action has fewer steps than n: every step was failed once
            assert n > 5
            break
        assert _frames(actor, "error", room)[-1]["code"] == "internal_error"
        actor.send({**frame, "room": room})  # the client's retry
        state = _state(runtime, room)
        report.append((n, fault.failed, state))
        assert [f["code"] for f in _frames(actor, "error", room)] == ["internal_error"], (n, fault.failed)
        assert state["members"] == stay, (n, fault.failed, state)
        assert state["memberCount"] == len(stay), (n, fault.failed, state)
        assert target_name not in state["joined"], (n, fault.failed, state)
        assert state["owner"] == owner and state["removing"] == [], (n, fault.failed, state)
        assert _frames(target, "removed", room), (n, fault.failed)  # at least once
        for other in others:
            assert [f["user"]["username"] for f in _frames(other, "memberRemoved", room)][-1:] == [target_name], \
                (n, fault.failed, other.username)
            if owner != "alice":
                assert _frames(other, "ownerChanged", room)[-1]["owner"]["username"] == owner, (n, fault.failed)
    else:
        pytest.fail("the action never ran to the end")
    assert {failed for _, failed, _ in report} >= {"begin_removal", "remove_membership", "recount_members",
                                                   "end_removal", "send"}


def test_a_public_room_left_from_the_list_converges_on_retry(world, monkeypatch):
    stack, users, runtime = world
    bob = users["bob"]
    for n in range(1, MAX_STEPS):
        room = f"lobby-{n}"
        for name in ("alice", "bob"):
            users[name].send({"action": "join", "room": room})
        fault = _run_with_fault(monkeypatch, runtime, n,
                                lambda: bob.send({"action": "removeMember", "room": room, "username": "bob"}))
        if fault.failed is None:
            break
        bob.send({"action": "removeMember", "room": room, "username": "bob"})
        state = _state(runtime, room)
        assert state["members"] == ["alice"] and state["memberCount"] == 1, (n, fault.failed, state)
        assert state["removing"] == [] and _frames(bob, "removed", room), (n, fault.failed, state)
    else:
        pytest.fail("the action never ran to the end")


def test_an_add_member_failed_at_any_step_leaves_a_true_count_after_the_retry(world, monkeypatch):
    stack, users, runtime = world
    alice = users["alice"]
    for n in range(1, MAX_STEPS):
        room = f"club-{n}"
        alice.send({"action": "createRoom", "room": room, "kind": "private"})
        add = {"action": "addMember", "room": room, "username": "bob"}
        fault = _run_with_fault(monkeypatch, runtime, n, lambda: alice.send(add))
        if fault.failed is None:
            break
        alice.send(add)  # the retry: added now, or "already a member" if the insert had landed
        state = _state(runtime, room)
        assert state["members"] == ["alice", "bob"] and state["memberCount"] == 2, (n, fault.failed, state)
    else:
        pytest.fail("the action never ran to the end")


def test_remove_member_of_someone_never_a_member_is_still_refused(world):
    stack, users, runtime = world
    alice = users["alice"]
    alice.send({"action": "createRoom", "room": "den", "kind": "private"})
    alice.send({"action": "removeMember", "room": "den", "username": "bob"})
    assert alice.last("error")["code"] == "invalid_request"
    assert _state(runtime, "den")["removing"] == [] and _state(runtime, "den")["memberCount"] == 1
    users["bob"].send({"action": "removeMember", "room": "den", "username": "bob"})
    assert users["bob"].last("error")["code"] == "forbidden"
