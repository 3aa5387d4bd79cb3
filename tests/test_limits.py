"""Per-user limits (issue 11, finding 6; issue 22, section 2): sendMessage, typing, createRoom, openDirect,
addMember and history are rate-limited per user, whatever the number of their connections; join per connection; and
a user may hold only so many open connections. Through the real handlers, loaded from template.yaml, with the
limits set the way the template sets them (environment variables), and a clock the test moves."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from tests.protocol_check import watch_stack
from tests.support import Stack, websocket_event

WINDOW_S = 10


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += timedelta(milliseconds=ms)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limited(template, management_api, local_env, monkeypatch, clock) -> Stack:
    for name, value in {"RATE_LIMIT_WINDOW_SECONDS": WINDOW_S, "SEND_MESSAGE_LIMIT": 5, "TYPING_LIMIT": 3,
                        "JOIN_LIMIT": 3, "MAX_CONNECTIONS_PER_USER": 2, "CREATE_ROOM_LIMIT": 2,
                        "OPEN_DIRECT_LIMIT": 2, "ADD_MEMBER_LIMIT": 2, "HISTORY_LIMIT": 3}.items():
        monkeypatch.setenv(name, str(value))
    stack = watch_stack(Stack(template, management_api), management_api, monkeypatch)  # docs/asyncapi.yaml too
    for module in stack.modules.values():
        if getattr(module, "runtime", None) is not None:
            module.runtime = dataclasses.replace(module.runtime, clock=clock)
    return stack


def send(client, text: str, cid: str) -> None:
    client.send({"action": "sendMessage", "room": "general", "text": text, "clientMsgId": cid})


def test_a_flood_of_messages_is_refused_past_the_limit_and_nothing_refused_is_stored_or_fanned_out(limited, clock):
    alice, bob = limited.connect("alice"), limited.connect("bob")
    alice.send({"action": "join", "room": "general"})
    bob.send({"action": "join", "room": "general"})
    for i in range(12):
        send(alice, f"m{i}", f"c{i}")
        clock.advance(10)
    assert [f["message"]["text"] for f in bob.frames("message")] == [f"m{i}" for i in range(5)]
    refused = alice.frames("error")
    assert len(refused) == 7
    for i, frame in enumerate(refused, start=5):
        assert frame["code"] == "rate_limited" and frame["action"] == "sendMessage" and frame["clientMsgId"] == f"c{i}"
        assert 0 < frame["retryAfterMs"] <= WINDOW_S * 1000
        assert "m5" not in frame["message"]
    # waiting what the last refusal said is enough; what was refused meanwhile did not count
    clock.advance(refused[-1]["retryAfterMs"])
    send(alice, "m5", "c5")
    assert [f["message"]["text"] for f in bob.frames("message")] == [f"m{i}" for i in range(6)]
    clock.advance(50)
    send(alice, "m5", "c5")  # the client's retry of the same message: stored once, not fanned out again
    assert [f["message"]["text"] for f in bob.frames("message")] == [f"m{i}" for i in range(6)]
    echoes = [f["message"] for f in alice.frames("message") if f["message"]["clientMsgId"] == "c5"]
    assert len(echoes) == 2 and echoes[0]["id"] == echoes[1]["id"]
    bob.send({"action": "history", "room": "general"})
    assert [m["text"] for m in bob.last("history")["messages"]] == [f"m{i}" for i in range(6)]


def test_the_send_limit_is_per_user_so_more_sockets_store_no_more_and_a_full_window_later_all_of_it_is_back(
    limited, clock
):
    """Issue 22, section 2: one user with 10 sockets stored 10 times the per-connection limit. Here the fixture's
    cap is 2 sockets; before the fix they stored 10 messages per window, the limit 5 each."""
    alice, other, bob = limited.connect("alice"), limited.connect("alice"), limited.connect("bob")
    for c in (alice, other, bob):
        c.send({"action": "join", "room": "general"})
    for i in range(12):  # alternating sockets
        send(alice if i % 2 == 0 else other, f"m{i}", f"m{i}")
        clock.advance(10)
    assert len(bob.frames("message")) == 5
    refused = alice.frames("error") + other.frames("error")
    assert len(refused) == 7 and all(e["code"] == "rate_limited" and e["retryAfterMs"] > 0 for e in refused)
    bob.send({"action": "history", "room": "general"})
    assert len(bob.last("history")["messages"]) == 5  # nothing refused was stored
    clock.advance(WINDOW_S * 1000)
    for i in range(5):
        send(other, f"late{i}", f"late{i}")
    assert len(other.frames("error")) == len([e for e in refused if e in other.frames("error")])  # all 5 went
    assert len(bob.frames("message")) == 10
    send(alice, "late5", "late5")
    assert alice.last("error")["code"] == "rate_limited"


def test_the_per_user_limit_is_the_users_own(limited, clock):
    alice, bob = limited.connect("alice"), limited.connect("bob")
    for c in (alice, bob):
        c.send({"action": "join", "room": "general"})
    for i in range(6):
        send(alice, f"a{i}", f"a{i}")
    assert alice.last("error")["code"] == "rate_limited"
    send(bob, "b0", "b0")  # another user is not held back by alice
    assert bob.frames("error") == []


def test_a_refused_send_to_a_room_not_joined_does_not_count(limited, clock):
    alice = limited.connect("alice")
    for i in range(8):  # never joined: refused, not counted
        send(alice, f"x{i}", f"x{i}")
    assert {e["code"] for e in alice.frames("error")} == {"not_in_room"}
    alice.send({"action": "join", "room": "general"})
    for i in range(5):
        send(alice, f"m{i}", f"m{i}")
    assert {e["code"] for e in alice.frames("error")} == {"not_in_room"}


@pytest.fixture
def people(limited):
    def person(name: str):
        status, body, _ = limited.http("POST", "/auth/signup", {"username": name, "password": "correct horse 1"},
                                       source_ip=f"192.0.2.{len(name)}")
        assert status == 201, body
        return body["user"]["id"]

    return person


def refused(*clients) -> list[dict]:
    return [e for c in clients for e in c.frames("error")]


def assert_rate_limited(errors: list[dict], action: str, count: int) -> None:
    assert len(errors) == count, errors
    for e in errors:
        assert e["code"] == "rate_limited" and e["action"] == action, e
        assert 0 < e["retryAfterMs"] <= WINDOW_S * 1000
        assert "from you" in e["message"]


def test_a_burst_of_create_room_from_two_sockets_is_refused_past_the_users_limit(limited, people, clock):
    uid = people("alice")
    a, b = limited.connect("alice", user_id=uid), limited.connect("alice", user_id=uid)
    for i in range(6):
        (a if i % 2 == 0 else b).send({"action": "createRoom", "room": f"r{i}", "kind": "private"})
    assert len(a.frames("roomCreated") + b.frames("roomCreated")) == 2
    assert_rate_limited(refused(a, b), "createRoom", 4)
    a.send({"action": "rooms"})
    assert sorted(r["room"] for r in a.last("rooms")["rooms"]) == ["r0", "r1"]  # nothing refused was created
    clock.advance(WINDOW_S * 1000)
    a.send({"action": "createRoom", "room": "later", "kind": "private"})
    assert a.last("roomCreated")["room"] == "later"


def test_a_burst_of_open_direct_is_refused_past_the_users_limit(limited, people, clock):
    uid = people("alice")
    for name in ("bob", "carol", "dave", "erin"):
        people(name)
    a, b = limited.connect("alice", user_id=uid), limited.connect("alice", user_id=uid)
    for i, name in enumerate(("bob", "carol", "dave", "erin")):
        (a if i % 2 == 0 else b).send({"action": "openDirect", "username": name})
    assert len(a.frames("direct") + b.frames("direct")) == 2
    assert_rate_limited(refused(a, b), "openDirect", 2)


def test_a_burst_of_add_member_is_refused_past_the_users_limit(limited, people, clock):
    uid = people("alice")
    for name in ("bob", "carol", "dave", "erin"):
        people(name)
    a, b = limited.connect("alice", user_id=uid), limited.connect("alice", user_id=uid)
    a.send({"action": "createRoom", "room": "vault", "kind": "private"})
    for i, name in enumerate(("bob", "carol", "dave", "erin")):
        (a if i % 2 == 0 else b).send({"action": "addMember", "room": "vault", "username": name})
    assert len(a.frames("memberAdded") + b.frames("memberAdded")) >= 2
    assert_rate_limited(refused(a, b), "addMember", 2)
    a.send({"action": "rooms"})
    assert [r["members"] for r in a.last("rooms")["rooms"]] == [3]  # alice and the two let through


def test_a_burst_of_history_is_refused_past_the_users_limit(limited, clock):
    a, b = limited.connect("alice"), limited.connect("alice")
    for c in (a, b):
        c.send({"action": "join", "room": "general"})
    for i in range(6):
        (a if i % 2 == 0 else b).send({"action": "history", "room": "general"})
    assert len(a.frames("history") + b.frames("history")) == 3
    errors = refused(a, b)
    assert_rate_limited(errors, "history", 3)
    assert all(e["room"] == "general" for e in errors)
    clock.advance(max(e["retryAfterMs"] for e in errors))
    answered = len(a.frames("history"))
    a.send({"action": "history", "room": "general"})
    assert len(a.frames("history")) == answered + 1


def test_typing_is_limited_per_user_across_sockets(limited, clock):
    a, b, bob = limited.connect("alice"), limited.connect("alice"), limited.connect("bob")
    for c in (a, b, bob):
        c.send({"action": "join", "room": "general"})
    for i in range(6):
        (a if i % 2 == 0 else b).send({"action": "typing", "room": "general", "isTyping": False})
    assert len(bob.frames("typing")) == 3
    assert_rate_limited(refused(a, b), "typing", 3)


def test_typing_signals_are_rate_limited_and_stopping_too(limited, clock):
    alice, bob = limited.connect("alice"), limited.connect("bob")
    for c in (alice, bob):
        c.send({"action": "join", "room": "general"})
    for _ in range(5):  # "stopped" is always relayed, so it is what a flood would use
        alice.send({"action": "typing", "room": "general", "isTyping": False})
    assert len(bob.frames("typing")) == 3
    errors = alice.frames("error")
    assert [e["code"] for e in errors] == ["rate_limited", "rate_limited"]
    assert all(e["action"] == "typing" and e["retryAfterMs"] > 0 for e in errors)
    clock.advance(errors[-1]["retryAfterMs"])
    alice.send({"action": "typing", "room": "general", "isTyping": True})
    assert len(bob.frames("typing")) == 4


def test_joins_are_rate_limited_and_a_refused_join_joins_nothing(limited, clock):
    alice = limited.connect("alice")
    for room in ("r1", "r2", "r3", "r4"):
        alice.send({"action": "join", "room": room})
    assert [f["room"] for f in alice.frames("joined")] == ["r1", "r2", "r3"]
    refused = alice.last("error")
    assert refused["code"] == "rate_limited" and refused["action"] == "join"
    send_to = {"action": "sendMessage", "room": "r4", "text": "hi", "clientMsgId": "x"}
    alice.send(send_to)
    assert alice.last("error")["code"] == "not_in_room"
    clock.advance(refused["retryAfterMs"])
    alice.send({"action": "join", "room": "r4"})
    assert alice.last("joined")["room"] == "r4"


def connect_event(client_id: str, user_id: str, connected_at_ms: int) -> dict:
    authorizer = {"principalId": user_id, "userId": user_id, "username": "alice"}
    return websocket_event("$connect", client_id, authorizer, connected_at=connected_at_ms)


def test_a_user_may_hold_only_so_many_connections_and_the_extra_one_is_refused_at_connect(limited, clock):
    now_ms = int(clock.now.timestamp() * 1000)
    results = [limited.invoke("ConnectFunction", connect_event(f"C{i}AAAAAAAAAAAAA=", "u-alice", now_ms + i))
               for i in range(4)]
    assert [r["statusCode"] for r in results] == [200, 200, 429, 429]
    assert limited.invoke("ConnectFunction", connect_event("BOBAAAAAAAAAAAA=", "u-bob", now_ms))["statusCode"] == 200
    # the refused ones left no record: they cannot join or be counted
    db = limited.modules["ConnectFunction"].runtime.connections
    assert db.get(connection_id="C2AAAAAAAAAAAAA=") is None
    # a closed connection frees its place
    alice = {"principalId": "u-alice", "userId": "u-alice", "username": "alice"}
    closed = websocket_event("$disconnect", "C0AAAAAAAAAAAAA=", alice)
    assert limited.invoke("DisconnectFunction", closed) == {"statusCode": 200}
    assert limited.invoke("ConnectFunction", connect_event("C5AAAAAAAAAAAAA=", "u-alice", now_ms + 5))["statusCode"] == 200


def test_at_the_cap_records_api_gateway_no_longer_has_are_forgotten_and_their_rooms_told(limited, management_api, clock):
    """A $disconnect that never came, within the 2 hours: at the cap, $connect asks API Gateway about each counted
    connection (GET @connections/{id}); one it answers 410 for is purged, its room hears that its user went
    offline, and the new connection takes its place. While API Gateway still has them all, the cap holds."""
    now_ms = int(clock.now.timestamp() * 1000)
    alice = {"principalId": "u-alice", "userId": "u-alice", "username": "alice"}
    bob = {"principalId": "u-bob", "userId": "u-bob", "username": "bob"}
    join = {"action": "join", "room": "general"}
    assert limited.invoke("ConnectFunction", connect_event("C0AAAAAAAAAAAAA=", "u-alice", now_ms))["statusCode"] == 200
    assert limited.invoke("ConnectFunction", connect_event("C1AAAAAAAAAAAAA=", "u-alice", now_ms + 1))["statusCode"] == 200
    limited.invoke("MessageFunction", websocket_event("join", "C0AAAAAAAAAAAAA=", alice, join, connected_at=now_ms))
    bob_connect = websocket_event("$connect", "B0AAAAAAAAAAAAA=", bob, connected_at=now_ms)
    assert limited.invoke("ConnectFunction", bob_connect)["statusCode"] == 200
    limited.invoke("MessageFunction", websocket_event("join", "B0AAAAAAAAAAAAA=", bob, join, connected_at=now_ms))
    assert {u["username"] for u in management_api.frames("B0AAAAAAAAAAAAA=", "joined")[-1]["users"]} == {"alice", "bob"}

    assert limited.invoke("ConnectFunction", connect_event("C2AAAAAAAAAAAAA=", "u-alice", now_ms + 2))["statusCode"] == 429
    assert sorted(management_api.probed) == ["C0AAAAAAAAAAAAA=", "C1AAAAAAAAAAAAA="]  # asked, both still there

    management_api.gone.add("C0AAAAAAAAAAAAA=")  # its socket is gone; its $disconnect never came
    clock.advance(61_000)  # both were confirmed just now: they are asked about again a minute later
    assert limited.invoke("ConnectFunction", connect_event("C3AAAAAAAAAAAAA=", "u-alice", now_ms + 3))["statusCode"] == 200
    store = limited.modules["ConnectFunction"].runtime.connections
    assert store.get(connection_id="C0AAAAAAAAAAAAA=") is None
    assert store.get(connection_id="C1AAAAAAAAAAAAA=") is not None
    offline = management_api.frames("B0AAAAAAAAAAAAA=", "presence")[-1]
    assert (offline["room"], offline["user"]["username"], offline["status"]) == ("general", "alice", "offline")
    assert limited.invoke("ConnectFunction", connect_event("C4AAAAAAAAAAAAA=", "u-alice", now_ms + 4))["statusCode"] == 429


def test_knocking_at_the_cap_asks_api_gateway_about_a_connection_at_most_once_a_minute(limited, management_api, clock):
    now_ms = int(clock.now.timestamp() * 1000)
    for i in range(2):
        assert limited.invoke("ConnectFunction", connect_event(f"C{i}AAAAAAAAAAAAA=", "u-alice", now_ms + i))["statusCode"] == 200
    for i in range(2, 12):  # ten refused attempts within the minute
        assert limited.invoke("ConnectFunction", connect_event(f"C{i}AAAAAAAAAAAAA=", "u-alice", now_ms + i))["statusCode"] == 429
    assert sorted(management_api.probed) == ["C0AAAAAAAAAAAAA=", "C1AAAAAAAAAAAAA="]  # asked once each
    clock.advance(61_000)
    management_api.gone.add("C1AAAAAAAAAAAAA=")
    later_ms = int(clock.now.timestamp() * 1000)
    assert limited.invoke("ConnectFunction", connect_event("D0AAAAAAAAAAAAA=", "u-alice", later_ms))["statusCode"] == 200
    assert sorted(management_api.probed) == ["C0AAAAAAAAAAAAA=", "C0AAAAAAAAAAAAA=", "C1AAAAAAAAAAAAA=", "C1AAAAAAAAAAAAA="]


def test_connections_of_an_ended_session_do_not_count_against_the_cap(limited, management_api, clock):
    """Their sockets are being closed (and refuse every frame if the close was lost): they hold no place."""
    now_ms = int(clock.now.timestamp() * 1000)
    for i in range(2):
        assert limited.invoke("ConnectFunction", connect_event(f"C{i}AAAAAAAAAAAAA=", "u-alice", now_ms + i))["statusCode"] == 200
    store = limited.modules["ConnectFunction"].runtime.connections
    assert store.end_sessions(user_id="u-alice") == ["C0AAAAAAAAAAAAA=", "C1AAAAAAAAAAAAA="]
    assert limited.invoke("ConnectFunction", connect_event("C2AAAAAAAAAAAAA=", "u-alice", now_ms + 2))["statusCode"] == 200
    assert management_api.probed == []  # under the cap: nothing to ask


def test_stale_connection_records_do_not_count_against_the_cap(limited, clock):
    """Records whose $disconnect never came: once past API Gateway's 2-hour limit they are not counted."""
    long_ago = int((clock.now - timedelta(hours=3)).timestamp() * 1000)
    for i in range(2):
        assert limited.invoke("ConnectFunction", connect_event(f"OLD{i}AAAAAAAAAAA=", "u-alice", long_ago + i))["statusCode"] == 200
    now_ms = int(clock.now.timestamp() * 1000)
    assert limited.invoke("ConnectFunction", connect_event("NEWAAAAAAAAAAAA=", "u-alice", now_ms))["statusCode"] == 200


def test_the_limits_are_template_parameters_with_the_settings_defaults(template):
    from parley.config import Settings
    from parley.limits import Limits

    params, resources = template["Parameters"], template["Resources"]
    wiring = {
        "MessageFunction": {"RATE_LIMIT_WINDOW_SECONDS": "RateLimitWindowSeconds", "SEND_MESSAGE_LIMIT": "SendMessageLimit",
                            "TYPING_LIMIT": "TypingLimit", "JOIN_LIMIT": "JoinLimit",
                            "CREATE_ROOM_LIMIT": "CreateRoomLimit", "OPEN_DIRECT_LIMIT": "OpenDirectLimit",
                            "ADD_MEMBER_LIMIT": "AddMemberLimit", "HISTORY_LIMIT": "HistoryLimit"},
        "ConnectFunction": {"MAX_CONNECTIONS_PER_USER": "MaxConnectionsPerUser"},
    }
    for function, variables in wiring.items():
        env = resources[function]["Properties"]["Environment"]["Variables"]
        for variable, parameter in variables.items():
            assert env[variable] == {"Ref": parameter}
    defaults = Settings.from_env({"PARLEY_ENV": "local"}).limits
    assert defaults == Limits()
    assert params["RateLimitWindowSeconds"]["Default"] == defaults.send.window.total_seconds()
    assert params["SendMessageLimit"]["Default"] == defaults.send.count
    assert params["TypingLimit"]["Default"] == defaults.typing.count
    assert params["JoinLimit"]["Default"] == defaults.join.count
    assert params["CreateRoomLimit"]["Default"] == defaults.create_room.count
    assert params["OpenDirectLimit"]["Default"] == defaults.open_direct.count
    assert params["AddMemberLimit"]["Default"] == defaults.add_member.count
    assert params["HistoryLimit"]["Default"] == defaults.history.count
    assert params["MaxConnectionsPerUser"]["Default"] == defaults.connections_per_user
    configured = Settings.from_env({"PARLEY_ENV": "local", "SEND_MESSAGE_LIMIT": "7", "RATE_LIMIT_WINDOW_SECONDS": "5"})
    assert configured.limits.send.count == 7 and configured.limits.join.window == timedelta(seconds=5)
