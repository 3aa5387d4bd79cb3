"""The deploy-time migration (parley.adapters.mongo_migrate, functions/migrate/app.py): idempotent, safe to
run twice at once, accepting an index with the same keys under another name; and no handler creates or drops
an index (issue 20, section 1). Against mongomock, or the MongoDB named by MONGODB_URI."""

from __future__ import annotations

import json
import threading
import time

from parley.adapters import mongo, mongo_migrate
from tests.support import Client, LambdaContext


def _by_keys(db, collection) -> dict[tuple, list[str]]:
    found: dict[tuple, list[str]] = {}
    for name, spec in db[collection].index_information().items():
        found.setdefault(tuple(tuple(k) for k in spec["key"]), []).append(name)
    return found


def _every_index_once(db) -> None:
    for index in mongo_migrate.INDEXES:
        names = _by_keys(db, index.collection).get(tuple(index.keys), [])
        assert len(names) == 1, (index, names)


def test_twice_at_once_converges_on_one_index_each(local_env):
    db = mongo.database(local_env["uri"], local_env["db"])
    errors: list[BaseException] = []

    def run() -> None:
        try:
            mongo_migrate.migrate(db, message_retention_days=30)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    _every_index_once(db)
    assert [s.get("expireAfterSeconds") for s in db.messages.index_information().values()
            if s["key"] == [("createdAt", 1)]] == [30 * 86_400]
    again = mongo_migrate.migrate(db, message_retention_days=30)  # idempotent: nothing more to do
    assert again.created == [] and again.retention == "unchanged" and again.backfilled == 0


def test_an_index_with_the_same_keys_under_another_name_is_accepted(local_env):
    db = mongo.database(local_env["uri"], local_env["db"])
    db.messages.create_index([("room", 1), ("_id", 1)], name="room_1__id_1")  # as Atlas's Performance Advisor names it
    db.users.create_index("usernameKey", unique=True, name="advisor_usernameKey")
    report = mongo_migrate.migrate(db)
    assert "messages.room_1__id_1" in report.accepted and "users.advisor_usernameKey" in report.accepted
    _every_index_once(db)  # no second index on the same keys (a real server refuses it: IndexOptionsConflict)
    assert "room_time" not in db.messages.index_information()


def test_the_custom_resource_answers_cloudformation(local_env, monkeypatch):
    import importlib.util

    from tests.support import ROOT

    spec = importlib.util.spec_from_file_location("migrate_app", ROOT / "functions/migrate/app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    answers: list[tuple] = []
    monkeypatch.setattr(app, "send", lambda event, status, reason, data=None, **_: answers.append((status, reason, data)))
    event = {"RequestType": "Create", "ResponseURL": "https://example.invalid/", "LogicalResourceId": "DatabaseMigration",
             "ResourceProperties": {"MessageRetentionDays": "7"}}
    app.handler(event, LambdaContext("MigrationFunction", timeout_s=60))
    assert answers[-1][0] == "SUCCESS" and answers[-1][2]["Retention"] == "created"
    db = mongo.database(local_env["uri"], local_env["db"])
    _every_index_once(db)
    app.handler({**event, "RequestType": "Delete"}, LambdaContext("MigrationFunction", timeout_s=60))
    assert answers[-1][0] == "SUCCESS"
    _every_index_once(db)  # Delete changed nothing
    app.handler({**event, "ResourceProperties": {"MessageRetentionDays": "-1"}}, LambdaContext("M", timeout_s=60))
    assert answers[-1][0] == "FAILED"


class _IndexWatch:
    """Wraps every collection of a database, as bench/roundtrips.py does, and records index commands."""

    def __init__(self, db, monkeypatch) -> None:
        self.calls: list[str] = []
        coll_type = type(db.messages)
        for name in ("create_index", "create_indexes", "drop_index", "drop_indexes"):
            original = getattr(coll_type, name)

            def spy(this, *args, _name=name, _original=original, **kwargs):
                self.calls.append(f"{this.name}.{_name}")
                return _original(this, *args, **kwargs)

            monkeypatch.setattr(coll_type, name, spy)
        original_command = type(db).command

        def command(this, cmd, *args, **kwargs):
            name = next(iter(cmd)) if isinstance(cmd, dict) else cmd
            if name in ("createIndexes", "dropIndexes", "collMod"):
                self.calls.append(name)
            return original_command(this, cmd, *args, **kwargs)

        monkeypatch.setattr(type(db), "command", command)


def test_a_whole_protocol_run_through_the_handlers_touches_no_index(stack, monkeypatch):
    db = stack.modules["MessageFunction"].runtime.db
    watch = _IndexWatch(db, monkeypatch)
    status, session, _ = stack.http("POST", "/auth/signup", {"username": "alice", "password": "quiet lantern ferry"})
    assert status == 201
    alice = stack.connect("alice", session["user"]["id"])
    bob = stack.connect("bob")
    for client in (alice, bob):
        client.send({"action": "join", "room": "general"})
    alice.send({"action": "sendMessage", "room": "general", "text": "hello", "clientMsgId": "m1"})
    alice.send({"action": "typing", "room": "general", "isTyping": True})
    bob.send({"action": "history", "room": "general"})
    alice.send({"action": "createRoom", "room": "plans", "kind": "private"})
    alice.send({"action": "ping"})
    stack.http("POST", "/auth/login", {"username": "alice", "password": "quiet lantern ferry"})
    stack.http("GET", "/rooms/general/messages", token=session["token"])
    bob.disconnect()
    assert bob.last("history")["messages"][-1]["text"] == "hello"
    assert watch.calls == []


def _old_message(db, n: int, created) -> str:
    """A message as Parley stored it before sync: no updatedAt, no version."""
    message_id = f"{int(created.timestamp() * 1000):013x}{n:011x}"
    db.messages.insert_one({"_id": message_id, "room": "lobby", "text": f"old {n}", "userId": "u1",
                            "username": "ann", "createdAt": created})
    return message_id


def test_messages_from_before_sync_are_backfilled_once_and_then_found_by_sync(local_env):
    from datetime import datetime, timedelta, timezone

    from parley.model import SyncCursor

    db = mongo.database(local_env["uri"], local_env["db"])
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3)
    old = [_old_message(db, n, start + timedelta(minutes=n)) for n in range(3)]
    store = mongo.MongoMessageStore(db)
    cursor = SyncCursor(after=start - timedelta(seconds=1))
    assert store.changed_since(room="lobby", cursor=cursor, limit=10)[0] == []  # the gap the backfill closes

    report = mongo_migrate.migrate(db)
    assert report.backfilled == 3
    found, more = store.changed_since(room="lobby", cursor=cursor, limit=10)
    assert [m.id for m in found] == old and not more
    assert [m.version for m in found] == [1, 1, 1]
    assert all(m.changed_at == m.created_at for m in found)

    # recorded as done: a later deploy does not scan messages again (a message stored the old way now is left)
    late = _old_message(db, 9, start + timedelta(hours=1))
    assert mongo_migrate.migrate(db).backfilled == 0
    assert "updatedAt" not in db.messages.find_one({"_id": late})
    db[mongo_migrate.STEPS].delete_many({})
    assert mongo_migrate.migrate(db).backfilled == 1  # the record, not the data, is what stopped it
