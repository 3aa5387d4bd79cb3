"""Secrets rotate without an outage (issue 20, section 3), the procedure of docs/architecture.md ("Secrets") run
against fakes: moto's Secrets Manager, mongomock databases standing for the Atlas users, and a database that
refuses its credentials once.

- JWT key: put a new version of the secret; tokens signed with the old key stay valid for the window, then are
  refused; new tokens carry the new key's id, and a container that has not re-read yet accepts them at once.
- MongoDB URI: put the new URI in the secret; a warm container uses it after the max age, and at once when the
  database refuses the old credentials (the call is made again, once, on a client of the new URI).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import boto3
import jwt
import mongomock
import pytest
from moto import mock_aws
from pymongo.errors import OperationFailure

from parley.accounts import token_issuer
from parley.adapters import mongo, mongo_accounts
from parley.adapters.secrets import SecretsManagerKeys, mongodb_database
from parley.config import Settings
from parley.errors import StoreAuthFailed
from parley.errors import InvalidToken
from parley.model import UserRef
from parley.tokens import STATIC_KID, TokenIssuer

KEY_A, KEY_B, KEY_C = "a" * 64, "b" * 64, "c" * 64
ALICE = UserRef(id="u1", username="alice")
MAX_AGE, WINDOW = timedelta(minutes=5), timedelta(hours=13)


class Clock:
    """The containers' clock, moved by the test (Secrets Manager's CreatedDate is the real time)."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class Counting:
    """A Secrets Manager client that counts GetSecretValue calls."""

    def __init__(self, client) -> None:
        self._client, self.reads = client, 0
        self.exceptions = client.exceptions

    def get_secret_value(self, **kwargs):
        self.reads += 1
        return self._client.get_secret_value(**kwargs)


@pytest.fixture
def sm(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def container(sm, arn, clock, *, window=WINDOW):
    """A function container's issuer: its own cache of the keys, as a Lambda container has."""
    client = Counting(sm)
    keys = SecretsManagerKeys(arn, max_age=MAX_AGE, window=window, client=client, clock=clock)
    return TokenIssuer(keys=keys, clock=clock), client


def kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


# ---------------------------------------------------------------- the JWT key
def test_rotating_the_jwt_key_keeps_old_tokens_for_the_window_then_refuses_them(sm):
    clock = Clock()
    arn = sm.create_secret(Name="parley-jwt", SecretString=KEY_A)["ARN"]
    version_a = sm.get_secret_value(SecretId=arn)["VersionId"]
    auth, _ = container(sm, arn, clock)  # signs (AuthFunction)
    authorizer, _ = container(sm, arn, clock)  # checks ($connect)
    old = auth.issue(ALICE, session_id="s1")
    assert kid(old) == version_a and authorizer.verify(old) == ALICE

    time.sleep(1.1)  # the new version's CreatedDate (whole seconds) is after the old token's iat
    sm.put_secret_value(SecretId=arn, SecretString=KEY_B)  # the rotation: AWSCURRENT -> B, AWSPREVIOUS -> A
    version_b = sm.get_secret_value(SecretId=arn)["VersionId"]

    clock.advance(MAX_AGE)  # every warm container has re-read the secret
    new = auth.issue(ALICE, session_id="s2")
    assert kid(new) == version_b
    assert authorizer.verify(new) == ALICE and auth.verify(new) == ALICE
    assert authorizer.verify(old) == ALICE and auth.verify(old) == ALICE  # within the window: still valid

    clock.advance(WINDOW)  # past CreatedDate(B) + window
    for issuer in (auth, authorizer):
        with pytest.raises(InvalidToken):
            issuer.verify(old)
        assert issuer.verify(new) == ALICE
    # a token signed with the old key but claiming the new key's id is refused too
    forged = jwt.encode(jwt.decode(old, options={"verify_signature": False}), KEY_A, algorithm="HS256",
                        headers={"kid": version_b})
    with pytest.raises(InvalidToken):
        authorizer.verify(forged)


def test_a_container_that_has_not_reread_yet_accepts_a_token_of_the_new_key_at_once(sm):
    clock = Clock()
    arn = sm.create_secret(Name="parley-jwt", SecretString=KEY_A)["ARN"]
    authorizer, reads = container(sm, arn, clock)  # read before the rotation, its cache still fresh
    sm.put_secret_value(SecretId=arn, SecretString=KEY_B)
    auth, _ = container(sm, arn, clock)  # a new container: signs with B
    new = auth.issue(ALICE, session_id="s1")
    before = reads.reads
    assert authorizer.verify(new) == ALICE  # unknown kid: re-read once
    assert reads.reads == before + 2  # AWSCURRENT and AWSPREVIOUS
    # unknown ids cannot make a container hammer Secrets Manager: at most one re-read per min_refresh
    for n in range(5):
        bogus = jwt.encode({"sub": "u1"}, KEY_C, algorithm="HS256", headers={"kid": f"made-up-{n}"})
        with pytest.raises(InvalidToken):
            authorizer.verify(bogus)
    assert reads.reads == before + 2


def test_removing_the_previous_label_refuses_the_old_key_after_the_max_age(sm):
    """The emergency path (a leaked key): rotate, then take AWSPREVIOUS off the old version."""
    clock = Clock()
    arn = sm.create_secret(Name="parley-jwt", SecretString=KEY_A)["ARN"]
    version_a = sm.get_secret_value(SecretId=arn)["VersionId"]
    auth, _ = container(sm, arn, clock)
    old = auth.issue(ALICE, session_id="s1")
    sm.put_secret_value(SecretId=arn, SecretString=KEY_B)
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPREVIOUS", RemoveFromVersionId=version_a)
    assert auth.verify(old) == ALICE  # the cache is still fresh
    clock.advance(MAX_AGE)
    with pytest.raises(InvalidToken):
        auth.verify(old)


def test_a_failed_reread_keeps_the_keys_already_read(sm, caplog):
    clock = Clock()
    arn = sm.create_secret(Name="parley-jwt", SecretString=KEY_A)["ARN"]
    auth, _ = container(sm, arn, clock)
    token = auth.issue(ALICE, session_id="s1")
    sm.put_secret_value(SecretId=arn, SecretString="too-short")  # not a usable key
    clock.advance(MAX_AGE)
    caplog.set_level(logging.INFO)
    assert auth.verify(token) == ALICE and kid(auth.issue(ALICE, session_id="s2")) == kid(token)
    assert "could not re-read the JWT keys" in caplog.text and "too-short" not in caplog.text


def test_the_stack_wiring_reads_the_window_and_max_age_from_settings(sm):
    arn = sm.create_secret(Name="parley-jwt", SecretString=KEY_A)["ARN"]
    settings = Settings.from_env({"PARLEY_ENV": "aws", "JWT_SECRET_ARN": arn, "MONGODB_URI": "mongodb://h/",
                                  "TOKEN_TTL_SECONDS": "3600", "SECRETS_MAX_AGE_SECONDS": "60"})
    assert settings.previous_key_window == timedelta(seconds=3660)  # a token's lifetime plus the max age
    assert Settings.from_env({"PARLEY_ENV": "aws", "JWT_PREVIOUS_KEY_SECONDS": "0"}).previous_key_window == timedelta(0)
    issuer = token_issuer(settings)
    assert isinstance(issuer.keys, SecretsManagerKeys) and issuer.keys._window == timedelta(seconds=3660)
    assert KEY_A not in repr(issuer) and KEY_A not in repr(issuer.keys.ring())


def test_a_static_key_signs_with_its_kid_and_still_accepts_tokens_without_one():
    """Local mode and the tests (JWT_SECRET); and tokens issued before tokens had a kid."""
    issuer = TokenIssuer(secret=KEY_A)
    assert kid(issuer.issue(ALICE, session_id="s1")) == STATIC_KID
    now = datetime.now(timezone.utc)
    legacy = jwt.encode({"sub": "u1", "username": "alice", "sid": "s1", "iss": "parley", "iat": now,
                         "exp": now + timedelta(hours=1)}, KEY_A, algorithm="HS256")
    assert "kid" not in jwt.get_unverified_header(legacy) and issuer.verify(legacy) == ALICE
    for bad in (jwt.encode({"sub": "u1", "username": "alice", "sid": "s1", "iss": "parley", "iat": now,
                            "exp": now + timedelta(hours=1)}, KEY_A, algorithm="HS512", headers={"kid": STATIC_KID}),
                jwt.encode({"sub": "u1", "username": "alice", "sid": "s1", "iss": "parley", "iat": now},
                           KEY_A, algorithm="HS256", headers={"kid": STATIC_KID})):  # HS512; no exp
        with pytest.raises(InvalidToken):
            issuer.verify(bad)


# ---------------------------------------------------------------- the MongoDB URI
OLD_URI = "mongodb://parley-old:old-pw@db.example.net/"
NEW_URI = "mongodb://parley-new:new-pw@db.example.net/"


class Refusing:
    """A database whose every operation is refused for its credentials, as Atlas does once the old user is gone."""

    def __init__(self, calls: list) -> None:
        self.client = mongomock.MongoClient(tz_aware=True)
        self.name, self._calls = "parley", calls

    def __getitem__(self, collection):
        return self

    def with_options(self, **options):
        return self

    def __getattr__(self, op):
        def refuse(*args, **kwargs):
            self._calls.append(op)
            raise OperationFailure("Authentication failed.", code=18)

        return refuse


@pytest.fixture
def two_users(monkeypatch):
    """One in-memory database per URI (the old and the new Atlas user see the same data in real life; here the
    data differs, so a read shows which URI it went through). ``opened`` lists the URIs clients were made for."""
    dbs = {OLD_URI: mongomock.MongoClient(tz_aware=True)["parley"], NEW_URI: mongomock.MongoClient(tz_aware=True)["parley"]}
    opened: list[str] = []
    monkeypatch.setattr(mongo, "database", lambda uri, name: opened.append(uri) or dbs[uri])
    mongo_accounts.MongoUserStore(dbs[NEW_URI]).create(username="bob", password_hash="h")
    return dbs, opened


def uri_settings(arn, max_age="300"):
    return Settings.from_env({"PARLEY_ENV": "aws", "MONGODB_URI_SECRET_ARN": arn, "JWT_SECRET_ARN": "arn:x",
                              "SECRETS_MAX_AGE_SECONDS": max_age})


def test_a_warm_container_uses_the_new_uri_after_the_max_age(sm, two_users):
    _, opened = two_users
    arn = sm.create_secret(Name="parley-mongodb", SecretString=OLD_URI)["ARN"]
    users = mongo_accounts.MongoUserStore(mongodb_database(uri_settings(arn, max_age="1")))
    assert users.by_username(username="bob") is None and opened == [OLD_URI]
    sm.put_secret_value(SecretId=arn, SecretString=NEW_URI)
    assert users.by_username(username="bob") is None  # still cached: the old user still works meanwhile
    time.sleep(1.1)
    assert users.by_username(username="bob") is not None and opened == [OLD_URI, NEW_URI]
    assert users.by_username(username="bob") is not None and opened == [OLD_URI, NEW_URI]  # once


def test_an_authentication_failure_rereads_the_uri_at_once_and_retries_once_on_it(sm, monkeypatch, caplog):
    refused: list[str] = []
    new_db = mongomock.MongoClient(tz_aware=True)["parley"]
    mongo_accounts.MongoUserStore(new_db).create(username="bob", password_hash="h")
    opened: list[str] = []
    monkeypatch.setattr(mongo, "database", lambda uri, name: opened.append(uri) or (
        Refusing(refused) if uri == OLD_URI else new_db))
    caplog.set_level(logging.INFO)  # as tests/test_no_secrets_in_logs.py: libraries at INFO, Parley's at DEBUG
    caplog.set_level(logging.DEBUG, logger="parley")
    arn = sm.create_secret(Name="parley-mongodb", SecretString=OLD_URI)["ARN"]
    users = mongo_accounts.MongoUserStore(mongodb_database(uri_settings(arn)))  # max age 5 minutes
    sm.put_secret_value(SecretId=arn, SecretString=NEW_URI)
    # the old user is removed before this container's cache expires: the first call is refused, then retried
    found = users.by_username(username="bob")
    assert found is not None and found.username == "bob"  # the retry went to the new URI's database
    assert refused == ["find_one"] and opened == [OLD_URI, NEW_URI]
    assert users.by_username(username="bob") is not None and refused == ["find_one"]  # the new client stays
    logs = caplog.text
    for secret in ("old-pw", "new-pw", OLD_URI, NEW_URI):
        assert secret not in logs


def test_an_authentication_failure_with_an_unchanged_secret_is_not_retried(sm, monkeypatch):
    refused: list[str] = []
    monkeypatch.setattr(mongo, "database", lambda uri, name: Refusing(refused))
    arn = sm.create_secret(Name="parley-mongodb", SecretString=OLD_URI)["ARN"]
    users = mongo_accounts.MongoUserStore(mongodb_database(uri_settings(arn)))
    with pytest.raises(StoreAuthFailed):  # counted as DatabaseAuthFailures by the catch-alls (issue 20, section 4)
        users.by_username(username="bob")
    assert refused == ["find_one"]  # one call: the secret holds the same URI, so nothing to retry with


def test_other_operation_failures_are_not_retried(sm, monkeypatch):
    calls: list[str] = []
    arn = sm.create_secret(Name="parley-mongodb", SecretString=OLD_URI)["ARN"]

    class Failing(Refusing):
        def __getattr__(self, op):
            def fail(*args, **kwargs):
                calls.append(op)
                raise OperationFailure("not authorized on parley to execute command", code=13)

            return fail

    monkeypatch.setattr(mongo, "database", lambda uri, name: Failing(calls))
    users = mongo_accounts.MongoUserStore(mongodb_database(uri_settings(arn)))
    sm.put_secret_value(SecretId=arn, SecretString=NEW_URI)
    with pytest.raises(OperationFailure):
        users.by_username(username="bob")
    assert calls == ["find_one"]


def test_atlas_bad_auth_counts_as_an_authentication_failure():
    assert mongo.auth_failed(OperationFailure("bad auth : authentication failed", code=8000))
    assert not mongo.auth_failed(OperationFailure("you are over your space quota", code=8000))
    assert not mongo.auth_failed(OperationFailure("E11000", code=11000))
