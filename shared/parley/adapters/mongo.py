"""MongoDB adapters (pymongo) for the stores in ``parley.ports``.

One ``MongoClient`` per process (a Lambda container), with short timeouts so a dead database fails in
seconds. In AWS the URI comes from a secret that may rotate: ``RenewableDatabase`` re-reads it and replaces the
client behind the stores (see there). The ``mongomock://`` scheme gives the local gateway and tests an embedded in-memory database,
shared by every function in the process. Queries stay within what both mongomock and a real server support.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from collections.abc import Callable
from typing import Any

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

from parley.errors import RateLimited, StoreAuthFailed, StoreOverQuota, StoreRefused, StoreUnavailable
from parley.limits import RateLimit
from parley.model import Connection, HistoryPage, Message, Reaction, ReplyTo, SyncCursor, UserRef
from parley.ports import Earlier, TypingSignal, Usage

TIMEOUT_MS = 3000
# What a handler keeps for itself after its database calls: the time to answer (an internal_error frame through
# the Management API, a 503) before Lambda's Timeout. See request_deadline.
DEADLINE_MARGIN_S = 1.0
MIN_BUDGET_S = 0.05
# No store call waits longer than this, even inside a longer deadline: under a pymongo timeout() block, server
# selection waits for the whole remaining time instead of serverSelectionTimeoutMS (pymongo's CSOT), so without a
# cap a dead database would hold a 29 s MessageFunction for 28 s.
CALL_TIMEOUT_S = 5.0
_clients: dict[str, Any] = {}
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


def deadline(seconds: float | None):
    """Every database call in the block ends within ``seconds`` of entering it (pymongo's client-side operation
    timeout, which also sends the server maxTimeMS); one that would not raises a timeout, which the stores turn into
    ``StoreUnavailable``. None: no deadline beyond the client's own timeouts. mongomock ignores it."""
    return pymongo.timeout(seconds) if seconds is not None else contextlib.nullcontext()


log = logging.getLogger("parley.mongo")


def auth_failed(exc: OperationFailure) -> bool:
    """Whether the server refused our credentials (the operation itself never ran: authentication is part of
    opening the connection, before any command is sent on it); ``_refusal`` reads the codes."""
    return isinstance(_refusal(exc), StoreAuthFailed)


class RenewableDatabase:
    """A database whose URI comes from a secret that may rotate, with a client that is replaced when it does.

    ``read(force)`` answers the URI: from a cache kept for its max age when ``force`` is false, from the secret
    store when true (``parley.adapters.secrets.mongodb_uri_reader``). The stores built over this object stay
    valid across a replacement: ``db.users`` (or ``db["users"]``) is a proxy that resolves the collection on the
    current client at each call. ``_guarded`` (every public store method) calls ``check()`` first, so a new URI
    is used within the max age; and on an authentication failure it calls ``renew()`` and, when the URI
    changed, runs the method once more on the new client. A client that is replaced is closed at the next
    replacement (a call on another thread may still be using it)."""

    def __init__(self, name: str, read: Callable[[bool], str]) -> None:
        self._name, self._read = name, read
        self._lock = threading.Lock()
        self._uri = read(False)
        self._db = database(self._uri, name)
        self._retired: list[Any] = []

    def __repr__(self) -> str:  # never the URI
        return f"RenewableDatabase({self._name!r})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def client(self):
        return self._db.client

    def current(self):
        """The database on the current client."""
        return self._db

    def __getattr__(self, collection: str):
        if collection.startswith("_"):
            raise AttributeError(collection)
        return _Collection(self, collection)

    def __getitem__(self, collection: str):
        return _Collection(self, collection)

    def check(self) -> None:
        """Replace the client if the secret's URI (as cached for its max age) is not the one in use. A failed
        read keeps the current client (logged by type only)."""
        try:
            uri = self._read(False)
        except Exception as exc:
            log.error("could not re-read the MongoDB URI; keeping the current client", extra={"error": type(exc).__name__})
            return
        if uri != self._uri:
            self._replace(uri)

    def renew(self) -> bool:
        """Read the URI from the secret store now (the database refused our credentials): True if it changed
        and the client was replaced, False if it is the same (or could not be read)."""
        try:
            uri = self._read(True)
        except Exception as exc:
            log.error("could not re-read the MongoDB URI after an authentication failure", extra={"error": type(exc).__name__})
            return False
        if uri == self._uri:
            return False
        self._replace(uri)
        return True

    def _replace(self, uri: str) -> None:
        with self._lock:
            if uri == self._uri:
                return
            old, self._uri = self._uri, uri
            self._db = database(uri, self._name)
            with _lock:
                retired = _clients.pop(old, None)
            for client in self._retired:
                with contextlib.suppress(Exception):
                    client.close()
            self._retired = [retired] if retired is not None else []
        log.info("the MongoDB URI changed; a new client replaces the old one")


class _Collection:
    """A collection of a ``RenewableDatabase``, resolved on its current client at every use (``with_options``
    too: its options are kept and applied to the current client's collection each time)."""

    __slots__ = ("_db", "_name", "_options")

    def __init__(self, db: RenewableDatabase, name: str, options: dict | None = None) -> None:
        self._db, self._name, self._options = db, name, options or {}

    def with_options(self, **options) -> _Collection:
        return _Collection(self._db, self._name, {**self._options, **options})

    def __getattr__(self, attr: str):
        collection = self._db.current()[self._name]
        if self._options:
            collection = collection.with_options(**self._options)
        return getattr(collection, attr)


def request_deadline(context, margin_s: float = DEADLINE_MARGIN_S):
    """The deadline of one Lambda invocation: the time ``context.get_remaining_time_in_millis()`` says is left, less
    ``margin_s`` for answering, so a stalled database ends in an answer and never in a Lambda timeout (which
    throws the sandbox away). Without a context (a direct call), no deadline."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return contextlib.nullcontext()
    return deadline(max(remaining() / 1000.0 - margin_s, MIN_BUDGET_S))


def _timed_out(exc: BaseException) -> bool:
    """A call that hit the deadline (or a server's maxTimeMS): the database did not answer in time."""
    return isinstance(exc, PyMongoError) and exc.timeout


def _guarded(cls):
    """Wrap every public method of a store: a lost or unreachable server becomes ``StoreUnavailable``; over a
    ``RenewableDatabase`` (the store's ``_db``), the URI is checked first, and a call the server refuses for
    its credentials is made once more after re-reading the secret, if that gave a new URI (safe to repeat: the
    refused connection never ran a command; a method whose earlier operations ran is repeated whole, see
    docs/architecture.md, "Secrets")."""

    def wrap(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            store = args[0]
            db = getattr(store, "_db", None)
            renewable = isinstance(db, RenewableDatabase)
            if renewable:
                db.check()
            for attempt in (1, 2):
                try:
                    with store._call_lock, pymongo.timeout(CALL_TIMEOUT_S):  # within the request's deadline, if any
                        return fn(*args, **kwargs)
                except ConnectionFailure as exc:  # includes ServerSelectionTimeoutError, AutoReconnect, timeouts
                    raise StoreUnavailable(f"the database did not answer ({type(exc).__name__})") from exc
                except PyMongoError as exc:
                    refused = _refusal(exc) if isinstance(exc, OperationFailure) else None
                    # the database refused our credentials: a rotated secret is read again, then one more try
                    if attempt == 1 and renewable and isinstance(refused, StoreAuthFailed) and db.renew():
                        continue
                    if _timed_out(exc):  # ExecutionTimeout (the deadline, or maxTimeMS on the server) is an OperationFailure
                        raise StoreUnavailable(f"the database did not answer in time ({type(exc).__name__})") from exc
                    if refused is not None:  # a refusal the deployment must fix gets a metric of its own
                        raise refused from exc
                    raise
            raise AssertionError("unreachable")

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
        self._db = db  # a RenewableDatabase: _guarded renews its client

    @staticmethod
    def _doc(c: Connection) -> dict:
        return {
            "_id": c.id,
            "userId": c.user.id,
            "username": c.user.username,
            **({"displayName": c.user.display_name} if c.user.display_name else {}),
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
            user=UserRef.of(doc, "userId"),
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
        self._db = db  # a RenewableDatabase: _guarded renews its client

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
            **({"displayName": message.user.display_name} if message.user.display_name else {}),
            "createdAt": message.created_at,
            "updatedAt": message.created_at,  # the change that creates it: sync reads by (updatedAt, _id)
            "version": 1,
        }
        if message.reply_to is not None:
            doc["replyTo"] = {"id": message.reply_to.id, "userId": message.reply_to.user.id,
                              "username": message.reply_to.user.username, "excerpt": message.reply_to.excerpt}
            if message.reply_to.user.display_name:
                doc["replyTo"]["displayName"] = message.reply_to.user.display_name
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
        update = {"$set": {"deleted": True, "deletedById": by.id, "deletedByUsername": by.username,
                           **({"deletedByDisplayName": by.display_name} if by.display_name else {})},
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
        held = {"e": emoji, "u": user.id, "n": user.username, **({"d": user.display_name} if user.display_name else {})}
        update = {"$push": {"reacts": held}, "$addToSet": {"emojis": emoji}}
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
        grouped.setdefault(r["e"], []).append(UserRef.of(r, "u", "n", "d"))
    reply = doc.get("replyTo")
    deleted_by = UserRef.of(doc, "deletedById", "deletedByUsername", "deletedByDisplayName") if doc.get("deleted") else None
    return Message(
        id=doc["_id"],
        room=doc["room"],
        text=None if deleted_by else doc.get("text", ""),
        user=UserRef.of(doc, "userId"),
        created_at=_aware(doc["createdAt"]),
        client_msg_id=doc.get("clientMsgId"),
        version=int(doc.get("version") or 1),
        updated_at=_aware(doc.get("updatedAt")),
        edited_at=_aware(doc.get("editedAt")),
        deleted_by=deleted_by,
        reactions=tuple(Reaction(emoji=e, users=tuple(us)) for e, us in grouped.items()),
        reply_to=ReplyTo(id=reply["id"], user=UserRef.of(reply, "userId"),
                         excerpt=reply.get("excerpt", "")) if reply else None,
        mentions=tuple(UserRef.of(m) for m in doc.get("mentions") or ()),
    )
