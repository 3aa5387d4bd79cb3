"""Parley's SigV4 signer for @connections posts, checked against botocore's own signer and wire format."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from parley.adapters.sigv4 import Credentials, NoCredentials, Signer, current_credentials
from tests.support import sigv4_is_valid

IDS = ["L0SM9cOFvHcCIhw=", "a+b/c==", "Zm9v_-~.", "ünï cödé"]
NOW = datetime(2026, 11, 26, 23, 59, 59, tzinfo=timezone.utc)


def _signed(connection_id: str, credentials: Credentials, region: str = "eu-west-1", host: str = "abc.example.com"):
    path = f"/prod/@connections/{quote(connection_id, safe='')}"
    body = '{"type":"message","text":"héllo"}'.encode()
    headers = Signer(region).headers(host=host, path=path, body=body, credentials=credentials, now=NOW)
    wire = {"Authorization": headers["authorization"], "X-Amz-Date": headers["x-amz-date"], "Host": host}
    if "x-amz-security-token" in headers:
        wire["X-Amz-Security-Token"] = headers["x-amz-security-token"]
    return f"https://{host}{path}", wire, body


@pytest.mark.parametrize("connection_id", IDS)
@pytest.mark.parametrize("token", [None, "session/token+with=odd"])
def test_the_signature_is_the_one_botocore_computes(connection_id, token):
    url, headers, body = _signed(connection_id, Credentials("AKIDEXAMPLE", "s3cr3t", token))
    assert sigv4_is_valid(method="POST", url=url, headers=headers, body=body, secret="s3cr3t")
    assert ("x-amz-security-token" in headers["Authorization"]) == (token is not None)


def test_a_wrong_secret_a_changed_body_or_another_id_do_not_verify():
    url, headers, body = _signed(IDS[0], Credentials("AKIDEXAMPLE", "s3cr3t"))
    assert not sigv4_is_valid(method="POST", url=url, headers=headers, body=body, secret="other")
    assert not sigv4_is_valid(method="POST", url=url, headers=headers, body=body + b" ", secret="s3cr3t")
    assert not sigv4_is_valid(method="POST", url=url.replace("L0SM", "X0SM"), headers=headers, body=body, secret="s3cr3t")


def test_the_signing_key_follows_the_day_and_the_secret():
    signer, creds = Signer("us-east-1"), Credentials("AKID", "one")
    first = signer.headers(host="h", path="/p/@connections/x", body=b"", credentials=creds, now=NOW)
    again = signer.headers(host="h", path="/p/@connections/x", body=b"", credentials=creds, now=NOW)
    next_day = signer.headers(host="h", path="/p/@connections/x", body=b"", credentials=creds,
                              now=NOW.replace(day=27, hour=0, second=0))
    rotated = signer.headers(host="h", path="/p/@connections/x", body=b"", credentials=Credentials("AKID", "two"), now=NOW)
    assert first == again
    for other in (next_day, rotated):
        assert other["authorization"] != first["authorization"]
    assert sigv4_is_valid(method="POST", url="https://h/p/@connections/x", body=b"", secret="one",
                          headers={"Authorization": next_day["authorization"], "X-Amz-Date": next_day["x-amz-date"], "Host": "h"})


class _EmptyBody:
    def stream(self, **_):
        yield b""


@pytest.mark.parametrize("connection_id", IDS)
def test_the_path_on_the_wire_is_the_one_boto3_sends(connection_id):
    """Capture what boto3's own post_to_connection puts on the wire (stopped before it leaves)."""
    client = boto3.client("apigatewaymanagementapi", endpoint_url="https://abc.execute-api.eu-west-1.amazonaws.com/prod",
                          region_name="eu-west-1", aws_access_key_id="AKID", aws_secret_access_key="s")
    seen = {}

    def capture(request, **_):
        seen["url"] = request.url
        return AWSResponse(request.url, 200, {}, _EmptyBody())

    client.meta.events.register("before-send", capture)
    client.post_to_connection(ConnectionId=connection_id, Data=b"x")
    assert seen["url"] == f"https://abc.execute-api.eu-west-1.amazonaws.com/prod/@connections/{quote(connection_id, safe='')}"


def test_credentials_come_from_the_environment_and_rotate_with_it(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "one")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "tok")
    assert current_credentials() == Credentials("AKID1", "one", "tok")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "two")
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    assert current_credentials() == Credentials("AKID1", "two", None)


def test_no_credentials_anywhere_is_a_clear_error(monkeypatch, tmp_path):
    import parley.adapters.sigv4 as sigv4

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(sigv4, "_provider", [])
    with pytest.raises(NoCredentials, match="AWS_ACCESS_KEY_ID"):
        current_credentials()


@pytest.mark.parametrize("connection_id", IDS)
def test_the_authorization_header_is_the_one_boto3_sends(connection_id):
    """Byte for byte what boto3's post_to_connection sends, for the same moment and credentials."""
    client = boto3.client("apigatewaymanagementapi", endpoint_url="https://abc.execute-api.eu-west-1.amazonaws.com/prod",
                          region_name="eu-west-1", aws_access_key_id="AKID", aws_secret_access_key="s3cr3t",
                          aws_session_token="tok")
    seen = {}

    def capture(request, **_):
        seen.update({k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()})
        seen["url"] = request.url
        return AWSResponse(request.url, 200, {}, _EmptyBody())

    client.meta.events.register("before-send", capture)
    body = '{"type":"message","text":"héllo"}'.encode()
    client.post_to_connection(ConnectionId=connection_id, Data=body)
    now = datetime.strptime(seen["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    ours = Signer("eu-west-1").headers(
        host="abc.execute-api.eu-west-1.amazonaws.com", path=f"/prod/@connections/{quote(connection_id, safe='')}",
        body=body, credentials=Credentials("AKID", "s3cr3t", "tok"), now=now,
    )
    assert ours["authorization"] == seen["authorization"]
    assert ours["x-amz-security-token"] == seen["x-amz-security-token"]
