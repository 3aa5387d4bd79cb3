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
        ({"MONGODB_URI": ""}, "MONGODB_URI is required"),
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
