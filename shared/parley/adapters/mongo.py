"""MongoDB adapters (pymongo) for the stores in ``parley.ports``.

One ``MongoClient`` per process (a Lambda container), with short timeouts so a dead database fails in
seconds. The ``mongomock://`` scheme gives the local gateway and tests an embedded in-memory database,
shared by every function in the process. Queries stay within what both mongomock and a real server support.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

from parley.errors import RateLimited, StoreAuthFailed, StoreOverQuota, StoreRefused, StoreUnavailable
from parley.limits import RateLimit
from parley.model import Connection, HistoryPage, Message, UserRef
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
        db.connections.create_index("rooms", name="by_room")
        db.connections.create_index("userId", name="by_user")
        db.connections.create_index("expiresAt", expireAfterSeconds=0, name="ttl")
        db.login_failures.create_index("expiresAt", expireAfterSeconds=0, name="ttl")
        db.signups.create_index("expiresAt", expireAfterSeconds=0, name="ttl")  # adapters/mongo_signups.py
        # look-alike names (parley.usernames); sparse: a user stored before the field existed is skipped
        # until _backfill_skeletons gives it one
        db.users.create_index("usernameSkeleton", unique=True, sparse=True, name="username_skeleton_unique")
        _backfill_skeletons(db.users)
        # rooms and memberships (adapters/mongo_rooms.py): the public directory, a room's members, a user's rooms
        db.rooms.create_index([("kind", 1), ("lastActivityAt", -1), ("_id", 1)], name="directory")
        db.memberships.create_index([("room", 1), ("joinedAt", 1)], name="room_members")
        db.memberships.create_index("userId", name="by_user")
    except OperationFailure as exc:
        raise (_refusal(exc) or StoreUnavailable("could not prepare the database indexes")) from exc
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
            except OperationFailure as exc:  # a refusal the deployment must fix gets a metric of its own
                refused = _refusal(exc)
                if refused is None:
                    raise
                raise refused from exc

        return call

    for name, fn in list(vars(cls).items()):
        if callable(fn) and not name.startswith("_"):
            setattr(cls, name, wrap(fn))
    return cls


AUTHENTICATION_FAILED = 18  # MongoDB's AuthenticationFailed
ATLAS_ERROR = 8000  # Atlas's proxy answers with this one code, and says why in the message


def _refusal(exc: OperationFailure) -> StoreRefused | None:
    """What a refusal of the database means for the deployment, or None when it is none of these: credentials
    refused (code 18; Atlas answers 8000 AtlasError "bad auth : Authentication failed.") or a write over the
    plan's storage (Atlas: 8000 "you are over your space quota, using 512 MB of 512 MB"), alone or as one of a
    bulk write's errors. The server's message is matched, never passed on (nothing of the request is in it, but
    the metric and the fixed text are all an operator needs)."""
    errors = [{"code": exc.code, "errmsg": (exc.details or {}).get("errmsg") or str(exc)}]
    if isinstance(exc, BulkWriteError):
        errors = list((exc.details or {}).get("writeErrors") or ())
    for error in errors:
        code, message = error.get("code"), str(error.get("errmsg") or "").lower()
        if code == AUTHENTICATION_FAILED or (code == ATLAS_ERROR and "auth" in message):
            return StoreAuthFailed("the database refused the credentials")
        if code == ATLAS_ERROR and "quota" in message:
            return StoreOverQuota("the database is over its storage quota")
    return None


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
        """The record and, if the user has none, their rate record (``_rate_id``): one unordered insert. A retried
        $connect (the record exists) replaces it, a second round trip on that path only."""
        doc = self._doc(connection)
        rate = {"_id": _rate_id(connection.user.id), "expiresAt": connection.expires_at}
        try:
            self._c.insert_many([doc, rate], ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            if any(e.get("index") == 0 for e in errors):
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
            raise RateLimited("joins", wait, per="on this connection")
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
        """Take ``room`` out of every connection of the user; how many had it. An ``update_many`` is not retried by
        the driver; a ``$pull`` is safe to run again, partly applied or not (a retried removeMember does), though the
        count it returns then is not how many had it before the first run."""
        return self._c.update_many({"userId": user_id, "rooms": room}, {"$pull": {"rooms": room}}).modified_count

    def signal_typing(
        self, *, user_id: str, connection_id: str, room: str, is_typing: bool, now: datetime, quiet: timedelta,
        limit: RateLimit | None = None,
    ) -> TypingSignal:
        member = {"_id": connection_id, "rooms": room, "ended": {"$ne": True}}
        if is_typing:
            due = {"$or": [{"typingAt": {"$exists": False}}, {"typingAt": {"$lte": now - quiet}}]}
            found = self._use(connection_id, {"$and": [member, due]}, {"$set": {"typingAt": now}}, user_id, "typing", now, limit)
        else:
            found = self._use(connection_id, member, {"$unset": {"typingAt": ""}}, user_id, "typing", now, limit)
        if found.matched and found.counted:
            return TypingSignal.RELAY
        conn = found.connection
        refused = None
        if conn is None or room not in (conn.get("rooms") or ()):
            refused = TypingSignal.NOT_MEMBER
        elif conn.get("ended"):
            refused = TypingSignal.SESSION_ENDED
        if refused is not None:
            self._undo(found, user_id, "typing")
            return refused
        if not found.counted:
            raise RateLimited("typing signals", found.wait)
        return TypingSignal.TOO_SOON  # counted: every typing frame of a member counts, relayed or dropped

    def use(
        self, *, user_id: str, connection_id: str, room: str | None, kind: str, now: datetime, limit: RateLimit
    ) -> Usage:
        member = {"_id": connection_id, "ended": {"$ne": True}, **({"rooms": room} if room is not None else {})}
        found = self._use(connection_id, member, {}, user_id, kind, now, limit)
        if found.matched and found.counted:
            return Usage.COUNTED
        conn = found.connection
        usage = None
        if conn is None:
            usage = Usage.NO_CONNECTION
        elif conn.get("ended"):
            usage = Usage.SESSION_ENDED
        elif room is not None and room not in (conn.get("rooms") or ()):
            usage = Usage.NOT_MEMBER
        if usage is not None:
            if usage is not Usage.NO_CONNECTION:
                self._undo(found, user_id, kind)
            return usage
        if not found.counted:
            raise RateLimited(_WHAT[kind], found.wait)
        return Usage.COUNTED  # the record changed between the update and the read (joined meanwhile): counted

    def _use(
        self, connection_id: str, member: dict, update: dict, user_id: str, kind: str, now: datetime,
        limit: RateLimit | None,
    ) -> _Found:
        """One update of two records: the connection's (when ``member`` matches it) and the user's rate record (when
        the user is under ``limit``). Each gets ``update``, the use's time in the ``kind`` log and a fresh mark
        (``op``). Both matched: done, one round trip. Otherwise a read of both tells which did (by the mark) and why
        not; a rate record that is missing (expired, or a connection older than rate records) is made, counting
        this use (``_Found.counted``)."""
        if limit is None:  # no limit: only the connection's part
            matched = self._c.update_one(member, update).matched_count if update else 0
            if matched:
                return _Found(True, True)
            doc = self._c.find_one({"_id": connection_id}, {**_SIGNAL, "rooms": 1})
            return _Found(False, True, doc, logged=False)
        op = secrets.token_hex(8)
        rate_id = _rate_id(user_id)
        mark = {"$push": {_LOG[kind]: {"$each": [now], "$slice": -limit.count}}, "$set": {**update.get("$set", {}), "op": op}}
        if "$unset" in update:
            mark["$unset"] = update["$unset"]
        result = self._c.update_many({"$or": [member, {"_id": rate_id, **_under(limit, kind, now)}]}, mark)
        if result.matched_count == 2:
            return _Found(True, True)
        docs = {d["_id"]: d for d in self._c.find({"_id": {"$in": [connection_id, rate_id]}},
                                                   {**_SIGNAL, "rooms": 1, "op": 1, "expiresAt": 1, _LOG[kind]: 1})}
        conn, rate = docs.get(connection_id), docs.get(rate_id)
        matched = conn is not None and conn.get("op") == op
        if rate is None:  # made now, with this use in it (an upsert on _id: two at once both count)
            expires = (conn or {}).get("expiresAt") or now + limit.window
            self._c.update_one({"_id": rate_id}, {"$push": {_LOG[kind]: {"$each": [now], "$slice": -limit.count}},
                                                  "$max": {"expiresAt": expires}}, upsert=True)
            return _Found(matched, True, conn)
        if rate.get("op") == op:
            return _Found(matched, True, conn)
        return _Found(matched, False, conn, limit.retry_after_ms(_log(rate, kind), now) or 1)

    def _undo(self, found: _Found, user_id: str, kind: str) -> None:
        """Take back a use that was counted for the user but refused (only on this, the refused path)."""
        if found.logged:
            self._c.update_one({"_id": _rate_id(user_id)}, {"$pop": {_LOG[kind]: 1}})

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


# Rate-limit logs (see parley.limits): the times of the last uses of each kind. Joins are logged on the connection
# record; the other kinds on the user's rate record (_rate_id), a document of the connections collection with no
# userId and no rooms, so no query for a user's or a room's connections finds it, and an expiresAt (the TTL index).
_LOG = {kind: f"limits.{kind}" for kind in ("send", "typing", "join", "create_room", "open_direct", "add_member", "history")}
_WHAT = {"send": "messages", "typing": "typing signals", "join": "joins", "create_room": "rooms created",
         "open_direct": "direct conversations opened", "add_member": "members added", "history": "history requests"}


def _rate_id(user_id: str) -> str:
    """The user's rate record's _id: no connection id has U+001F in it."""
    return f"user\x1f{user_id}"


@dataclass(frozen=True, slots=True)
class _Found:
    matched: bool  # the connection's part of the update applied
    counted: bool  # the use was counted on the user's rate record
    connection: dict | None = None  # read only when not both
    wait: int | None = None  # over the limit: ms until a use fits
    logged: bool = True  # counted on a rate record (there is something to take back)

    def __post_init__(self) -> None:
        if not self.counted:
            object.__setattr__(self, "logged", False)


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
