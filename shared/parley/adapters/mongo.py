"""MongoDB adapters (pymongo) for the stores in ``parley.ports``.

One ``MongoClient`` per process (a Lambda container), with short timeouts so a dead database fails in
seconds. The ``mongomock://`` scheme gives the local gateway and tests an embedded in-memory database,
shared by every function in the process. Queries stay within what both mongomock and a real server support.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from parley.errors import StoreUnavailable, UsernameTaken
from parley.model import Connection, HistoryPage, Message, UserRef, utcnow
from parley.ports import StoredUser, TypingSignal

TIMEOUT_MS = 3000
_clients: dict[str, Any] = {}
_indexed: set[tuple[int, str]] = set()
_lock = threading.Lock()
# mongomock is not thread-safe (concurrent writes break its iterators); the local gateway runs handlers on
# threads, so calls into an in-memory database take turns. A real server needs no such lock.
_MOCK_LOCK = threading.RLock()


def _serializer(db):
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
    with _serializer(db):
        ensure_indexes(db, message_retention_days=message_retention_days)
    with _lock:
        _indexed.add(key)


def ensure_indexes(db, *, message_retention_days: int = 0) -> None:
    try:
        _ensure_retention(db.messages, message_retention_days)
        db.users.create_index("usernameKey", unique=True, name="username_unique_ci")
        db.messages.create_index([("room", 1), ("_id", 1)], name="room_time")
        db.messages.create_index("dedupKey", unique=True, sparse=True, name="user_client_msg_unique")
        db.connections.create_index("rooms", name="by_room")
        db.connections.create_index("userId", name="by_user")
        db.connections.create_index("expiresAt", expireAfterSeconds=0, name="ttl")
        db.login_failures.create_index("expiresAt", expireAfterSeconds=0, name="ttl")
        # rooms and memberships (adapters/mongo_rooms.py): the public directory, a room's members, a user's rooms
        db.rooms.create_index([("kind", 1), ("lastActivityAt", -1), ("_id", 1)], name="directory")
        db.memberships.create_index([("room", 1), ("joinedAt", 1)], name="room_members")
        db.memberships.create_index("userId", name="by_user")
    except PyMongoError as exc:
        raise StoreUnavailable("could not prepare the database indexes") from exc


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
                with args[0]._serialize:
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
@_guarded
class MongoConnectionStore:
    def __init__(self, db) -> None:
        self._c = db.connections
        self._serialize = _serializer(db)

    @staticmethod
    def _doc(c: Connection) -> dict:
        return {
            "_id": c.id,
            "userId": c.user.id,
            "username": c.user.username,
            "rooms": list(c.rooms),
            "connectedAt": c.connected_at,
            "expiresAt": c.expires_at,
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
        )

    def add(self, *, connection: Connection) -> None:
        doc = self._doc(connection)
        self._c.replace_one({"_id": connection.id}, doc, upsert=True)

    def get(self, *, connection_id: str) -> Connection | None:
        return self._from(self._c.find_one({"_id": connection_id}))

    def join(self, *, connection: Connection, room: str) -> Connection | None:
        doc = self._doc(connection)
        del doc["_id"], doc["rooms"]
        before = self._c.find_one_and_update(
            {"_id": connection.id},
            {"$addToSet": {"rooms": room}, "$setOnInsert": doc},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        return self._from(before)

    def leave(self, *, connection_id: str, room: str) -> Connection | None:
        before = self._c.find_one_and_update(
            {"_id": connection_id}, {"$pull": {"rooms": room}}, return_document=ReturnDocument.BEFORE
        )
        return self._from(before)

    def remove(self, *, connection_id: str) -> Connection | None:
        return self._from(self._c.find_one_and_delete({"_id": connection_id}))

    def in_room(self, *, room: str) -> list[Connection]:
        return [self._from(d) for d in self._c.find({"rooms": room})]

    def of_users(self, *, user_ids: list[str]) -> list[Connection]:
        if not user_ids:
            return []
        return [self._from(d) for d in self._c.find({"userId": {"$in": list(set(user_ids))}})]

    def leave_all(self, *, user_id: str, room: str) -> int:
        """Take ``room`` out of every connection of the user; how many had it."""
        return self._c.update_many({"userId": user_id, "rooms": room}, {"$pull": {"rooms": room}}).modified_count

    def signal_typing(
        self, *, connection_id: str, room: str, is_typing: bool, now: datetime, quiet: timedelta
    ) -> TypingSignal:
        member = {"_id": connection_id, "rooms": room}
        if is_typing:
            due = {"$or": [{"typingAt": {"$exists": False}}, {"typingAt": {"$lte": now - quiet}}]}
            recorded = self._c.find_one_and_update({**member, **due}, {"$set": {"typingAt": now}}, projection={"_id": 1})
        else:
            recorded = self._c.find_one_and_update(member, {"$unset": {"typingAt": ""}}, projection={"_id": 1})
        if recorded is not None:
            return TypingSignal.RELAY
        if is_typing and self._c.find_one(member, projection={"_id": 1}) is not None:  # only when refused
            return TypingSignal.TOO_SOON
        return TypingSignal.NOT_MEMBER


# ---------------------------------------------------------------- messages
@_guarded
class MongoMessageStore:
    def __init__(self, db) -> None:
        self._c = db.messages
        self._serialize = _serializer(db)

    @staticmethod
    def _from(doc: dict) -> Message:
        return Message(
            id=doc["_id"],
            room=doc["room"],
            text=doc["text"],
            user=UserRef(id=doc["userId"], username=doc["username"]),
            created_at=_aware(doc["createdAt"]),
            client_msg_id=doc.get("clientMsgId"),
        )

    def insert(self, *, message: Message) -> Message:
        doc = {
            "_id": message.id,
            "room": message.room,
            "text": message.text,
            "userId": message.user.id,
            "username": message.user.username,
            "createdAt": message.created_at,
        }
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

    def latest_id(self, *, room: str) -> str | None:
        newest = list(self._c.find({"room": room}, {"_id": 1}).sort("_id", pymongo.DESCENDING).limit(1))
        return newest[0]["_id"] if newest else None

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


# ---------------------------------------------------------------- users
@_guarded
class MongoUserStore:
    def __init__(self, db) -> None:
        self._c = db.users
        self._serialize = _serializer(db)

    @staticmethod
    def _from(doc: dict | None) -> StoredUser | None:
        if doc is None:
            return None
        return StoredUser(
            id=doc["_id"],
            username=doc["username"],
            password_hash=doc["passwordHash"],
            created_at=_aware(doc["createdAt"]),
        )

    def create(self, *, username: str, password_hash: str) -> StoredUser:
        doc = {
            "_id": uuid.uuid4().hex,
            "username": username,
            "usernameKey": username.lower(),
            "passwordHash": password_hash,
            "createdAt": utcnow(),
        }
        try:
            self._c.insert_one(doc)
        except DuplicateKeyError:
            raise UsernameTaken(username) from None
        return self._from(doc)

    def by_username(self, *, username: str) -> StoredUser | None:
        return self._from(self._c.find_one({"usernameKey": username.lower()}))

    def by_id(self, *, user_id: str) -> StoredUser | None:
        return self._from(self._c.find_one({"_id": user_id}))

    def update_password_hash(self, *, user_id: str, password_hash: str) -> None:
        self._c.update_one({"_id": user_id}, {"$set": {"passwordHash": password_hash}})


# ---------------------------------------------------------------- failed log-ins
FREE_FAILURES = 5  # failures allowed before any pause
MAX_PAUSE = timedelta(minutes=5)
FORGET_AFTER = timedelta(hours=1)


def login_pause(failures: int) -> timedelta:
    """No pause for the first few failures, then 1 s, 2 s, 4 s … up to five minutes."""
    if failures <= FREE_FAILURES:
        return timedelta(0)
    return min(MAX_PAUSE, timedelta(seconds=2 ** min(failures - FREE_FAILURES - 1, 16)))


@_guarded
class MongoLoginAttempts:
    def __init__(self, db) -> None:
        self._c = db.login_failures
        self._serialize = _serializer(db)

    def locked_until(self, *, username: str) -> datetime | None:
        doc = self._c.find_one({"_id": username.lower()}, {"lockedUntil": 1})
        return _aware(doc.get("lockedUntil")) if doc else None

    def record_failure(self, *, username: str, now: datetime) -> datetime | None:
        doc = self._c.find_one_and_update(
            {"_id": username.lower()},
            {"$inc": {"count": 1}, "$set": {"expiresAt": now + FORGET_AFTER}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        pause = login_pause(doc["count"])
        if not pause:
            return None
        until = now + pause
        self._c.update_one({"_id": username.lower()}, {"$set": {"lockedUntil": until}})
        return until

    def reset(self, *, username: str) -> None:
        self._c.delete_one({"_id": username.lower()})
