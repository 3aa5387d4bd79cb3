"""MongoDB adapters (pymongo) for the stores in ``parley.ports``.

One ``MongoClient`` per process (a Lambda container), with short timeouts so a dead database fails in
seconds. The ``mongomock://`` scheme gives the local gateway and tests an embedded in-memory database,
shared by every function in the process. Queries stay within what both mongomock and a real server support.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from parley.errors import RateLimited, StoreUnavailable
from parley.limits import RateLimit
from parley.model import Connection, HistoryPage, Message, Reaction, ReplyTo, SyncCursor, UserRef
from parley.ports import Earlier, TypingSignal, Usage
from parley.usernames import skeleton

TIMEOUT_MS = 3000
_clients: dict[str, Any] = {}
_indexed: set[tuple[int, str]] = set()
_lock = threading.Lock()
# mongomock is not thread-safe (concurrent writes break its iterators); the local gateway runs handlers on
# threads, so calls into an in-memory database take turns. A real server needs no such lock.
_MOCK_LOCK = threading.RLock()


def _call_lock(db):
    """The lock every call into ``db`` holds: the in-memory database's one lock, or none (a no-op context)."""
    return _MOCK_LOCK if type(db.client).__module__.startswith("mongomock") else contextlib.nullcontext()


def client_for(uri: str):
    """The process-wide client for ``uri`` (created once, reused by every invocation)."""
    with _lock:
        client = _clients.get(uri)
        if client is None:
            if uri.startswith("mongomock://"):
                import mongomock  # local development and tests only; not in the Lambda layer

                client = mongomock.MongoClient(tz_aware=True)
            else:
                client = pymongo.MongoClient(
                    uri,
                    tz_aware=True,
                    appname="parley",
                    serverSelectionTimeoutMS=TIMEOUT_MS,
                    connectTimeoutMS=TIMEOUT_MS,
                    socketTimeoutMS=10_000,
                    retryWrites=True,
                    # Atlas's default, said here: ending a session and $connect's record rely on it
                    # (docs/reliability.md, "A socket opened during a log-out")
                    w="majority",
                )
            _clients[uri] = client
        return client


def database(uri: str, name: str):
    """The database handle; connecting is lazy, so a dead server fails the first query, not the import."""
    return client_for(uri)[name]


def ensure_indexes_once(db, *, message_retention_days: int = 0) -> None:
    """Create the indexes on the first use in this container (idempotent on the server, cheap after)."""
    key = (id(db.client), db.name)
    if key in _indexed:
        return
    with _call_lock(db):
        ensure_indexes(db, message_retention_days=message_retention_days)
    with _lock:
        _indexed.add(key)


def ensure_indexes(db, *, message_retention_days: int = 0) -> None:
    try:
        _ensure_retention(db.messages, message_retention_days)
        db.users.create_index("usernameKey", unique=True, name="username_unique_ci")
        db.messages.create_index([("room", 1), ("_id", 1)], name="room_time")
        db.messages.create_index("dedupKey", unique=True, sparse=True, name="user_client_msg_unique")
        # sync: a room's changes in (updatedAt, _id) order; deleteMessage: the replies that quote a message
        db.messages.create_index([("room", 1), ("updatedAt", 1), ("_id", 1)], name="room_changes")
        db.messages.create_index("replyTo.id", sparse=True, name="replies")
        db.connections.create_index("rooms", name="by_room")
        db.connections.create_index("userId", name="by_user")
        db.connections.create_index("expiresAt", expireAfterSeconds=0, name="ttl")
        db.login_failures.create_index("expiresAt", expireAfterSeconds=0, name="ttl")
        # look-alike names (parley.usernames); sparse: a user stored before the field existed is skipped
        # until _backfill_skeletons gives it one
        db.users.create_index("usernameSkeleton", unique=True, sparse=True, name="username_skeleton_unique")
        _backfill_skeletons(db.users)
        # rooms and memberships (adapters/mongo_rooms.py): the public directory, a room's members, a user's rooms
        db.rooms.create_index([("kind", 1), ("lastActivityAt", -1), ("_id", 1)], name="directory")
        db.memberships.create_index([("room", 1), ("joinedAt", 1)], name="room_members")
        db.memberships.create_index("userId", name="by_user")
    except PyMongoError as exc:
        raise StoreUnavailable("could not prepare the database indexes") from exc


def _backfill_skeletons(users) -> None:
    """Give users stored before skeletons existed theirs. Two old names that look alike cannot both have one:
    the later keeps none (it still signs in; a new look-alike of it is refused by the other's skeleton)."""
    for doc in users.find({"usernameSkeleton": {"$exists": False}}, {"username": 1}).sort("createdAt", 1):
        with contextlib.suppress(DuplicateKeyError):
            users.update_one({"_id": doc["_id"]}, {"$set": {"usernameSkeleton": skeleton(doc["username"])}})


def _ensure_retention(messages, days: int) -> None:
    """A TTL index on ``createdAt`` named after its duration, so a changed MESSAGE_RETENTION_DAYS replaces it
    (drop and create: both MongoDB and mongomock have them; mongomock has no ``collMod``). 0 removes it."""
    wanted = f"retention_{days}d" if days > 0 else None
    for name in messages.index_information():
        if name.startswith("retention_") and name != wanted:
            messages.drop_index(name)
    if wanted:
        messages.create_index("createdAt", expireAfterSeconds=days * 86_400, name=wanted)


def _guarded(cls):
    """Turn a lost or unreachable server into ``StoreUnavailable`` on every public method of a store."""

    def wrap(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            try:
                with args[0]._call_lock:
                    return fn(*args, **kwargs)
            except ConnectionFailure as exc:  # includes ServerSelectionTimeoutError, AutoReconnect, timeouts
                raise StoreUnavailable(f"the database did not answer ({type(exc).__name__})") from exc

        return call

    for name, fn in list(vars(cls).items()):
        if callable(fn) and not name.startswith("_"):
            setattr(cls, name, wrap(fn))
    return cls


def _aware(when: datetime | None) -> datetime | None:
    if when is not None and when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    return when


# ---------------------------------------------------------------- connections
_SIGNAL = {"_id": 1, "ended": 1}  # what a typing signal reads back: the record exists, and its session is live
_NO_LOGS = {"limits": 0, "typingAt": 0}  # what reading a Connection leaves out: the rate-limit logs grow to the limit


@_guarded
class MongoConnectionStore:
    def __init__(self, db) -> None:
        self._c = db.connections
        self._call_lock = _call_lock(db)

    @staticmethod
    def _doc(c: Connection) -> dict:
        return {
            "_id": c.id,
            "userId": c.user.id,
            "username": c.user.username,
            "rooms": list(c.rooms),
            "connectedAt": c.connected_at,
            "expiresAt": c.expires_at,
            **({"sessionId": c.session_id} if c.session_id else {}),
            **({"tokenExp": c.token_expires_at} if c.token_expires_at else {}),
        }

    @staticmethod
    def _from(doc: dict | None) -> Connection | None:
        if doc is None:
            return None
        return Connection(
            id=doc["_id"],
            user=UserRef(id=doc["userId"], username=doc["username"]),
            rooms=tuple(doc.get("rooms") or ()),
            connected_at=_aware(doc.get("connectedAt")),
            expires_at=_aware(doc.get("expiresAt")),
            session_id=doc.get("sessionId"),
            token_expires_at=_aware(doc.get("tokenExp")),
            ended=bool(doc.get("ended")),
        )

    def add(self, *, connection: Connection) -> None:
        doc = self._doc(connection)
        self._c.replace_one({"_id": connection.id}, doc, upsert=True)

    def get(self, *, connection_id: str) -> Connection | None:
        return self._from(self._c.find_one({"_id": connection_id}, _NO_LOGS))

    def join(
        self, *, connection: Connection, room: str, now: datetime | None = None, limit: RateLimit | None = None
    ) -> Connection | None:
        doc = self._doc(connection)
        del doc["_id"], doc["rooms"]
        update: dict = {"$addToSet": {"rooms": room}, "$setOnInsert": doc}
        if limit is not None:
            # one entry more than the limit, so undoing this join's entry below keeps the last `count`
            update["$push"] = {_LOG["join"]: {"$each": [now], "$slice": -(limit.count + 1)}}
        before = self._c.find_one_and_update(
            {"_id": connection.id}, update, upsert=True, return_document=ReturnDocument.BEFORE
        )
        wait = limit.retry_after_ms(_log(before, "join")[-limit.count:], now) if limit and before else None
        if wait is not None:  # over the limit: undo this join (only on this, the refused path)
            undo: dict = {"$pop": {_LOG["join"]: 1}}
            if room not in (before.get("rooms") or ()):
                undo["$pull"] = {"rooms": room}
            self._c.update_one({"_id": connection.id}, undo)
            raise RateLimited("joins", wait)
        return self._from(before)

    def leave(self, *, connection_id: str, room: str) -> Connection | None:
        before = self._c.find_one_and_update(
            {"_id": connection_id}, {"$pull": {"rooms": room}}, return_document=ReturnDocument.BEFORE
        )
        return self._from(before)

    def remove(self, *, connection_id: str) -> Connection | None:
        return self._from(self._c.find_one_and_delete({"_id": connection_id}))

    def is_ended(self, *, connection_id: str) -> bool:
        return self._c.find_one({"_id": connection_id, "ended": True}, {"_id": 1}) is not None

    def end_sessions(self, *, user_id: str, session_id: str | None = None, keep: str | None = None) -> list[str]:
        """Mark the user's connections of ``session_id`` (all sessions when None, except ``keep``) as ended,
        so their next frame is refused; returns their ids, for the caller to close them."""
        query: dict = {"userId": user_id}
        if session_id is not None:
            query["sessionId"] = session_id
        elif keep is not None:
            query["sessionId"] = {"$ne": keep}
        # marked in one write, then listed: a write is applied by a primary that has every majority-acknowledged
        # record (a $connect's), where a read might be served by a primary that was just deposed
        if not self._c.update_many(query, {"$set": {"ended": True}}).matched_count:
            return []
        return [d["_id"] for d in self._c.find(query, {"_id": 1})]

    def in_room(self, *, room: str) -> list[Connection]:
        return [self._from(d) for d in self._c.find({"rooms": room}, _NO_LOGS)]

    def of_users(self, *, user_ids: list[str]) -> list[Connection]:
        if not user_ids:
            return []
        return [self._from(d) for d in self._c.find({"userId": {"$in": list(set(user_ids))}}, _NO_LOGS)]

    def leave_all(self, *, user_id: str, room: str) -> int:
        """Take ``room`` out of every connection of the user; how many had it."""
        return self._c.update_many({"userId": user_id, "rooms": room}, {"$pull": {"rooms": room}}).modified_count

    def signal_typing(
        self, *, connection_id: str, room: str, is_typing: bool, now: datetime, quiet: timedelta,
        limit: RateLimit | None = None,
    ) -> TypingSignal:
        member = {"_id": connection_id, "rooms": room}
        counted = {**member, **_under(limit, "typing", now)}
        count = _count(limit, "typing", now)
        if is_typing:
            due = {"$or": [{"typingAt": {"$exists": False}}, {"typingAt": {"$lte": now - quiet}}]}
            recorded = self._c.find_one_and_update(
                {"$and": [counted, due]}, {"$set": {"typingAt": now}, **count}, projection=_SIGNAL
            )
        else:
            recorded = self._c.find_one_and_update(counted, {"$unset": {"typingAt": ""}, **count}, projection=_SIGNAL)
        if recorded is not None:
            return TypingSignal.SESSION_ENDED if recorded.get("ended") else TypingSignal.RELAY
        found = self._c.find_one(member, projection={**_SIGNAL, "typingAt": 1, _LOG["typing"]: 1})  # only when refused
        if found is None:
            return TypingSignal.NOT_MEMBER
        if found.get("ended"):
            return TypingSignal.SESSION_ENDED
        if is_typing and _aware(found.get("typingAt") or now - quiet) > now - quiet:
            return TypingSignal.TOO_SOON
        wait = limit.retry_after_ms(_log(found, "typing"), now) if limit else None
        if wait is not None:
            raise RateLimited("typing signals", wait)
        return TypingSignal.TOO_SOON  # raced with a signal of another invocation: drop this one

    def use(self, *, connection_id: str, room: str | None, kind: str, now: datetime, limit: RateLimit) -> Usage:
        member = {"_id": connection_id, **({"rooms": room} if room is not None else {})}
        counted = self._c.find_one_and_update({**member, **_under(limit, kind, now)}, _count(limit, kind, now),
                                              projection=_SIGNAL)
        if counted is not None:
            return Usage.SESSION_ENDED if counted.get("ended") else Usage.COUNTED
        found = self._c.find_one({"_id": connection_id}, projection={**_SIGNAL, "rooms": 1, _LOG[kind]: 1})  # refused
        if found is not None and found.get("ended"):
            return Usage.SESSION_ENDED
        if found is None or (room is not None and room not in (found.get("rooms") or ())):
            return Usage.NOT_MEMBER
        wait = limit.retry_after_ms(_log(found, kind), now)
        raise RateLimited(_WHAT[kind], wait or 1)

    def earlier(self, *, connection: Connection, now: datetime) -> list[Earlier]:
        at = connection.connected_at
        return [Earlier(d["_id"], _aware(d.get("aliveAt"))) for d in self._c.find({
            "userId": connection.user.id,
            "_id": {"$ne": connection.id},
            "expiresAt": {"$gt": now},
            "ended": {"$ne": True},
            "$or": [{"connectedAt": {"$lt": at}}, {"connectedAt": at, "_id": {"$lt": connection.id}}],
        }, {"aliveAt": 1})]

    def confirm_alive(self, *, connection_ids: list[str], now: datetime) -> None:
        if connection_ids:
            self._c.update_many({"_id": {"$in": connection_ids}}, {"$set": {"aliveAt": now}})


# Rate-limit logs on the connection record (see parley.limits): the times of the last uses of each kind.
_LOG = {"send": "limits.send", "typing": "limits.typing", "join": "limits.join"}
_WHAT = {"send": "messages", "typing": "typing signals", "join": "joins"}


def _under(limit: RateLimit | None, kind: str, now: datetime) -> dict:
    """A filter matching a record with fewer than ``limit.count`` logged uses of ``kind`` in the window: its
    log is shorter than that, or its oldest entry (the log holds at most ``count``) is out of the window."""
    if limit is None:
        return {}
    log = _LOG[kind]
    return {"$or": [{f"{log}.{limit.count - 1}": {"$exists": False}}, {f"{log}.0": {"$lte": now - limit.window}}]}


def _count(limit: RateLimit | None, kind: str, now: datetime) -> dict:
    if limit is None:
        return {}
    return {"$push": {_LOG[kind]: {"$each": [now], "$slice": -limit.count}}}


def _log(doc: dict | None, kind: str) -> list[datetime]:
    return list(((doc or {}).get("limits") or {}).get(kind) or ())


# ---------------------------------------------------------------- messages
@_guarded
class MongoMessageStore:
    def __init__(self, db) -> None:
        self._c = db.messages
        self._call_lock = _call_lock(db)

    @staticmethod
    def _from(doc: dict) -> Message:
        return message_from_doc(doc)

    def insert(self, *, message: Message) -> Message:
        doc = {
            "_id": message.id,
            "room": message.room,
            "text": message.text,
            "userId": message.user.id,
            "username": message.user.username,
            "createdAt": message.created_at,
            "updatedAt": message.created_at,  # the change that creates it: sync reads by (updatedAt, _id)
            "version": 1,
        }
        if message.reply_to is not None:
            doc["replyTo"] = {"id": message.reply_to.id, "userId": message.reply_to.user.id,
                              "username": message.reply_to.user.username, "excerpt": message.reply_to.excerpt}
        if message.mentions:
            doc["mentions"] = [u.to_json() for u in message.mentions]
        if message.client_msg_id is not None:
            doc["clientMsgId"] = message.client_msg_id
            # (user, clientMsgId) is unique; a sparse index skips the messages that have no client id.
            doc["dedupKey"] = f"{message.user.id}\x1f{message.client_msg_id}"
        try:
            self._c.insert_one(doc)
        except DuplicateKeyError:
            existing = self._c.find_one({"dedupKey": doc.get("dedupKey")}) if "dedupKey" in doc else None
            if existing is None:  # an _id collision (48 random bits in the same millisecond): not a retry
                raise
            return self._from(existing)
        return message

    def get(self, *, room: str, message_id: str) -> Message | None:
        doc = self._c.find_one({"_id": message_id, "room": room})
        return self._from(doc) if doc is not None else None

    def _change(self, query: dict, update: dict, now: datetime) -> Message | None:
        """One atomic change of the message ``query`` matches: version + 1, and updatedAt moved to ``now``, never
        back (``$max``: a message's key in sync's order only grows). The message after it, None if none matched."""
        update = {**update, "$inc": {"version": 1}, "$max": {"updatedAt": now}}
        doc = self._c.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)
        return self._from(doc) if doc is not None else None

    def edit(self, *, room: str, message_id: str, author_id: str, text: str, now: datetime) -> Message | None:
        query = {"_id": message_id, "room": room, "userId": author_id, "deleted": {"$ne": True}}
        return self._change(query, {"$set": {"text": text, "editedAt": now}}, now)

    def delete(self, *, room: str, message_id: str, by: UserRef, author_id: str | None, now: datetime) -> Message | None:
        query = {"_id": message_id, "room": room, "deleted": {"$ne": True}, **({"userId": author_id} if author_id else {})}
        update = {"$set": {"deleted": True, "deletedById": by.id, "deletedByUsername": by.username},
                  "$unset": {"text": "", "editedAt": "", "reacts": "", "emojis": "", "replyTo": "", "mentions": ""}}
        return self._change(query, update, now)

    def forget_excerpts(self, *, room: str, message_id: str, now: datetime) -> int:
        """Empty the excerpt every reply keeps of a deleted message (one update; each reply changes, for sync)."""
        return self._c.update_many(
            {"room": room, "replyTo.id": message_id},
            {"$set": {"replyTo.excerpt": ""}, "$inc": {"version": 1}, "$max": {"updatedAt": now}},
        ).modified_count

    def react(self, *, room: str, message_id: str, user: UserRef, emoji: str, now: datetime, max_emoji: int) -> Message | None:
        """Add the user's ``emoji`` unless they hold it already, the message is deleted, or it would be a
        ``max_emoji``+1-th distinct emoji (all decided in the one update's filter)."""
        query = {"_id": message_id, "room": room, "deleted": {"$ne": True},
                 "reacts": {"$not": {"$elemMatch": {"e": emoji, "u": user.id}}},
                 "$or": [{"emojis": emoji}, {f"emojis.{max_emoji - 1}": {"$exists": False}}]}
        update = {"$push": {"reacts": {"e": emoji, "u": user.id, "n": user.username}}, "$addToSet": {"emojis": emoji}}
        return self._change(query, update, now)

    def unreact(self, *, room: str, message_id: str, user_id: str, emoji: str, now: datetime) -> Message | None:
        query = {"_id": message_id, "room": room, "deleted": {"$ne": True},
                 "reacts": {"$elemMatch": {"e": emoji, "u": user_id}}}
        changed = self._change(query, {"$pull": {"reacts": {"e": emoji, "u": user_id}}}, now)
        if changed is not None and all(r.emoji != emoji for r in changed.reactions):
            # the last holder took it back: it no longer counts against the distinct emoji (only if nobody
            # added it again meanwhile: the filter decides, atomically)
            self._c.update_one({"_id": message_id, "reacts.e": {"$ne": emoji}}, {"$pull": {"emojis": emoji}})
        return changed

    def changed_since(self, *, room: str, cursor: SyncCursor, limit: int) -> tuple[list[Message], bool]:
        """The room's messages whose (updatedAt, _id) sorts after the cursor's, in that order: ``limit`` at most,
        and whether there are more."""
        after = cursor.after
        query = {"room": room, "$or": [{"updatedAt": {"$gt": after}},
                                       {"updatedAt": after, "_id": {"$gt": cursor.after_id}}]}
        order = [("updatedAt", pymongo.ASCENDING), ("_id", pymongo.ASCENDING)]
        docs = list(self._c.find(query).sort(order).limit(limit + 1))
        return [self._from(d) for d in docs[:limit]], len(docs) > limit

    def exists(self, *, room: str, message_id: str) -> bool:
        return self._c.find_one({"_id": message_id, "room": room}, projection={"_id": 1}) is not None

    def page(self, *, room: str, before: str | None = None, after: str | None = None, limit: int) -> HistoryPage:
        query: dict = {"room": room}
        bounds = {}
        if before is not None:
            bounds["$lt"] = before
        if after is not None:
            bounds["$gt"] = after
        if bounds:
            query["_id"] = bounds
        # Ids start with the creation time in ms, so _id order is (createdAt, id) order.
        newest_first = after is None
        direction = pymongo.DESCENDING if newest_first else pymongo.ASCENDING
        docs = list(self._c.find(query).sort("_id", direction).limit(limit + 1))
        has_more = len(docs) > limit
        docs = docs[:limit]
        if newest_first:
            docs.reverse()
        return HistoryPage(room=room, messages=[self._from(d) for d in docs], has_more=has_more)


def message_from_doc(doc: dict) -> Message:
    """A stored message as ``parley.model.Message`` (a tombstone when ``deleted``; reactions grouped by emoji in
    the order each was first given)."""
    grouped: dict[str, list[UserRef]] = {}
    for r in doc.get("reacts") or ():
        grouped.setdefault(r["e"], []).append(UserRef(id=r["u"], username=r["n"]))
    reply = doc.get("replyTo")
    deleted_by = UserRef(id=doc["deletedById"], username=doc["deletedByUsername"]) if doc.get("deleted") else None
    return Message(
        id=doc["_id"],
        room=doc["room"],
        text=None if deleted_by else doc.get("text", ""),
        user=UserRef(id=doc["userId"], username=doc["username"]),
        created_at=_aware(doc["createdAt"]),
        client_msg_id=doc.get("clientMsgId"),
        version=int(doc.get("version") or 1),
        updated_at=_aware(doc.get("updatedAt")),
        edited_at=_aware(doc.get("editedAt")),
        deleted_by=deleted_by,
        reactions=tuple(Reaction(emoji=e, users=tuple(us)) for e, us in grouped.items()),
        reply_to=ReplyTo(id=reply["id"], user=UserRef(id=reply["userId"], username=reply["username"]),
                         excerpt=reply.get("excerpt", "")) if reply else None,
        mentions=tuple(UserRef(id=m["id"], username=m["username"]) for m in doc.get("mentions") or ()),
    )
