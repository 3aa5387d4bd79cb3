"""The invariant of private conversations, end to end through the local gateway over real sockets:
nothing of a private or direct room ever reaches an outsider — no frame, no history, no presence, no typing,
no count.

Table: every path that reads or writes a room × every kind of outsider × both kinds of closed room. Each case
builds a world of its own (fresh users and rooms, on one stack per module: alice owns the private room `vault`
with bob; alice and bob share a direct room), lets the outsider try the path, has the members keep talking,
and then checks three things: the outsider was refused (`forbidden` / 403) or got nothing of the room; no
frame that mentions the room ever reached any of the outsider's connections; and the members saw no effect
of the attempt.

tests/local/rooms_invariant_mutations.py removes the membership check from one path at a time and runs this
table against each: every one of them must make it fail.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import websockets

from parley_local.server import LocalGateway
from tests.protocol_check import watch_websockets

pytestmark = pytest.mark.asyncio(loop_scope="module")
ROOT = Path(__file__).resolve().parents[2]
_worlds = itertools.count(1)

SECRET = "the vault code is 0451"
OWN = "mallory was here"  # what a removed member had said in the room before
PASSWORD = "correct horse 1"

PATHS = ["join", "history", "sendMessage", "typing", "markRead", "addMember", "removeMember",
         "http_messages", "http_presence", "http_rooms",
         "editMessage", "deleteMessage", "react", "unreact", "sync_catch_up", "sendMessage_reply_mention"]  # issue 21
OUTSIDERS = ["never_member", "removed_member", "other_private_member", "public_only"]
KINDS = ["private", "direct"]


@dataclass
class Person:
    name: str
    user: dict
    token: str
    sockets: list = field(default_factory=list)
    frames: list = field(default_factory=list)  # every frame any of this person's connections received
    readers: list = field(default_factory=list)

    async def open(self, ws_url: str):
        ws = await websockets.connect(f"{ws_url}?token={self.token}")
        self.sockets.append(ws)
        self.readers.append(asyncio.create_task(self._read(ws)))
        return ws

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                self.frames.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass

    async def send(self, frame: dict, index: int = 0) -> None:
        await self.sockets[index].send(json.dumps(frame))

    async def wait_for(self, predicate, timeout: float = 5.0) -> dict:
        async def poll():
            while True:
                for f in self.frames:
                    if predicate(f):
                        return f
                await asyncio.sleep(0.01)

        return await asyncio.wait_for(poll(), timeout)

    async def reply_to(self, action: str, frame: dict, expect: str) -> dict:
        """Send and wait for the first frame of type ``expect`` or an error for this action, after now."""
        start = len(self.frames)
        await self.send(frame)

        def mine(f: dict) -> bool:
            return f.get("type") == expect or (f.get("type") == "error" and f.get("action") == action)

        async def poll():
            while True:
                for f in self.frames[start:]:
                    if mine(f):
                        return f
                await asyncio.sleep(0.01)

        return await asyncio.wait_for(poll(), 5.0)

    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        for task in self.readers:
            task.cancel()


async def sign_up(http: httpx.AsyncClient, name: str) -> Person:
    response = await http.post("/auth/signup", json={"username": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body = response.json()
    return Person(name, body["user"], body["token"])


async def settle(*people: Person, quiet: float = 0.15) -> None:
    """Wait until no new frame arrived for ``quiet`` seconds (the gateway posts asynchronously)."""
    counts = None
    while True:
        now = [len(p.frames) for p in people]
        if now == counts:
            return
        counts = now
        await asyncio.sleep(quiet)


@dataclass
class World:
    http: httpx.AsyncClient
    ws_url: str
    alice: Person
    bob: Person
    outsider: Person
    room: str
    kind: str
    secret_id: str
    own_id: str | None = None  # a message the outsider sent in the room while a member (removed_member, private)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack():
    """Parley's whole stack as `make run` starts it (like the ``parley`` fixture), shared by the table's cases:
    each case makes users and rooms of its own."""
    from parley_local.__main__ import STACK_NAME, parley_profile

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("JWT_SECRET", raising=False)
        env_vars, overrides, _ = parley_profile()
        env_vars["Parameters"]["MONGODB_DB"] = f"parley_test_{uuid.uuid4().hex[:10]}"
        overrides["SignupLimit"] = "10000"  # the table signs up 3 users a case from one address
        async with LocalGateway(
            ROOT / "template.yaml", port=0, env_vars=env_vars, parameter_overrides=overrides, stack_name=STACK_NAME
        ) as gateway:
            with watch_websockets():  # every frame against docs/asyncapi.yaml
                yield gateway


async def build(http: httpx.AsyncClient, ws_url: str, outsider_kind: str, kind: str) -> World:
    n = f"{next(_worlds):03d}"
    own_id = None
    alice, bob = await sign_up(http, f"alice{n}"), await sign_up(http, f"bob{n}")
    outsider = await sign_up(http, f"mallory{n}")
    vault, other = f"vault{n}z", f"other{n}z"
    for p in (alice, bob, outsider):
        await p.open(ws_url)
        await p.open(ws_url)  # a second device: nothing may reach that one either
    created = await alice.reply_to("createRoom", {"action": "createRoom", "room": vault, "kind": "private"}, "roomCreated")
    assert created["type"] == "roomCreated", created
    assert (await alice.reply_to("addMember", {"action": "addMember", "room": vault, "username": bob.name}, "memberAdded"))["type"] == "memberAdded"
    if outsider_kind == "removed_member":
        await alice.reply_to("addMember", {"action": "addMember", "room": vault, "username": outsider.name}, "memberAdded")
        await outsider.wait_for(lambda f: f.get("type") == "added")
        assert (await outsider.reply_to("join", {"action": "join", "room": vault}, "joined"))["type"] == "joined"
        own = await outsider.reply_to("sendMessage", {"action": "sendMessage", "room": vault, "text": OWN}, "message")
        own_id = own["message"]["id"]
        removed = await alice.reply_to("removeMember", {"action": "removeMember", "room": vault, "username": outsider.name}, "memberRemoved")
        assert removed["type"] == "memberRemoved", removed
        await outsider.wait_for(lambda f: f.get("type") == "removed")
    elif outsider_kind == "other_private_member":
        carol = await sign_up(http, f"carol{n}")
        await carol.open(ws_url)
        await carol.reply_to("createRoom", {"action": "createRoom", "room": other, "kind": "private"}, "roomCreated")
        await carol.reply_to("addMember", {"action": "addMember", "room": other, "username": outsider.name}, "memberAdded")
        await outsider.wait_for(lambda f: f.get("type") == "added")
        await carol.close()
    elif outsider_kind == "public_only":
        await outsider.reply_to("join", {"action": "join", "room": "general"}, "joined")
        await outsider.reply_to("sendMessage", {"action": "sendMessage", "room": "general", "text": "hi all"}, "message")
    if kind == "direct":
        room = (await alice.reply_to("openDirect", {"action": "openDirect", "username": bob.name}, "direct"))["room"]
    else:
        room = vault
    for p in (alice, bob):
        assert (await p.reply_to("join", {"action": "join", "room": room}, "joined"))["type"] == "joined"
    secret = await alice.reply_to("sendMessage", {"action": "sendMessage", "room": room, "text": SECRET}, "message")
    assert secret["type"] == "message", secret
    await settle(alice, bob, outsider)
    for p in (alice, bob, outsider):  # what came before the attempt (she was a member, for one kind) is not a leak
        p.frames.clear()
    return World(http, ws_url, alice, bob, outsider, room, kind, secret["message"]["id"],
                 own_id if room == vault else None)


# ---------------------------------------------------------------- one attempt per path
SUCCESS = {"join": "joined", "history": "history", "sendMessage": "message", "typing": "__relayed_to_others__",
           "markRead": "__read_elsewhere__", "addMember": "added", "removeMember": "memberRemoved",
           "editMessage": "messageUpdated", "deleteMessage": "messageUpdated", "react": "messageUpdated",
           "unreact": "messageUpdated", "sync": "sync"}


async def ws_refused(w: World, action: str, frame: dict) -> None:
    """The outsider's reply is the error (with the code ``forbidden``), not what a member would get."""
    reply = await w.outsider.reply_to(action, frame, SUCCESS[action])
    assert reply.get("code") == "forbidden", reply
    assert w.room not in reply["message"] and w.bob.name not in reply["message"]


async def attempt(path: str, w: World) -> None:
    o, room = w.outsider, w.room
    if path == "join":
        await ws_refused(w, "join", {"action": "join", "room": room})
    elif path == "history":
        await ws_refused(w, "history", {"action": "history", "room": room})
    elif path == "sendMessage":
        await ws_refused(w, "sendMessage", {"action": "sendMessage", "room": room, "text": "intruder"})
    elif path == "typing":
        await ws_refused(w, "typing", {"action": "typing", "room": room, "isTyping": True})
    elif path == "markRead":
        await ws_refused(w, "markRead", {"action": "markRead", "room": room, "id": w.secret_id})
    elif path == "addMember":
        await ws_refused(w, "addMember", {"action": "addMember", "room": room, "username": o.name})
    elif path == "removeMember":
        await ws_refused(w, "removeMember", {"action": "removeMember", "room": room, "username": w.bob.name})
        await ws_refused(w, "removeMember", {"action": "removeMember", "room": room, "username": o.name})
    elif path in ("editMessage", "deleteMessage", "react", "unreact"):
        # the room's message, one of their own from when they were a member, and an id no message has: the same
        # refusal for each, so the reply tells nothing of which messages exist
        for target in (w.secret_id, w.own_id, "0" * 24):
            if target is None:
                continue
            frame = {"action": path, "room": room, "id": target}
            frame |= {"text": "rewritten"} if path == "editMessage" else {}
            frame |= {"emoji": "👍"} if path in ("react", "unreact") else {}
            await ws_refused(w, path, frame)
    elif path == "sync_catch_up":  # not "sync" alone: -k sync would select every row (asyncio)
        await ws_refused(w, "sync", {"action": "sync", "room": room})
        await ws_refused(w, "sync", {"action": "sync", "room": room, "since": "0" * 48})
    elif path == "sendMessage_reply_mention":
        frame = {"action": "sendMessage", "room": room, "text": "intruder", "replyTo": w.secret_id,
                 "mentions": [w.alice.user["id"], w.bob.user["id"]]}
        await ws_refused(w, "sendMessage", frame)
    elif path in ("http_messages", "http_presence"):
        suffix = "messages" if path == "http_messages" else "presence"
        response = await w.http.get(f"/rooms/{room}/{suffix}", headers=o.auth())
        assert response.status_code == 403, response.text
        assert SECRET not in response.text and w.bob.name not in response.text and w.alice.name not in response.text
    elif path == "http_rooms":
        response = await w.http.get("/rooms", headers=o.auth())
        assert response.status_code == 200, response.text
        assert room not in response.text and SECRET not in response.text
        await o.send({"action": "rooms"})
        listed = await o.wait_for(lambda f: f.get("type") == "rooms")
        assert room not in json.dumps(listed)
    else:  # pragma: no cover - the table and this function must agree
        raise AssertionError(path)


async def members_carry_on(w: World) -> None:
    """The room keeps living after the attempt: all of it must stay with the members."""
    a, b = w.alice, w.bob
    await a.send({"action": "typing", "room": w.room, "isTyping": True})
    await b.wait_for(lambda f: f.get("type") == "typing" and f.get("room") == w.room)
    later = await b.reply_to("sendMessage", {"action": "sendMessage", "room": w.room, "text": SECRET + " (again)"}, "message")
    assert later["type"] == "message", later
    await b.send({"action": "leave", "room": w.room})
    await b.send({"action": "join", "room": w.room})  # presence offline, then online
    await a.wait_for(lambda f: f.get("type") == "presence" and f.get("status") == "online" and f["user"]["username"] == b.name)
    await settle(a, b, w.outsider)


async def members_saw_no_effect(w: World) -> None:
    intruder = [f for p in (w.alice, w.bob) for f in p.frames
                if w.outsider.name in json.dumps(f) and f.get("type") != "rooms"]
    assert intruder == [], intruder
    listed = await w.http.get("/rooms", headers=w.alice.auth())
    (item,) = [i for i in listed.json()["rooms"] if i["room"] == w.room]
    assert item["members"] == (2 if w.kind == "private" else w.bob.user)  # nobody added, nobody removed
    history = await w.http.get(f"/rooms/{w.room}/messages", headers=w.alice.auth())
    before = [OWN] if w.own_id else []
    assert [m["text"] for m in history.json()["messages"]] == before + [SECRET, SECRET + " (again)"]
    assert all(m["version"] == 1 and "reactions" not in m and "mentions" not in m and "replyTo" not in m
               for m in history.json()["messages"])  # nothing edited, deleted, reacted to or quoted by the outsider
    assert all(i["mentions"] == 0 for i in listed.json()["rooms"])
    assert not [f for f in w.bob.frames if f.get("type") == "receipt"]


def outsider_got_nothing(w: World) -> None:
    leaked = [f for f in w.outsider.frames if f.get("type") != "error" and (w.room in json.dumps(f) or SECRET in json.dumps(f))]
    assert leaked == [], leaked


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("outsider_kind", OUTSIDERS)
@pytest.mark.parametrize("path", PATHS)
async def test_nothing_of_a_closed_room_reaches_an_outsider(stack, path, outsider_kind, kind):
    async with httpx.AsyncClient(base_url=stack.http_url) as http:
        w = await build(http, stack.ws_url, outsider_kind, kind)
        try:
            await attempt(path, w)
            await members_carry_on(w)
            outsider_got_nothing(w)
            await members_saw_no_effect(w)
        finally:
            for p in (w.alice, w.bob, w.outsider):
                await p.close()
