"""Whose address the per-address throttles key on (parley.edge): behind CloudFront API Gateway's sourceIp is an
edge's, shared by its viewers, so a request carrying the stack's edge secret (X-Parley-Edge, which only the
distribution adds) is keyed by its CloudFront-Viewer-Address; any other request, a direct call to the execute-api
URL with forged headers included, by its own sourceIp."""

from __future__ import annotations

import json

import pytest

from parley import edge
from parley.adapters.secrets import edge_secret_reader
from parley.config import Settings
from tests.support import Stack, http_event

EDGE_SECRET = "edge-secret-for-tests-0123456789abcdefghij"
EDGE_IP = "130.176.0.10"  # a CloudFront edge, as API Gateway reports it


@pytest.fixture
def edge_stack(template, management_api, local_env, monkeypatch) -> Stack:
    monkeypatch.setenv("EDGE_SECRET", EDGE_SECRET)
    return Stack(template, management_api)


def _login(stack: Stack, headers: dict[str, str], source_ip: str = EDGE_IP) -> int:
    event = http_event("POST", "/auth/login", headers={"content-type": "application/json", **headers},
                       body=json.dumps({"username": "alice", "password": "wrong password"}), source_ip=source_ip)
    return stack.invoke("AuthFunction", event)["statusCode"]


def _failures(stack: Stack) -> list[str]:
    return sorted(d["_id"] for d in stack.modules["AuthFunction"].db.login_failures.find({}, {"_id": 1}))


def test_through_cloudfront_each_viewer_is_counted_under_its_own_address(edge_stack):
    for viewer in ("198.51.100.7:40001", "2001:db8::7:40002"):  # CloudFront's IPv6 form: unbracketed, then :port
        assert _login(edge_stack, {"x-parley-edge": EDGE_SECRET, "cloudfront-viewer-address": viewer}) == 401
    assert _failures(edge_stack) == [
        "addr:198.51.100.7", "addr:2001:db8::7", "name:alice", "pair:alice@198.51.100.7", "pair:alice@2001:db8::7",
    ]  # not addr:130.176.0.10, the edge both came through


@pytest.mark.parametrize("proof", [{}, {"x-parley-edge": "guessed"}, {"x-parley-edge": EDGE_SECRET[:-1]},
                                   {"x-parley-edge": ""}])
def test_a_direct_call_cannot_name_its_address(edge_stack, proof):
    forged = {"cloudfront-viewer-address": "203.0.113.99:443", "x-forwarded-for": "203.0.113.98", **proof}
    assert _login(edge_stack, forged, source_ip="192.0.2.44") == 401
    assert _failures(edge_stack) == ["addr:192.0.2.44", "name:alice", "pair:alice@192.0.2.44"]


def test_without_an_edge_secret_the_header_is_never_trusted(stack):
    """No EDGE_SECRET / EDGE_SECRET_ARN (no distribution): whatever the headers say, sourceIp."""
    assert _login(stack, {"x-parley-edge": "", "cloudfront-viewer-address": "203.0.113.99:443"}, "192.0.2.45") == 401
    assert "addr:192.0.2.45" in _failures(stack)


def test_a_malformed_viewer_address_falls_back_to_the_source_address(edge_stack):
    assert _login(edge_stack, {"x-parley-edge": EDGE_SECRET, "cloudfront-viewer-address": "not-an-ip:1"}) == 401
    assert f"addr:{EDGE_IP}" in _failures(edge_stack)


@pytest.mark.parametrize("value, ip", [
    ("198.51.100.10:46532", "198.51.100.10"),
    ("2001:db8:85a3::8a2e:370:7334:46532", "2001:db8:85a3::8a2e:370:7334"),
    ("[2001:db8::1]:443", "2001:db8::1"),
    ("2001:DB8::1:443", "2001:db8::1"),
    (" 198.51.100.10:1 ", "198.51.100.10"),
    ("198.51.100.10", None),  # no port: not CloudFront's
    ("198.51.100.10:x", None),
    ("198.51.100.10:70000", None),
    ("example.com:443", None),
    ("", None),
])
def test_viewer_ip(value, ip):
    assert edge.viewer_ip(value) == ip


def test_the_edge_secret_is_read_from_secrets_manager_and_cached():
    class Client:
        calls = 0

        def get_secret_value(self, **kwargs):
            Client.calls += 1
            return {"SecretString": " from-secrets-manager \n", "VersionId": "v1", "Name": "edge"}

    settings = Settings.from_env({"EDGE_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:edge-AbCdEf"})
    read = edge_secret_reader(settings, client=Client())
    assert read() == read() == "from-secrets-manager" and Client.calls == 1
    assert edge_secret_reader(Settings.from_env({}))() is None


def test_an_unreadable_edge_secret_means_source_addresses(caplog):
    class Client:
        def get_secret_value(self, **kwargs):
            raise RuntimeError("AccessDenied for from-secrets-manager")

    settings = Settings.from_env({"EDGE_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:edge-AbCdEf"})
    assert edge_secret_reader(settings, client=Client())() is None
    assert edge.client_ip({"x-parley-edge": "x", "cloudfront-viewer-address": "1.2.3.4:5"}, "9.9.9.9", None) == "9.9.9.9"
    assert "from-secrets-manager" not in caplog.text
