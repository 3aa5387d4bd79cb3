"""`make run` runs the deploy-time migration before it serves (template.yaml's DatabaseMigration, marked
Metadata LocalGateway: RunAtStart): the gateway sends MigrationFunction a Create, as CloudFormation does, and
starts only on SUCCESS. The handlers themselves never create an index."""

from __future__ import annotations

import socket

import pytest

from parley_local.cloudformation import TemplateError
from parley_local.server import FunctionsIn, LocalGateway
from parley_local.template import read_stack


def test_the_template_marks_the_migration_and_its_function_is_loaded(repo_root):
    stack = read_stack(repo_root / "template.yaml", {"MongoDbUri": "mongodb://h/", "MessageRetentionDays": "30"})
    ((resource, provider, properties),) = stack.run_at_start
    assert (resource, provider) == ("DatabaseMigration", "MigrationFunction")
    assert properties["MessageRetentionDays"] == 30 or properties["MessageRetentionDays"] == "30"
    spec = stack.functions["MigrationFunction"]
    assert spec.handler == "app.handler" and spec.code_uri.name == "migrate"
    assert any(layer.name == "shared" for layer in spec.layers)  # the parley package, as on AWS
    assert not any("MigrationFunction" in w for w in stack.warnings)


async def test_the_gateway_migrates_before_it_serves(parley):
    from parley.adapters import mongo

    env = parley.function_env["MigrationFunction"]
    db = mongo.database(env["MONGODB_URI"], env["MONGODB_DB"])
    if parley.functions_in is FunctionsIn.THREADS or not env["MONGODB_URI"].startswith("mongomock://"):
        assert "username_unique_ci" in db.users.index_information()
        assert "room_time" in db.messages.index_information()


async def test_a_failed_migration_stops_the_start(repo_root, monkeypatch):
    from parley_local.__main__ import parley_profile

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MONGODB_URI", f"mongodb://127.0.0.1:{port}/")
    env_vars, overrides, _ = parley_profile()
    gateway = LocalGateway(repo_root / "template.yaml", port=0, env_vars=env_vars, parameter_overrides=overrides,
                           functions_in=FunctionsIn.THREADS)
    with pytest.raises(TemplateError, match="DatabaseMigration"):
        await gateway.start()
