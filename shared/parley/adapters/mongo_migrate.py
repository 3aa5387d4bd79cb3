"""The database's indexes and data migrations, run once per deploy (never inside a request).

CloudFormation runs ``migrate`` through the DatabaseMigration custom resource (functions/migrate/app.py) on every
create and update of the stack; the local gateway runs it before serving (parley_local/__main__.py). Handlers only
read and write documents: they never create or drop an index.

- **Idempotent, and safe to run twice at once.** Every step reads what exists and changes only what differs; a
  step that loses a race to another run (the index appeared, or was already dropped) accepts the winner's work.
- **An index is found by its keys, not its name.** An index with the same key pattern under another name (Atlas's
  Performance Advisor makes such) is accepted as it is, so ``createIndexes`` never fails with IndexOptionsConflict.
  If the same keys carry options that differ in meaning (unique, sparse), the migration stops with
  ``MigrationFailed`` naming the index, rather than drop an index someone made.
- **Retention (MESSAGE_RETENTION_DAYS) changes with ``collMod``**, which changes ``expireAfterSeconds`` in place:
  no rebuild of an index over all of ``messages``. mongomock has no ``collMod``; on mongomock only, the change is
  emulated by dropping and creating the index (docs/local.md). 0 drops the TTL index (nothing is deleted).
- **The username-skeleton backfill** scans ``users`` for documents without the field, here, once per deploy.
- **One-time steps** (the ``updatedAt`` backfill of messages stored before ``sync`` existed) scan a collection
  that grows without bound, so each runs until it finishes once and is then recorded in ``migrations``; later
  deploys read that record instead of scanning. Two runs at once may both do the step: it is idempotent.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pymongo
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from parley.adapters.mongo import CALL_TIMEOUT_S, _call_lock
from parley.errors import StoreUnavailable
from parley.usernames import skeleton

MIGRATION_VERSION = "2"  # the template's DatabaseMigration passes its own; raise both when a step is added
RETENTION_INDEX = "retention_ttl"
RETENTION_KEYS = (("createdAt", 1),)
# server error codes a concurrent run may cause, each meaning "another run did it already"
INDEX_NOT_FOUND = 27
INDEX_OPTIONS_CONFLICT = 85
INDEX_KEY_SPECS_CONFLICT = 86
STEPS = "migrations"  # one document per finished one-time step: {_id: step, doneAt}
# the options that change what an index means; anything else (name, version, collation absent) is accepted
_MEANING = ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression")


@dataclass(frozen=True)
class Index:
    collection: str
    keys: tuple[tuple[str, int], ...]
    name: str
    options: dict[str, Any] = field(default_factory=dict)


INDEXES: tuple[Index, ...] = (
    Index("users", (("usernameKey", 1),), "username_unique_ci", {"unique": True}),
    # look-alike names (parley.usernames); sparse: a user stored before the field existed is skipped until the
    # backfill below gives it one
    Index("users", (("usernameSkeleton", 1),), "username_skeleton_unique", {"unique": True, "sparse": True}),
    Index("messages", (("room", 1), ("_id", 1)), "room_time"),
    Index("messages", (("dedupKey", 1),), "user_client_msg_unique", {"unique": True, "sparse": True}),
    # sync: a room's changes in (updatedAt, _id) order; deleteMessage: the replies that quote a message
    Index("messages", (("room", 1), ("updatedAt", 1), ("_id", 1)), "room_changes"),
    Index("messages", (("replyTo.id", 1),), "replies", {"sparse": True}),
    Index("connections", (("rooms", 1),), "by_room"),
    Index("connections", (("userId", 1),), "by_user"),
    Index("connections", (("expiresAt", 1),), "ttl", {"expireAfterSeconds": 0}),
    Index("login_failures", (("expiresAt", 1),), "ttl", {"expireAfterSeconds": 0}),
    Index("signups", (("expiresAt", 1),), "ttl", {"expireAfterSeconds": 0}),  # adapters/mongo_signups.py
    # rooms and memberships (adapters/mongo_rooms.py): the public directory, a room's members, a user's rooms
    Index("rooms", (("kind", 1), ("lastActivityAt", -1), ("_id", 1)), "directory"),
    Index("memberships", (("room", 1), ("joinedAt", 1)), "room_members"),
    Index("memberships", (("userId", 1),), "by_user"),
)


class MigrationFailed(Exception):
    """The database holds something the migration will not change by itself (an index that conflicts)."""


@dataclass
class MigrationReport:
    created: list[str] = field(default_factory=list)  # "collection.name"
    accepted: list[str] = field(default_factory=list)  # present with the same keys ("collection.name")
    retention: str = "unchanged"  # created, changed (collMod), emulated (mongomock drop+create), dropped, unchanged
    backfilled: int = 0

    def summary(self) -> dict[str, str]:
        """Strings only (a custom resource's Data)."""
        return {"Created": ",".join(self.created) or "-", "Retention": self.retention,
                "Backfilled": str(self.backfilled)}


def _keys(spec: Any) -> tuple[tuple[str, int], ...]:
    """A key pattern as index_information() gives it ([(field, 1.0)] from a server, [(field, 1)] from mongomock)."""
    return tuple((str(k), int(v) if isinstance(v, (int, float)) else v) for k, v in spec)


def _is_mock(db) -> bool:
    return type(db.client).__module__.startswith("mongomock")


class _Run:
    """One migration of one database; every call into the database takes the in-memory database's lock on its
    own (a real server needs none), so two runs in threads interleave between calls as two processes would."""

    def __init__(self, db) -> None:
        self.db, self.lock, self.report = db, _call_lock(db), MigrationReport()

    def call(self, fn, *args, **kwargs):
        with self.lock:
            return fn(*args, **kwargs)

    def existing(self, collection: str, keys) -> tuple[str, dict] | None:
        info = self.call(self.db[collection].index_information)
        for name, spec in info.items():
            if _keys(spec["key"]) == tuple(keys):
                return name, spec
        return None

    def ensure(self, index: Index) -> None:
        where = f"{index.collection}.{index.name}"
        found = self.existing(index.collection, index.keys)
        if found is None:
            try:
                self.call(self.db[index.collection].create_index, list(index.keys), name=index.name, **index.options)
            except OperationFailure as exc:
                if exc.code not in (INDEX_OPTIONS_CONFLICT, INDEX_KEY_SPECS_CONFLICT):
                    raise
                found = self.existing(index.collection, index.keys)  # another run (or a person) made it meanwhile
                if found is None:
                    raise
            else:
                self.report.created.append(where)
                return
        name, spec = found
        differing = {o for o in _MEANING if bool(spec.get(o)) != bool(index.options.get(o))
                     or (o == "expireAfterSeconds" and spec.get(o) != index.options.get(o))}
        if differing:
            raise MigrationFailed(
                f"{index.collection} has an index {name!r} on {dict(index.keys)} whose {sorted(differing)} differ from "
                f"what Parley needs ({index.options or 'no options'}); drop it or make it match, then deploy again")
        self.report.accepted.append(f"{index.collection}.{name}")

    def retention(self, days: int) -> None:
        messages = self.db.messages
        wanted = days * 86_400 if days > 0 else None
        found = self.existing("messages", RETENTION_KEYS)
        if found is not None and "expireAfterSeconds" not in found[1]:
            found = None  # a plain index on createdAt (not a TTL): left alone; a TTL index cannot share its keys
            if wanted is not None:
                raise MigrationFailed("messages has an index on createdAt that is not a TTL index; "
                                      "MessageRetentionDays needs that key pattern for its TTL index")
        if found is None:
            if wanted is not None:
                try:
                    self.call(messages.create_index, list(RETENTION_KEYS), name=RETENTION_INDEX,
                              expireAfterSeconds=wanted)
                    self.report.retention = "created"
                except OperationFailure as exc:  # a concurrent run created it first (with this or another TTL)
                    if exc.code not in (INDEX_OPTIONS_CONFLICT, INDEX_KEY_SPECS_CONFLICT):
                        raise
                    self.retention(days)
            return
        name, spec = found
        if wanted is None:
            with contextlib.suppress(OperationFailure):  # IndexNotFound: a concurrent run dropped it first
                self.call(messages.drop_index, name)
            self.report.retention = "dropped"
            return
        if spec.get("expireAfterSeconds") == wanted:
            return
        if _is_mock(self.db):  # mongomock has no collMod: emulated here only (docs/local.md)
            with contextlib.suppress(OperationFailure):
                self.call(messages.drop_index, name)
            with contextlib.suppress(OperationFailure):
                self.call(messages.create_index, list(RETENTION_KEYS), name=name, expireAfterSeconds=wanted)
            self.report.retention = "emulated"
            return
        self.call(self.db.command, {"collMod": "messages",
                                    "index": {"keyPattern": dict(RETENTION_KEYS), "expireAfterSeconds": wanted}})
        self.report.retention = "changed"

    def backfill_skeletons(self) -> None:
        """Give users stored before skeletons existed theirs. Two old names that look alike cannot both have one:
        the later keeps none (it still signs in; a new look-alike of it is refused by the other's skeleton)."""
        users = self.db.users
        pending = self.call(lambda: list(users.find({"usernameSkeleton": {"$exists": False}}, {"username": 1})
                                         .sort("createdAt", 1)))
        for doc in pending:
            with contextlib.suppress(DuplicateKeyError):
                result = self.call(users.update_one, {"_id": doc["_id"], "usernameSkeleton": {"$exists": False}},
                                   {"$set": {"usernameSkeleton": skeleton(doc["username"])}})
                self.report.backfilled += result.modified_count


    def once(self, step: str, work) -> None:
        """Run ``work`` unless an earlier run recorded ``step`` as finished; record it when it finishes."""
        if self.call(self.db[STEPS].find_one, {"_id": step}) is not None:
            return
        work()
        with contextlib.suppress(DuplicateKeyError):  # a concurrent run finished it too
            self.call(self.db[STEPS].insert_one, {"_id": step, "doneAt": datetime.now(timezone.utc)})

    def backfill_message_changes(self) -> None:
        """Give messages stored before ``sync`` existed the ``updatedAt`` (their createdAt) and ``version`` (1)
        that sync reads by: without it, ``sync`` from a cursor older than such a message would never return it."""
        messages = self.db.messages
        pending = self.call(lambda: list(messages.find({"updatedAt": {"$exists": False}}, {"createdAt": 1})))
        for doc in pending:  # one update each: mongomock's bulk_write does not take today's pymongo UpdateOne
            result = self.call(messages.update_one, {"_id": doc["_id"], "updatedAt": {"$exists": False}},
                               {"$set": {"updatedAt": doc["createdAt"]}, "$max": {"version": 1}})
            self.report.backfilled += result.modified_count


def migrate(db, *, message_retention_days: int = 0) -> MigrationReport:
    """Bring ``db``'s indexes and data to what this version of Parley needs (see the module docstring).

    Raises ``MigrationFailed`` for a conflict it will not resolve, ``StoreUnavailable`` if the database fails."""
    run = _Run(db)
    try:
        if not _is_mock(db):  # reachable? in seconds: under a long deadline, server selection would wait it all out
            with pymongo.timeout(CALL_TIMEOUT_S):
                run.call(db.command, "ping")
        run.retention(message_retention_days)
        for index in INDEXES:
            run.ensure(index)
        run.backfill_skeletons()  # after the skeleton index: two look-alikes cannot both get one
        run.once("messages.updatedAt", run.backfill_message_changes)
    except PyMongoError as exc:
        raise StoreUnavailable(f"the migration could not finish ({type(exc).__name__}: {exc})") from exc
    return run.report
