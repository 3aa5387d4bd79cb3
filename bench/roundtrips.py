"""Database round trips per operation, through the real handlers, at two database sizes.

With mongomock (the default here: no MongoDB server on these machines) every call the adapters make on a
collection (find, find_one, insert_one, find_one_and_update, ...) is counted at the adapter boundary:
with pymongo each is one command, i.e. one round trip (a ``find`` whose result outgrows the first batch,
101 documents, would add ``getMore`` round trips; no operation here reads that many). With MONGODB_URI set,
pymongo's own command monitoring (``pymongo.monitoring.CommandListener``) counts the commands on the wire.

The baseline is docs/architecture.md's table: the counts must match it and must not change between 10 and
10,000 stored messages and connections outside the room.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.common import (
    save_plot,
    DOCS,
    SECRET,
    LambdaContext,
    Result,
    Table,
    environment,
    event,
    load_function,
    load_template,
    local_environment,
    pyplot,
    quiet_stdout,
    ws_event,
)
from bench import roundtrips_rooms
from parley_local.fakes import ManagementServer

COUNTED = {
    "find", "find_one", "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one",
    "delete_many", "find_one_and_update", "find_one_and_delete", "find_one_and_replace", "count_documents",
    "estimated_document_count", "aggregate", "distinct", "bulk_write", "create_index", "create_indexes",
}
ROOM = "bench"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def add(self, collection: str, op: str) -> None:
        with self._lock:
            self.calls.append((collection, op))

    def take(self) -> list[tuple[str, str]]:
        with self._lock:
            out, self.calls = self.calls, []
        return out


class CountingCollection:
    """A collection whose every command-issuing method is counted once per call."""

    def __init__(self, collection, recorder: Recorder) -> None:
        self._collection = collection
        self._recorder = recorder

    def with_options(self, **options) -> CountingCollection:  # the same collection with a read concern: counted too
        return CountingCollection(self._collection.with_options(**options), self._recorder)

    def __getattr__(self, name):
        attr = getattr(self._collection, name)
        if name not in COUNTED:
            return attr
        recorder, collection = self._recorder, self._collection.name

        def counted(*args, **kwargs):
            recorder.add(collection, name)
            return attr(*args, **kwargs)

        return counted


class CountingDatabase:
    def __init__(self, db, recorder: Recorder) -> None:
        self._db = db
        self._recorder = recorder

    @property
    def client(self):
        return self._db.client

    @property
    def name(self):
        return self._db.name

    def __getitem__(self, name: str) -> CountingCollection:
        return CountingCollection(self._db[name], self._recorder)

    def __getattr__(self, name: str) -> CountingCollection:
        if name.startswith("_"):
            raise AttributeError(name)
        return CountingCollection(self._db[name], self._recorder)


def _listener(recorder: Recorder):
    from pymongo import monitoring

    class Listener(monitoring.CommandListener):
        def started(self, event):
            target = event.command.get(event.command_name)
            recorder.add(target if isinstance(target, str) else "-", event.command_name)

        def succeeded(self, event):
            pass

        def failed(self, event):
            pass

    return Listener()


def documented_counts(path: Path = DOCS / "architecture.md") -> dict[str, str]:
    """The 'Round trips per operation' table of docs/architecture.md: operation -> its text."""
    out: dict[str, str] = {}
    text = path.read_text() if path.exists() else ""
    section = text.split("## Round trips per operation", 1)[-1] if "## Round trips per operation" in text else ""
    for line in section.splitlines():
        m = re.match(r"\|\s*`([^`]+)`\s*\|\s*([^|]+)\|", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
        elif out and not line.startswith("|"):
            break
    return out


def _doc_number(text: str | None, rooms: int = 1) -> int | None:
    if not text:
        return None
    m = re.match(r"(\d+)(\s*\+\s*1 per room)?(\s*\+\s*1 if it joined any)?", text)
    if not m:
        return None
    return int(m.group(1)) + (rooms if m.group(2) else 0) + (1 if m.group(3) and rooms else 0)


def _seed(db, start: int, stored: int) -> None:
    now = datetime.now(timezone.utc)
    db.connections.insert_many(
        [
            {"_id": f"X{i:013d}=", "userId": f"x{i}", "username": f"other{i}", "rooms": [f"elsewhere-{i % 50}"],
             "connectedAt": now, "expiresAt": now + timedelta(hours=2)}
            for i in range(start, start + stored)
        ]
    )
    base = int(now.timestamp() * 1000) - 100_000
    db.messages.insert_many(
        [
            {"_id": f"{base + i:012x}{i:012x}", "room": ROOM, "text": f"old {i}", "userId": "x0", "username": "other0",
             "createdAt": datetime.fromtimestamp((base + i) / 1000, timezone.utc)}
            for i in range(start, start + stored)
        ]
    )


class _Scenario:
    def __init__(self, handlers: dict, server: ManagementServer, recorder: Recorder) -> None:
        self.handlers = handlers
        self.server = server
        self.recorder = recorder

    def call(self, logical_id: str, ev: dict) -> tuple[object, list[tuple[str, str]], int]:
        self.recorder.take()
        posts = self.server.stats()["posts"]
        with quiet_stdout():
            out = self.handlers[logical_id](ev, LambdaContext(logical_id))
        return out, self.recorder.take(), self.server.stats()["posts"] - posts


def _operations(sc: _Scenario, token: str, tag: str, rooms: dict | None = None) -> list[dict]:
    # user ids of their own at each size: joining a public room lists it for the user once (one more write)
    alice, bob = (f"A{tag:>12}=", f"u-alice{tag}", "alice"), (f"B{tag:>12}=", f"u-bob{tag}", "bob")
    rows = []

    def op(name: str, logical_id: str, ev: dict, doc_key: str, rooms: int = 1, ok=None) -> None:
        out, calls, posts = sc.call(logical_id, ev)
        good = ok(out) if ok else out == {"statusCode": 200}
        rows.append({"operation": name, "doc_key": doc_key, "rooms": rooms, "round_trips": len(calls),
                     "calls": [f"{c}.{o}" for c, o in calls], "posts": posts, "ok": bool(good)})

    auth = event("authorizer.json")
    auth["queryStringParameters"] = {"token": token}
    auth.get("multiValueQueryStringParameters", {}).clear()
    if "AuthorizerFunction" in sc.handlers:
        op("authorizer (valid token)", "AuthorizerFunction", auth, "authorizer",
           ok=lambda out: out["policyDocument"]["Statement"][0]["Effect"] == "Allow")
    if rooms is not None:  # a user with a live session: $connect reads it again after storing its record
        for uid, name in ((alice[1], alice[2] + tag), (bob[1], bob[2] + tag)):
            rooms["db"].users.update_one({"_id": uid}, {"$setOnInsert": {
                "username": name, "usernameKey": name, "usernameSkeleton": f"bench-{uid}", "passwordHash": "-",
                "createdAt": datetime.now(timezone.utc),
                "sessions": [{"id": "bench-session", "expiresAt": datetime.now(timezone.utc) + timedelta(hours=1)}]}},
                upsert=True)
    session = "bench-session" if rooms is not None else None
    op("$connect", "ConnectFunction", ws_event("$connect", *alice, session_id=session), "$connect")
    sc.call("ConnectFunction", ws_event("$connect", *bob))
    op("join", "MessageFunction", ws_event("join", alice[0], alice[1], alice[2], {"action": "join", "room": ROOM}), "join")
    sc.call("MessageFunction", ws_event("join", bob[0], bob[1], bob[2], {"action": "join", "room": ROOM}))
    send = {"action": "sendMessage", "room": ROOM, "text": "hello", "clientMsgId": f"rt-{tag}"}
    op("sendMessage", "MessageFunction", ws_event("sendMessage", *alice, send), "sendMessage")
    op("sendMessage (retry, same clientMsgId)", "MessageFunction", ws_event("sendMessage", *alice, send), "sendMessage retry")
    _message_changes(op, sc, alice, bob, tag)
    op("typing", "MessageFunction", ws_event("typing", *alice, {"action": "typing", "room": ROOM, "isTyping": True}), "typing")
    op("history (latest 50)", "MessageFunction", ws_event("history", *alice, {"action": "history", "room": ROOM}), "history")
    op("ping", "MessageFunction", ws_event("ping", *alice, {"action": "ping"}), "ping")
    op("leave", "MessageFunction", ws_event("leave", *alice, {"action": "leave", "room": ROOM}), "leave")
    op("$disconnect (1 room)", "DisconnectFunction", ws_event("$disconnect", *bob), "$disconnect", rooms=1)
    op("$disconnect (0 rooms)", "DisconnectFunction", ws_event("$disconnect", *alice), "$disconnect", rooms=0)
    if rooms is not None:  # private and direct rooms (bench/roundtrips_rooms.py)
        roundtrips_rooms.operations(op, sc, tag=tag, token=token, **rooms)
    return rows


def _message_changes(op, sc, alice, bob, tag: str) -> None:
    """Issue 21: edit, delete, react, unreact, replyTo and mentions, sync (in the public room)."""
    def frame(who, action, body):
        return ws_event(action, *who, {"action": action, "room": ROOM, **body})

    from parley.adapters import mongo  # the id of what alice sent last, read uncounted

    db = mongo.database(os.environ["MONGODB_URI"], os.environ["MONGODB_DB"])
    newest = db.messages.find({"room": ROOM}).sort("_id", -1).limit(1)[0]["_id"]
    op("sendMessage (replyTo, mentions)", "MessageFunction",
       frame(alice, "sendMessage", {"text": f"re {tag}", "replyTo": newest, "mentions": [bob[1], alice[1]]}),
       "sendMessage (replyTo, mentions)",
       ok=lambda out: db.messages.find_one({"text": f"re {tag}", "replyTo.id": newest}) is not None)
    target = db.messages.find_one({"text": f"re {tag}"})["_id"]

    def stored(check):
        return lambda out: check(db.messages.find_one({"_id": target}))

    op("editMessage", "MessageFunction", frame(alice, "editMessage", {"id": target, "text": f"edited {tag}"}),
       "editMessage", ok=stored(lambda d: d["text"] == f"edited {tag}"))
    op("react", "MessageFunction", frame(alice, "react", {"id": target, "emoji": "👍"}), "react",
       ok=stored(lambda d: len(d["reacts"]) == 1))
    op("react (again: no change)", "MessageFunction", frame(alice, "react", {"id": target, "emoji": "👍"}),
       "react (again: no change)", ok=stored(lambda d: len(d["reacts"]) == 1 and d["version"] == 3))
    sc.call("MessageFunction", frame(bob, "react", {"id": target, "emoji": "👍"}))
    op("unreact (others still hold it)", "MessageFunction", frame(bob, "unreact", {"id": target, "emoji": "👍"}),
       "unreact", ok=stored(lambda d: len(d["reacts"]) == 1))
    op("unreact (the last holder)", "MessageFunction", frame(alice, "unreact", {"id": target, "emoji": "👍"}),
       "unreact (the last holder)", ok=stored(lambda d: not d["reacts"] and not d["emojis"]))
    cursor = db.messages.find_one({"_id": target})["updatedAt"]
    from parley.model import SyncCursor

    since = SyncCursor.since(cursor).encode()
    op("sync (since a message's cursor)", "MessageFunction", frame(alice, "sync", {"since": since}), "sync")
    op("sync (no since: the newest page)", "MessageFunction", frame(alice, "sync", {}), "sync")
    op("deleteMessage", "MessageFunction", frame(alice, "deleteMessage", {"id": target}), "deleteMessage",
       ok=stored(lambda d: d.get("deleted") is True and "text" not in d))


def run(opts) -> Result:
    sizes = opts.stored or ([10, 500] if opts.quick else [10, 10_000])
    recorder = Recorder()
    real = bool(os.environ.get("MONGODB_URI"))
    per_size: dict[int, list[dict]] = {}
    with ManagementServer(0.0) as server, environment(local_environment(server.endpoint)):
        from parley.adapters import mongo, mongo_accounts, mongo_migrate, mongo_rooms

        uri = os.environ["MONGODB_URI"]
        if real:
            from pymongo import monitoring

            monitoring.register(_listener(recorder))
            mongo._clients.pop(uri, None)  # a client made before the listener would not report to it
        template = load_template()
        handlers, modules = {}, {}
        for lid in ("AuthorizerFunction", "ConnectFunction", "MessageFunction", "DisconnectFunction", "AuthFunction"):
            handlers[lid], modules[lid] = load_function(template, lid)
        raw_db = mongo.database(uri, os.environ["MONGODB_DB"])
        mongo_migrate.migrate(raw_db)  # as a deploy does before any handler runs (the unique indexes dedupe retries)
        recorder.take()  # the migration's own calls are not an operation's
        db = raw_db if real else CountingDatabase(raw_db, recorder)
        if not real:  # the same stores the handlers built, over the counting database
            for module in modules.values():
                rt = getattr(module, "runtime", None)
                if rt is not None:
                    module.runtime = dataclasses.replace(
                        rt, connections=mongo.MongoConnectionStore(db), messages=mongo.MongoMessageStore(db), db=db,
                        rooms=mongo_rooms.MongoRoomStore(db), users=mongo_accounts.MongoUserStore(db),
                    )
                for store in ("users", "messages", "connections", "room_store", "login_attempts"):  # AuthFunction
                    if hasattr(module, store):
                        setattr(module, store, type(getattr(module, store))(db))
        user = mongo_accounts.MongoUserStore(raw_db).create(username="alice", password_hash="not-a-real-hash")
        import jwt

        now = int(time.time())
        mongo_accounts.MongoUserStore(raw_db).start_session(  # a live session: the authorizer checks it in its one read
            user_id=user.id, session_id="bench-session", expires_at=datetime.fromtimestamp(now + 3600, timezone.utc),
            now=datetime.now(timezone.utc),
        )
        token = jwt.encode({"sub": user.id, "username": "alice", "sid": "bench-session", "iat": now, "exp": now + 3600,
                            "iss": "parley"}, SECRET, algorithm="HS256")
        user_store = mongo_accounts.MongoUserStore(raw_db)
        bob = user_store.create(username="bob", password_hash="not-a-real-hash")
        roundtrips_rooms.create_vault(raw_db, user, bob)
        rooms = {"db": raw_db, "alice": user, "bob": bob, "users": user_store}
        sc = _Scenario(handlers, server, recorder)
        sc.call("MessageFunction", ws_event("ping", "Wwarm00000000=", "u-w", "warm", {"action": "ping"}))  # indexes
        sc.call("AuthFunction", roundtrips_rooms.http_event("GET", "/auth/me", token))  # its indexes (a no-op)
        stored_now = 0
        try:
            for n in sizes:
                _seed(raw_db, stored_now, n - stored_now)
                roundtrips_rooms.seed(raw_db, stored_now, n - stored_now)
                stored_now = n
                rows = _operations(sc, token if "AuthorizerFunction" in handlers else "", f"{n}", rooms)
                for r in rows:
                    if r["operation"] == "authorizer (valid token)":
                        r["user_id"] = user.id
                per_size[n] = rows
        finally:
            if real:
                mongo.client_for(uri).drop_database(os.environ["MONGODB_DB"])
    docs = documented_counts()
    first, last = sizes[0], sizes[-1]
    method = "pymongo CommandListener (MONGODB_URI)" if real else "collection calls at the adapter boundary (mongomock)"
    table = Table(
        f"Database round trips per operation — counted with {method}",
        ["operation", *[f"{n:,} stored" for n in sizes], "constant", "docs/architecture.md", "matches", "@connections posts"],
    )
    for i, r in enumerate(per_size[first]):
        counts = [per_size[n][i]["round_trips"] for n in sizes]
        doc_text = docs.get(r["doc_key"]) or docs.get(r["doc_key"].split(" ")[0])
        if r["doc_key"] == "sendMessage retry":
            doc_text = docs.get("sendMessage")
        expected = _doc_number(doc_text, r["rooms"])
        if r["doc_key"] == "sendMessage retry" and doc_text:
            m = re.search(r"(\d+) when it is a retry", doc_text)
            expected = int(m.group(1)) if m else None
        matches = "–" if expected is None else ("yes" if all(c == expected for c in counts) else f"NO (docs: {expected})")
        ok = all(per_size[n][i]["ok"] for n in sizes)
        table.add(r["operation"] + ("" if ok else " (FAILED)"), *counts, "yes" if len(set(counts)) == 1 else "NO",
                  expected if expected is not None else "not listed", matches, r["posts"])
    table.notes.append("what each counted: " + "; ".join(
        f"{r['operation']}: {', '.join(r['calls']) or 'none'}" for r in per_size[last]))
    table.notes.append(f"{len(sizes)} sizes: N stored messages in the room and N connections in other rooms; "
                       "the room itself holds 2 connections; indexes were created before counting")
    table.notes.append("rooms: N stored rooms (half public, half private) with one membership each, and N messages "
                       f"in the private room `{roundtrips_rooms.VAULT}` (2 members); HTTP rows include the token's user "
                       "read (1)")
    data = {"method": method, "sizes": sizes, "per_size": {str(k): v for k, v in per_size.items()}, "docs": docs}
    return Result("roundtrips", [table], data, _plot(per_size, sizes, opts))


def _plot(per_size: dict[int, list[dict]], sizes: list[int], opts) -> Path | None:
    plt = pyplot() if opts.plots_dir is not None else None
    if plt is None:
        return None
    ops = [r["operation"].replace(" (", "\n(") for r in per_size[sizes[0]]]
    fig, ax = plt.subplots(figsize=(max(8, 0.42 * len(ops)), 5), dpi=110)  # wide enough for every label
    width = 0.8 / len(sizes)
    for k, n in enumerate(sizes):
        xs = [i + (k - (len(sizes) - 1) / 2) * width for i in range(len(ops))]
        ax.bar(xs, [r["round_trips"] for r in per_size[n]], width, label=f"{n:,} stored")
    ax.set_xticks(range(len(ops)), ops, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("database round trips")
    ax.set_title("Round trips per operation do not grow with the database")
    ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    return save_plot(fig, opts.plots_dir, "bench-roundtrips.png")
