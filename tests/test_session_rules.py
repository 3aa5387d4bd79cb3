"""Table-driven: every path that reads or writes refuses a token whose session is over, for every way a
session ends. Each row has its control (the same path with a live token is let through), so removing any
one check (the authorizer's, an HTTP route's, the frame expiry check, an ended-record check) fails a row."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from parley.chat.frames import ACTIONS
from tests.support import SECRET, new_connection_id, real_event, websocket_event

STRONG = "correct horse"
NEW = "velvet otter climbs 9 hills"


def _signup(stack, name):
    status, body, _ = stack.http("POST", "/auth/signup", {"username": name, "password": STRONG})
    assert status == 201, body
    return body


def _login(stack, name):
    return stack.http("POST", "/auth/login", {"username": name, "password": STRONG})[1]


def _claims(token):
    return jwt.decode(token, SECRET, algorithms=["HS256"], issuer="parley")


def _resign(token, **changes):
    claims = {**_claims(token), **changes}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256")


# How a session ends: each returns a token that must now be refused (and the user's live token, for controls).
def logged_out(stack):
    victim, live = _signup(stack, "alice")["token"], _login(stack, "alice")["token"]
    assert stack.http("POST", "/auth/logout", token=victim)[0] == 204
    return victim, live


def logged_out_everywhere(stack):
    victim, other = _signup(stack, "alice")["token"], _login(stack, "alice")["token"]
    assert stack.http("POST", "/auth/logout-all", token=other)[0] == 204
    return victim, _login(stack, "alice")["token"]


def password_changed_elsewhere(stack):
    victim, live = _signup(stack, "alice")["token"], _login(stack, "alice")["token"]
    body = {"currentPassword": STRONG, "newPassword": NEW}
    assert stack.http("POST", "/auth/password", body, token=live)[0] == 204
    return victim, live


def expired(stack):
    live = _signup(stack, "alice")["token"]
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    return _resign(live, exp=past, iat=past - timedelta(hours=1)), live


def without_session_id(stack):
    live = _signup(stack, "alice")["token"]
    return _resign(live, sid=None), live


def with_another_users_session(stack):
    live = _signup(stack, "alice")["token"]
    bob = _signup(stack, "bob")["token"]
    return _resign(live, sid=_claims(bob)["sid"]), live


def crowded_out(stack):
    from parley.adapters.mongo_accounts import MAX_SESSIONS

    victim = _signup(stack, "alice")["token"]
    for _ in range(MAX_SESSIONS):
        live = _login(stack, "alice")["token"]
    return victim, live


ENDINGS = [logged_out, logged_out_everywhere, password_changed_elsewhere, expired, without_session_id,
           with_another_users_session, crowded_out]

HTTP_PATHS = [
    ("GET", "/auth/me", None),
    ("GET", "/rooms/general/messages", None),
    ("GET", "/rooms/general/presence", None),
    ("POST", "/auth/refresh", None),
    ("POST", "/auth/logout", None),
    ("POST", "/auth/logout-all", None),
    ("POST", "/auth/password", {"currentPassword": "whatever it is", "newPassword": "another velvet otter 3"}),
    ("PATCH", "/auth/me", {"displayName": "zoë"}),
    ("GET", "/blocks", None),
    ("GET", "/rooms", None),
    ("GET", "/rooms/public", None),
    ("GET", "/rooms/general/members", None),
]
# Routes the session cookie or the password authenticates, not a Bearer token (their own tests: test_accounts.py)
NOT_BEARER = {("POST", "/auth/login"), ("POST", "/auth/session")}


def test_every_bearer_route_of_the_api_has_a_row():
    import json

    from tests.support import ROOT

    doc = json.loads((ROOT / "docs" / "openapi.json").read_text())
    bearer = {(m.upper(), p) for p, ops in doc["paths"].items() for m, op in ops.items() if "401" in op["responses"]}
    rows = {(m, p.replace("/general/", "/{room}/")) for m, p, _ in HTTP_PATHS}
    assert bearer - NOT_BEARER == rows, "every route a Bearer token opens has a row of HTTP_PATHS"


@pytest.mark.parametrize("ending", ENDINGS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("method,path,body", HTTP_PATHS, ids=[f"{m} {p}" for m, p, _ in HTTP_PATHS])
def test_every_http_route_refuses_a_token_whose_session_is_over(stack, ending, method, path, body):
    refused, live = ending(stack)
    assert stack.http(method, path, body, token=refused)[0] == 401
    assert stack.http(method, path, body, token=live)[0] != 401  # control: the rule, not the route, refused


@pytest.mark.parametrize("ending", ENDINGS, ids=lambda f: f.__name__)
def test_the_authorizer_refuses_a_token_whose_session_is_over(stack, ending):
    refused, live = ending(stack)

    def effect(token):
        event = real_event("powertools-websocket-authorizer-request.json")
        event["queryStringParameters"] = {"token": token}
        return stack.invoke("AuthorizerFunction", event)["policyDocument"]["Statement"][0]["Effect"]

    assert effect(refused) == "Deny"
    assert effect(live) == "Allow"


# ---------------------------------------------------------------- frames on open sockets
FRAMES = {
    "sendMessage": {"action": "sendMessage", "room": "general", "text": "hi"},
    "join": {"action": "join", "room": "general"},
    "typing": {"action": "typing", "room": "general", "isTyping": True},
    "history": {"action": "history", "room": "general"},
    "leave": {"action": "leave", "room": "general"},
    "ping": {"action": "ping"},
    "createRoom": {"action": "createRoom", "room": "hideout", "kind": "private"},
    "addMember": {"action": "addMember", "room": "club", "username": "bob"},
    "removeMember": {"action": "removeMember", "room": "club", "username": "bob"},
    "openDirect": {"action": "openDirect", "username": "bob"},
    "markRead": {"action": "markRead", "room": "club", "id": "0" * 24},
    "rooms": {"action": "rooms"},
    "block": {"action": "block", "username": "bob"},
    "unblock": {"action": "unblock", "username": "bob"},
    "editMessage": {"action": "editMessage", "room": "general", "id": "0" * 24, "text": "changed"},
    "deleteMessage": {"action": "deleteMessage", "room": "general", "id": "0" * 24},
    "react": {"action": "react", "room": "general", "id": "0" * 24, "emoji": "👍"},
    "unreact": {"action": "unreact", "room": "general", "id": "0" * 24, "emoji": "👍"},
    "sync": {"action": "sync", "room": "general"},
}
assert set(FRAMES) == set(ACTIONS), "every action of the protocol has a row"


def _socket(stack, session, exp_offset=3600):
    claims = _claims(session["token"])
    context = {"sessionId": claims["sid"], "tokenExp": str(int(time.time()) + exp_offset)}
    ws = stack.connect(session["user"]["username"], session["user"]["id"], context)
    ws.send(FRAMES["join"])
    assert ws.last("joined")
    return ws


@pytest.mark.parametrize("action", list(FRAMES))
def test_every_frame_after_the_token_expired_gets_session_ended(stack, action):
    session = _signup(stack, "alice")
    stale, fresh = _socket(stack, session, exp_offset=3600), _socket(stack, session, exp_offset=3600)
    stale.context["tokenExp"] = str(int(time.time()) - 1)  # the same connection, later: its token expired
    stale.send(FRAMES[action])
    assert stale.frames()[-1] == {"type": "error", "code": "session_ended", "message": stale.frames()[-1]["message"],
                                  "action": action, **({"room": FRAMES[action]["room"]} if "room" in FRAMES[action] else {})}
    assert stack.api.closed == [stale.connection_id]
    fresh.send(FRAMES[action])
    assert fresh.frames()[-1].get("code") != "session_ended"


# The ways of ending a session that mark its open sockets' records (the others end tokens only: expiry above,
# a forged or dropped `sid` never had a socket of its own). Each takes Alice's session to end and her other one.
def _log_out(stack, ended, other):
    assert stack.http("POST", "/auth/logout", token=ended["token"])[0] == 204
    return other


def _log_out_everywhere(stack, ended, other):
    assert stack.http("POST", "/auth/logout-all", token=ended["token"])[0] == 204
    return _login(stack, "alice")  # every session ended: the control gets a new one


def _change_password_elsewhere(stack, ended, other):
    body = {"currentPassword": STRONG, "newPassword": NEW}
    assert stack.http("POST", "/auth/password", body, token=other["token"])[0] == 204
    return other


MARKING_ENDINGS = [_log_out, _log_out_everywhere, _change_password_elsewhere]


def _ended_and_live(stack, ending):
    """Alice's socket of a session that then ends, and her socket of a live session; the test Management API only
    records the close (the socket stays), as if the close were lost. Alice owns the private room ``club``, where
    Bob is a member; both of Alice's sockets and Bob's joined ``general``."""
    ended_session, other = _signup(stack, "alice"), _login(stack, "alice")
    bob = _signup(stack, "bob")
    ended = _socket(stack, ended_session)
    live_session = ending(stack, ended_session, other)
    assert stack.api.closed == [ended.connection_id]  # the only socket yet: the live one opens after
    live = _socket(stack, live_session)
    live.send({"action": "createRoom", "room": "club", "kind": "private"})
    live.send({"action": "addMember", "room": "club", "username": "bob"})
    assert live.last("memberAdded")["user"]["username"] == "bob"
    return ended, live, _socket(stack, bob)


# ping reads and writes nothing (no database read: it keeps a socket open even while the database is down)
READS_OR_WRITES = [action for action in FRAMES if action != "ping"]


@pytest.mark.parametrize("ending", MARKING_ENDINGS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("action", READS_OR_WRITES)
def test_every_frame_that_reads_or_writes_refuses_an_ended_session_even_if_the_close_was_lost(stack, action, ending):
    ended, live, _ = _ended_and_live(stack, ending)
    ended.send(FRAMES[action])
    assert ended.frames()[-1].get("code") == "session_ended"
    live.send(FRAMES[action])
    assert live.frames()[-1].get("code") != "session_ended"


def test_ping_answers_an_ended_sessions_socket_and_reads_nothing(stack, monkeypatch):
    ended, _, _ = _ended_and_live(stack, _log_out)
    runtime = stack.modules["MessageFunction"].runtime

    def no_database(**_):
        raise AssertionError("ping read the connection record")

    monkeypatch.setattr(runtime.connections, "is_ended", no_database)
    ended.send(FRAMES["ping"])
    assert ended.frames()[-1] == {"type": "pong"}


@pytest.mark.parametrize("ending", MARKING_ENDINGS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("room", ["general", "club"])
def test_an_ended_sessions_socket_receives_nothing_more_even_if_the_close_was_lost(stack, room, ending):
    ended, live, bob = _ended_and_live(stack, ending)
    before = len(ended.frames())
    bob.send({"action": "sendMessage", "room": room, "text": "after the session ended"})
    assert live.last("message")["message"]["text"] == "after the session ended"  # control: the message went out
    assert ended.frames()[before:] == []


# ---------------------------------------------------------------- a socket opened while its session ends (issue 22 §1)
class _EndingDuringConnect:
    """The connection store of ConnectFunction, with the session's ending run inside ``$connect``: just before its
    record is stored (the authorizer has let it in, the ending lists no record of it yet), or just after."""

    def __init__(self, store, end, when):
        self._store, self._end, self._when = store, end, when

    def add(self, *, connection):
        if self._when == "before":
            self._end()
        self._store.add(connection=connection)
        if self._when == "after":
            self._end()

    def __getattr__(self, name):
        return getattr(self._store, name)


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("ending", MARKING_ENDINGS, ids=lambda f: f.__name__.strip("_"))
def test_a_socket_whose_session_ends_during_its_connect_is_refused_and_leaves_no_record(stack, monkeypatch, ending,
                                                                                        when):
    ended_session, other = _signup(stack, "alice"), _login(stack, "alice")
    module = stack.modules["ConnectFunction"]
    runtime = module.runtime
    ended = []
    monkeypatch.setattr(module, "runtime", dataclasses.replace(runtime, connections=_EndingDuringConnect(
        runtime.connections, lambda: ended.append(ending(stack, ended_session, other)), when)))

    def connect(session):
        claims = _claims(session["token"])
        context = {"principalId": claims["sub"], "userId": claims["sub"], "username": claims["username"], "sessionId": claims["sid"],
                   "tokenExp": str(claims["exp"])}
        event = websocket_event("$connect", new_connection_id(), context)
        return event["requestContext"]["connectionId"], stack.invoke("ConnectFunction", event)

    connection_id, result = connect(ended_session)
    assert ended, "the ending ran inside $connect"
    assert result == {"statusCode": 403}  # API Gateway refuses the handshake: the socket never opens
    assert runtime.connections.get(connection_id=connection_id) is None
    # control: the same $connect for the session that lives on opens, and its record stays
    monkeypatch.setattr(module, "runtime", runtime)
    connection_id, result = connect(ended[0])
    assert result == {"statusCode": 200}
    assert runtime.connections.get(connection_id=connection_id) is not None
