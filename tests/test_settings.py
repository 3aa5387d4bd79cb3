"""One settings object from the environment, strict outside local mode; the JWT key from Secrets Manager."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from parley.accounts import token_issuer
from parley.config import Settings
from parley.errors import ConfigurationError
from parley.model import UserRef

GOOD = {"PARLEY_ENV": "aws", "MONGODB_URI": "mongodb+srv://u:p@cluster.example.net/", "JWT_SECRET_ARN": "arn:x"}


def test_aws_defaults():
    s = Settings.from_env(GOOD)
    assert s.env == "aws" and s.mongodb_db == "parley" and s.token_ttl_seconds == 43200
    assert s.message_retention_days == 0 and Settings.from_env({**GOOD, "MESSAGE_RETENTION_DAYS": "30"}).message_retention_days == 30
    assert "p@cluster" not in repr(s) or s.jwt_secret is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"MONGODB_URI": "mongomock://localhost"}, "local only"),
        ({"MONGODB_URI": "postgres://x"}, "must start with"),
        ({"JWT_SECRET": "changeme"}, "at least 32 bytes"),
        ({"JWT_SECRET": "short-but-not-a-placeholder"}, "at least 32 bytes"),
        ({"PARLEY_ENV": "staging"}, "PARLEY_ENV"),
        ({"TOKEN_TTL_SECONDS": "soon"}, "integer"),
        ({"TOKEN_TTL_SECONDS": "1"}, "between"),
        ({"MESSAGE_RETENTION_DAYS": "-1"}, "MESSAGE_RETENTION_DAYS"),
        ({"MESSAGE_RETENTION_DAYS": "a week"}, "MESSAGE_RETENTION_DAYS"),
    ],
)
def test_placeholders_and_nonsense_are_rejected_outside_local(extra, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**GOOD, **extra})


def test_local_mode_has_safe_defaults():
    s = Settings.from_env({"PARLEY_ENV": "local"})
    assert s.mongodb_uri.startswith("mongomock://") and len(s.jwt_secret) >= 32
    assert Settings.from_env({"PARLEY_ENV": "local"}).jwt_secret == s.jwt_secret  # one key per process
    assert "jwt_secret" not in repr(s).split("jwt_secret_arn")[0]


def test_signing_key_is_read_from_secrets_manager(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        arn = sm.create_secret(Name="parley-jwt", SecretString="k" * 64)["ARN"]
        issuer = token_issuer(Settings.from_env({**GOOD, "JWT_SECRET_ARN": arn}))
    assert issuer.secret == "k" * 64
    user = UserRef(id="u1", username="alice")
    assert issuer.verify(issuer.issue(user, session_id="s1")) == user


def test_missing_key_source_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="JWT_SECRET_ARN"):
        token_issuer(Settings.from_env({**GOOD, "JWT_SECRET_ARN": ""}))


# ---------------------------------------------------------------- the MongoDB URI from Secrets Manager
AWS_ONLY_ARNS = {"PARLEY_ENV": "aws", "MONGODB_URI_SECRET_ARN": "", "JWT_SECRET_ARN": "arn:x"}
URI = "mongodb+srv://parley:s3cr3t-pw@cluster.example.net/"


@pytest.fixture
def secretsmanager(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_the_mongodb_uri_is_read_from_secrets_manager(secretsmanager):
    from parley.adapters import secrets

    arn = secretsmanager.create_secret(Name="parley-mongodb", SecretString=URI + "\n")["ARN"]
    settings = Settings.from_env({**AWS_ONLY_ARNS, "MONGODB_URI_SECRET_ARN": arn})
    assert settings.mongodb_uri == "" and settings.mongodb_uri_secret_arn == arn
    assert "s3cr3t" not in repr(settings)
    assert secrets.mongodb_uri(settings) == URI  # trailing whitespace of a hand-made secret is dropped


def test_the_runtime_connects_to_the_uri_in_the_secret(secretsmanager, monkeypatch):
    from parley.adapters import mongo
    from parley.runtime import ChatRuntime

    arn = secretsmanager.create_secret(Name="parley-mongodb", SecretString=URI)["ARN"]
    opened = []
    real = mongo.database
    monkeypatch.setattr(mongo, "database", lambda uri, name: opened.append((uri, name)) or real("mongomock://localhost", name))
    ChatRuntime.from_settings(Settings.from_env({**AWS_ONLY_ARNS, "MONGODB_URI_SECRET_ARN": arn}))
    assert opened == [(URI, "parley")]


def test_a_given_uri_wins_and_no_secret_is_read(monkeypatch):
    from parley.adapters import secrets

    monkeypatch.setattr(secrets, "mongodb_uri_reader", lambda *a, **k: pytest.fail("read a secret"))
    settings = Settings.from_env({**AWS_ONLY_ARNS, "MONGODB_URI": URI, "MONGODB_URI_SECRET_ARN": "arn:unused"})
    assert secrets.mongodb_uri(settings) == URI
    from parley.adapters import mongo

    monkeypatch.setattr(mongo, "database", lambda uri, name: ("fixed", uri, name))
    assert secrets.mongodb_database(settings) == ("fixed", URI, "parley")  # a plain database: never renewed
    local = Settings.from_env({"PARLEY_ENV": "local", "MONGODB_URI_SECRET_ARN": "arn:from-the-template"})
    assert secrets.mongodb_uri(local) == "mongomock://localhost"  # local mode never reads Secrets Manager


def test_no_uri_source_is_a_configuration_error_when_the_database_is_needed():
    from parley.adapters.secrets import mongodb_uri

    settings = Settings.from_env(AWS_ONLY_ARNS)  # FanoutFunction's environment: it never opens the database
    with pytest.raises(ConfigurationError, match="MONGODB_URI_SECRET_ARN"):
        mongodb_uri(settings)


@pytest.mark.parametrize("value", ["postgres://u:s3cr3t-pw@h/", "mongomock://localhost", '{"uri": "x"}'])
def test_a_secret_that_is_not_a_mongodb_uri_is_refused_without_echoing_it(secretsmanager, value):
    from parley.adapters.secrets import mongodb_uri

    arn = secretsmanager.create_secret(Name="parley-mongodb", SecretString=value)["ARN"]
    with pytest.raises(ConfigurationError, match="plain text") as caught:
        mongodb_uri(Settings.from_env({**AWS_ONLY_ARNS, "MONGODB_URI_SECRET_ARN": arn}))
    assert value not in str(caught.value) and "s3cr3t" not in str(caught.value)
