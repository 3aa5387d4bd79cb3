"""MESSAGE_RETENTION_DAYS: a TTL index on messages.createdAt that follows the setting, made by the deploy-time
migration (parley.adapters.mongo_migrate), against mongomock or the MongoDB named by MONGODB_URI. MongoDB's TTL
monitor does the deleting, so only the index is checked."""

from __future__ import annotations

from parley.adapters import mongo, mongo_migrate


def _retention(db) -> dict:
    """The TTL on createdAt of every index keyed on it alone, whatever its name."""
    return {name: spec.get("expireAfterSeconds") for name, spec in db.messages.index_information().items()
            if [tuple(k) for k in spec["key"]] == [("createdAt", 1)]}


def test_the_ttl_index_follows_the_setting_in_place_and_leaves_the_others_alone(local_env):
    db = mongo.database(local_env["uri"], local_env["db"])
    assert mongo_migrate.migrate(db, message_retention_days=30).retention == "created"
    assert _retention(db) == {"retention_ttl": 30 * 86_400}
    changed = mongo_migrate.migrate(db, message_retention_days=7)  # changed: collMod, the same index
    assert changed.retention in ("changed", "emulated")  # emulated: mongomock has no collMod (docs/local.md)
    assert _retention(db) == {"retention_ttl": 7 * 86_400}
    assert mongo_migrate.migrate(db, message_retention_days=7).retention == "unchanged"  # idempotent
    assert mongo_migrate.migrate(db, message_retention_days=0).retention == "dropped"  # keep everything again
    assert _retention(db) == {}
    assert {"room_time", "user_client_msg_unique"} <= set(db.messages.index_information())


def test_an_index_from_an_older_version_is_changed_not_replaced(local_env):
    db = mongo.database(local_env["uri"], local_env["db"])
    db.messages.create_index("createdAt", expireAfterSeconds=90 * 86_400, name="retention_90d")  # as handlers made it
    mongo_migrate.migrate(db, message_retention_days=30)
    assert _retention(db) == {"retention_90d": 30 * 86_400}  # kept its name: found by its keys


def test_every_function_gets_the_template_parameter_and_so_does_the_migration(template):
    parameter = template["Parameters"]["MessageRetentionDays"]
    assert parameter["Default"] == 0 and parameter["MinValue"] == 0
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["MESSAGE_RETENTION_DAYS"] == {"Ref": "MessageRetentionDays"}
    migration = template["Resources"]["DatabaseMigration"]["Properties"]
    assert migration["MessageRetentionDays"] == {"Ref": "MessageRetentionDays"}  # a change runs it again (Update)
