"""The private and direct rooms part of ``python -m bench roundtrips``: seeding rooms and memberships, and the
room operations (WebSocket and HTTP) counted through the real handlers (see bench/roundtrips.py)."""

from __future__ import annotations

import json

from datetime import datetime, timedelta, timezone

from bench.common import ws_event
from parley_local import kit

VAULT = "vault"  # a private room of alice and bob, holding N stored messages
SEP = "\x1f"


def seed(db, start: int, stored: int) -> None:
    """N rooms (half public, half private) with one member each, and N messages in the private room."""
    now = datetime.now(timezone.utc)
    rooms, members = [], []
    for i in range(start, start + stored):
        kind = "public" if i % 2 else "private"
        when = now - timedelta(seconds=stored - i)
        rooms.append({"_id": f"seed-{i}", "kind": kind, "createdAt": when, "lastActivityAt": when, "memberCount": 1,
                      "messageCount": 0, **({"ownerId": f"x{i}", "ownerUsername": f"other{i}"} if kind == "private" else {})})
        members.append({"_id": f"seed-{i}{SEP}x{i}", "room": f"seed-{i}", "userId": f"x{i}", "username": f"other{i}",
                        "kind": kind, "joinedAt": when, "readId": None})
    db.rooms.insert_many(rooms)
    db.memberships.insert_many(members)
    base = int(now.timestamp() * 1000) - 200_000
    db.messages.insert_many(
        [{"_id": f"{base + i:012x}{i:012x}", "room": VAULT, "text": f"old {i}", "userId": "x0", "username": "other0",
          "createdAt": datetime.fromtimestamp((base + i) / 1000, timezone.utc)} for i in range(start, start + stored)]
    )


def create_vault(db, alice, bob) -> None:
    now = datetime.now(timezone.utc)
    db.rooms.insert_one({"_id": VAULT, "kind": "private", "createdAt": now, "lastActivityAt": now, "memberCount": 2,
                         "messageCount": 0, "ownerId": alice.id, "ownerUsername": alice.username})
    db.memberships.insert_many([
        {"_id": f"{VAULT}{SEP}{u.id}", "room": VAULT, "userId": u.id, "username": u.username, "kind": "private",
         "joinedAt": now, "readId": None} for u in (alice, bob)
    ])


def http_event(method: str, path: str, token: str, query: str = "", body: dict | None = None) -> dict:
    headers = {"authorization": f"Bearer {token}", **({"content-type": "application/json"} if body is not None else {})}
    return kit.http_event(method, path, query=query, headers=headers, body=json.dumps(body) if body is not None else None)


def operations(op, sc, *, db, alice, bob, token: str, tag: str, users) -> None:
    """``op(name, logical_id, event, doc_key, ok=...)`` counts one invocation; ``sc.call`` runs one uncounted.
    Each ``ok`` checks the operation's effect in the database (an error reply also returns status 200)."""
    a = (f"R{tag:>12}=", alice.id, alice.username)
    b = (f"S{tag:>12}=", bob.id, bob.username)
    for who in (a, b):
        sc.call("ConnectFunction", ws_event("$connect", *who))
    dave = users.create(username=f"dave{tag}", password_hash="not-a-real-hash")
    private = f"priv-{tag}"
    dm = "dm-" + "-".join(sorted((alice.id, dave.id)))

    def ws(who, frame: dict) -> dict:
        return ws_event(frame["action"], *who, frame)

    def member(room: str, user) -> dict | None:
        return db.memberships.find_one({"_id": f"{room}{SEP}{user.id}"})

    def has_text(room: str, text: str):
        return lambda out: db.messages.find_one({"room": room, "text": text}) is not None

    def status(code: int):
        return lambda out: out.get("statusCode") == code

    op("createRoom", "MessageFunction", ws(a, {"action": "createRoom", "room": private, "kind": "private"}), "createRoom",
       ok=lambda out: db.rooms.find_one({"_id": private}) is not None)
    op("addMember", "MessageFunction", ws(a, {"action": "addMember", "room": private, "username": bob.username}),
       "addMember", ok=lambda out: member(private, bob) is not None)
    op("join (private room)", "MessageFunction", ws(a, {"action": "join", "room": VAULT}), "join (private room)",
       ok=lambda out: VAULT in db.connections.find_one({"_id": a[0]})["rooms"])
    op("sendMessage (private room, joined)", "MessageFunction",
       ws(a, {"action": "sendMessage", "room": VAULT, "text": f"hello vault {tag}"}), "sendMessage (private or direct)",
       ok=has_text(VAULT, f"hello vault {tag}"))
    op("sendMessage (private room, not joined)", "MessageFunction",
       ws(b, {"action": "sendMessage", "room": VAULT, "text": f"from bob {tag}"}), "sendMessage (private or direct)",
       ok=has_text(VAULT, f"from bob {tag}"))
    op("typing (private room)", "MessageFunction", ws(a, {"action": "typing", "room": VAULT, "isTyping": True}),
       "typing (private room)", ok=lambda out: "typingAt" in db.connections.find_one({"_id": a[0]}))
    op("history (private room)", "MessageFunction", ws(a, {"action": "history", "room": VAULT}), "history (private room)")
    newest = db.messages.find({"room": VAULT}).sort("_id", -1).limit(1)[0]["_id"]
    op("markRead", "MessageFunction", ws(b, {"action": "markRead", "room": VAULT, "id": newest}), "markRead",
       ok=lambda out: member(VAULT, bob)["readId"] == newest)
    op("openDirect", "MessageFunction", ws(a, {"action": "openDirect", "username": dave.username}), "openDirect",
       ok=lambda out: member(dm, dave) is not None)
    op("sendMessage (direct room)", "MessageFunction", ws(a, {"action": "sendMessage", "room": dm, "text": "hi dave"}),
       "sendMessage (private or direct)", ok=has_text(dm, "hi dave"))
    mine = db.messages.find_one({"room": VAULT, "text": f"hello vault {tag}"})["_id"]
    op("editMessage (private room)", "MessageFunction",
       ws(a, {"action": "editMessage", "room": VAULT, "id": mine, "text": f"edited vault {tag}"}),
       "editMessage (private room)", ok=has_text(VAULT, f"edited vault {tag}"))
    op("sync (private room)", "MessageFunction", ws(b, {"action": "sync", "room": VAULT}), "sync")
    op("deleteMessage (private room, by its owner)", "MessageFunction",
       ws(a, {"action": "deleteMessage", "room": VAULT, "id": db.messages.find_one({"text": f"from bob {tag}"})["_id"]}),
       "deleteMessage (by a private room's owner)",
       ok=lambda out: db.messages.find_one({"room": VAULT, "deletedById": alice.id}) is not None)
    hi = db.messages.find_one({"room": dm, "text": "hi dave"})["_id"]
    op("react (direct room)", "MessageFunction", ws(a, {"action": "react", "room": dm, "id": hi, "emoji": "👍"}),
       "react (direct room)", ok=lambda out: bool(db.messages.find_one({"_id": hi}).get("reacts")))
    op("markRead (direct room: + receipt)", "MessageFunction",
       ws(a, {"action": "markRead", "room": dm, "id": db.messages.find_one({"room": dm})["_id"]}), "markRead",
       ok=lambda out: member(dm, alice)["readId"] is not None)
    op("rooms", "MessageFunction", ws(a, {"action": "rooms"}), "rooms")
    op("GET /rooms", "AuthFunction", http_event("GET", "/rooms", token), "GET /rooms", ok=status(200))
    op("GET /rooms/public", "AuthFunction", http_event("GET", "/rooms/public", token, "limit=50"), "GET /rooms/public",
       ok=status(200))
    op("GET /rooms/{room}/messages (private)", "AuthFunction", http_event("GET", f"/rooms/{VAULT}/messages", token),
       "GET /rooms/{room}/messages", ok=status(200))
    op("GET /rooms/{room}/presence (private)", "AuthFunction", http_event("GET", f"/rooms/{VAULT}/presence", token),
       "GET /rooms/{room}/presence", ok=status(200))
    op("PATCH /auth/me (a display name)", "AuthFunction",
       http_event("PATCH", "/auth/me", token, body={"displayName": f"Zoë {tag}"}), "PATCH /auth/me",
       ok=lambda out: db.memberships.find_one({"userId": alice.id, "displayName": f"Zoë {tag}"}) is not None)
    op("GET /rooms/{room}/messages (not a member: 403)", "AuthFunction",
       http_event("GET", "/rooms/seed-0/messages", token), "GET /rooms/{room}/messages (403)", ok=status(403))
    op("removeMember (the owner removes a member)", "MessageFunction",
       ws(a, {"action": "removeMember", "room": private, "username": bob.username}), "removeMember",
       ok=lambda out: member(private, bob) is None)
    sc.call("MessageFunction", ws(a, {"action": "addMember", "room": private, "username": bob.username}))
    op("removeMember (the owner leaves)", "MessageFunction",
       ws(a, {"action": "removeMember", "room": private, "username": alice.username}), "removeMember (the owner leaves)",
       ok=lambda out: db.rooms.find_one({"_id": private}).get("ownerId") == bob.id)
    for who in (a, b):
        sc.call("DisconnectFunction", ws_event("$disconnect", *who))
