"""Issue 20 §4: every catch-all counts what the user saw (``InternalErrors`` by function), and the database's
refusals the deployment must fix (credentials, Atlas's storage quota) get metrics of their own.

The handlers answer a bare 500 / ``internal_error`` (Mangum answers FastAPI's 500), so Lambda's ``Errors`` never
sees these. The EMF lines are read from stdout, as CloudWatch reads them from the log."""

from __future__ import annotations

import json

import pytest
from pymongo.errors import BulkWriteError, OperationFailure

from tests.support import Client, Stack, real_event, websocket_event

ATLAS_BAD_AUTH = {"ok": 0, "errmsg": "bad auth : Authentication failed.", "code": 8000, "codeName": "AtlasError"}
ATLAS_QUOTA = "you are over your space quota, using 512 MB of 512 MB"


def _metrics(capsys) -> list[dict]:
    return [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"_aws"')]


def _count(lines: list[dict], name: str, **dimensions: str) -> int:
    found = 0
    for line in lines:
        (meta,) = line["_aws"]["CloudWatchMetrics"]
        if name in {m["Name"] for m in meta["Metrics"]} and all(line.get(k) == v for k, v in dimensions.items()):
            assert set(dimensions) <= set(meta["Dimensions"][0]), meta
            value = line[name]
            found += int(sum(value) if isinstance(value, list) else value)
    return found


def _boom(*args, **kwargs):
    raise RuntimeError("a bug, not the database")


class _Refusing:
    """A pymongo collection whose every call fails with ``error`` (what Atlas answers)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name):
        def call(*args, **kwargs):
            raise self.error

        return call


@pytest.fixture
def quiet(capsys):
    capsys.readouterr()
    return capsys


def test_the_websocket_catch_alls_count_internal_errors_by_function(stack, monkeypatch, quiet):
    from parley.runtime import ChatRuntime

    monkeypatch.setattr(ChatRuntime, "deadline", _boom)  # the first thing every chat handler does
    assert stack.invoke("ConnectFunction", real_event("connect.json")) == {"statusCode": 500}
    assert _count(_metrics(quiet), "InternalErrors", service="parley", function="ConnectFunction") == 1

    event = websocket_event("$disconnect", "Zz0AbCdEfGhIjK=", {"userId": "u-a", "username": "a"})
    assert stack.invoke("DisconnectFunction", event) == {"statusCode": 500}
    assert _count(_metrics(quiet), "InternalErrors", service="parley", function="DisconnectFunction") == 1

    client = Client(stack, "Yy0AbCdEfGhIjK=", "u-alice", "alice", 1731324924553)
    assert client.send({"action": "sendMessage", "room": "general", "text": "hi"}) == {"statusCode": 500}
    lines = _metrics(quiet)
    assert _count(lines, "InternalErrors", service="parley", function="MessageFunction") == 1
    assert _count(lines, "DatabaseUnavailable") == 0  # a bug is not the database


def test_a_refused_frame_is_not_an_internal_error(stack, quiet):
    client = stack.connect("alice")
    quiet.readouterr()
    client.send({"action": "sendMessage", "room": "never-joined", "text": "hi"})
    assert client.last("error")["code"] == "not_in_room"
    assert _count(_metrics(quiet), "InternalErrors") == 0


def _signed_in(stack) -> str:
    status, body, _ = stack.http("POST", "/auth/signup", {"username": "alice", "password": "correct horse battery"})
    assert status == 201, body
    return body["token"]


def test_the_http_api_catch_all_answers_500_and_counts_it(stack, monkeypatch, quiet):
    token = _signed_in(stack)
    monkeypatch.setattr(stack.modules["AuthFunction"].room_store, "public_page", _boom)
    quiet.readouterr()
    status, body, _ = stack.http("GET", "/rooms/public", token=token)
    assert status == 500 and body == {"detail": "something went wrong; try again"}
    assert "a bug" not in json.dumps(body)
    assert _count(_metrics(quiet), "InternalErrors", service="parley", function="AuthFunction") == 1
    assert stack.http("GET", "/health")[0] == 200
    assert _count(_metrics(quiet), "InternalErrors") == 0


def test_the_http_api_503_is_counted_too(stack, monkeypatch, quiet):
    from parley.errors import StoreUnavailable

    def down(*args, **kwargs):
        raise StoreUnavailable("the database did not answer")

    token = _signed_in(stack)
    monkeypatch.setattr(stack.modules["AuthFunction"].room_store, "public_page", down)
    quiet.readouterr()
    assert stack.http("GET", "/rooms/public", token=token)[0] == 503
    lines = _metrics(quiet)
    assert _count(lines, "InternalErrors", service="parley", function="AuthFunction") == 1
    assert _count(lines, "DatabaseUnavailable", service="parley") == 1


@pytest.mark.parametrize(
    ("error", "metric"),
    [
        (OperationFailure("Authentication failed.", 18, {"ok": 0, "errmsg": "Authentication failed.", "code": 18}),
         "DatabaseAuthFailures"),
        (OperationFailure(ATLAS_BAD_AUTH["errmsg"], 8000, ATLAS_BAD_AUTH), "DatabaseAuthFailures"),
        (BulkWriteError({"writeErrors": [{"index": 0, "code": 8000, "errmsg": ATLAS_QUOTA}], "nInserted": 0}),
         "DatabaseOverQuota"),
    ],
    ids=["code-18", "atlas-bad-auth", "atlas-quota"],
)
def test_database_refusals_get_metrics_of_their_own(stack, monkeypatch, quiet, error, metric):
    connections = stack.modules["ConnectFunction"].runtime.connections
    monkeypatch.setattr(connections, "_c", _Refusing(error))
    assert stack.invoke("ConnectFunction", real_event("connect.json")) == {"statusCode": 500}
    lines = _metrics(quiet)
    assert _count(lines, metric, service="parley") == 1
    assert _count(lines, "InternalErrors", service="parley", function="ConnectFunction") == 1
    assert _count(lines, "DatabaseUnavailable") == 0  # it answered: no failover will fix this


def test_the_authorizer_counts_refused_credentials_before_failing(template, management_api, local_env, monkeypatch,
                                                                  quiet):
    from parley.errors import StoreAuthFailed

    stack = Stack(template, management_api)
    users = stack.modules["AuthorizerFunction"].users
    monkeypatch.setattr(users, "_c", _Refusing(OperationFailure("Authentication failed.", 18)))
    from parley.model import UserRef

    token = stack.modules["AuthorizerFunction"].issuer.issue(UserRef(id="u-a", username="a"), session_id="s")
    event = {"type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:1:a/b/$connect",
             "queryStringParameters": {"token": token}, "headers": {}, "requestContext": {"requestId": "r"}}
    with pytest.raises(StoreAuthFailed):
        stack.invoke("AuthorizerFunction", event)
    assert _count(_metrics(quiet), "DatabaseAuthFailures", service="parley") == 1


def test_other_operation_failures_stay_what_they_are():
    from parley.adapters.mongo import _refusal

    assert _refusal(OperationFailure("not authorized on parley to execute command", 13)) is None  # Unauthorized
    assert _refusal(OperationFailure("cannot create index in free tier", 8000, {"errmsg": "x", "code": 8000})) is None
    assert _refusal(BulkWriteError({"writeErrors": [{"code": 11000, "errmsg": "E11000 duplicate key"}]})) is None
