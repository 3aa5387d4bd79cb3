"""MESSAGE_RETENTION_DAYS: a TTL index on messages.createdAt that follows the setting (against mongomock, or
the MongoDB named by MONGODB_URI; MongoDB's TTL monitor does the deleting, so only the index is checked)."""

from __future__ import annotations

from parley.adapters import mongo


def _retention(db) -> dict:
    return {name: spec.get("expireAfterSeconds") for name, spec in db.messages.index_information().items()
            if name.startswith("retention_")}


def test_the_ttl_index_follows_the_setting_and_leaves_the_others_alone(local_env):
    db = mongo.database(local_env["uri"], local_env["db"])
    mongo.ensure_indexes(db, message_retention_days=30)
    assert _retention(db) == {"retention_30d": 30 * 86_400}
    assert db.messages.index_information()["retention_30d"]["key"] == [("createdAt", 1)]
    mongo.ensure_indexes(db, message_retention_days=7)  # changed: replaced, not added
    assert _retention(db) == {"retention_7d": 7 * 86_400}
    mongo.ensure_indexes(db, message_retention_days=7)  # unchanged: idempotent
    assert _retention(db) == {"retention_7d": 7 * 86_400}
    mongo.ensure_indexes(db, message_retention_days=0)  # keep everything again
    assert _retention(db) == {}
    assert {"room_time", "user_client_msg_unique"} <= set(db.messages.index_information())


def test_the_handlers_apply_the_setting_from_the_environment(stack, local_env, monkeypatch, template):
    from tests.support import load_function

    monkeypatch.setenv("MESSAGE_RETENTION_DAYS", "90")
    _handler, module = load_function(template, "MessageFunction")
    module.runtime.ready()
    assert _retention(module.runtime.db) == {"retention_90d": 90 * 86_400}


def test_every_function_gets_the_template_parameter(template):
    parameter = template["Parameters"]["MessageRetentionDays"]
    assert parameter["Default"] == 0 and parameter["MinValue"] == 0
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["MESSAGE_RETENTION_DAYS"] == {"Ref": "MessageRetentionDays"}
