"""Hostile input to the HTTP API never makes a 500, and a refusal names the field and the rule, never the value
(issue 22, section 5): lone surrogates, NUL, huge numbers and deep nesting in every body and parameter."""

from __future__ import annotations

import json

import pytest

from parley_local.kit import http_event

from tests.test_auth_http import signup

SURROGATE = "\ud800"
PASSWORD = "correct horse battery"


@pytest.mark.parametrize("body", [
    {"username": SURROGATE, "password": PASSWORD},
    {"username": "alice", "password": SURROGATE * 12},
    {"username": "alice", "password": "ok" + SURROGATE + "ok-longer-password"},
    {"username": "a\x00b", "password": PASSWORD},
    {"username": 10**400, "password": PASSWORD},
])
@pytest.mark.parametrize("path", ["/auth/signup", "/auth/login"])
def test_credentials_with_hostile_strings_are_a_4xx_that_echoes_nothing(stack, path, body):
    status, reply, _ = stack.http("POST", path, body)
    assert 400 <= status < 500, (status, reply)
    text = json.dumps(reply)
    assert "input" not in text and "ok-longer-password" not in text and PASSWORD not in text


def test_a_wrong_password_is_never_echoed(stack):
    status, reply, _ = stack.http("POST", "/auth/signup", {"username": "bob", "password": "Zq7"})
    assert status == 422 and "Zq7" not in json.dumps(reply)
    assert reply["detail"][0]["loc"] == ["body", "password"] and reply["detail"][0]["msg"]


def test_a_password_change_with_a_lone_surrogate_is_a_4xx(stack):
    token = signup(stack)["token"]
    for body in ({"currentPassword": SURROGATE, "newPassword": PASSWORD + "!"},
                 {"currentPassword": "correct horse", "newPassword": PASSWORD + SURROGATE}):
        status, reply, _ = stack.http("POST", "/auth/password", body, token=token)
        assert 400 <= status < 500, (status, reply)
        assert PASSWORD not in json.dumps(reply) and "correct horse" not in json.dumps(reply)


def _raw(stack, path: str, body: str) -> tuple[int, str]:
    reply = stack.invoke("AuthFunction", http_event("POST", path, headers={"content-type": "application/json"}, body=body))
    return reply["statusCode"], reply.get("body") or ""


@pytest.mark.parametrize("body", [
    '{"username": ' + "[" * 100_000 + "]" * 100_000 + ', "password": "correct horse battery"}',
    '{"username": "alice", "password": ' + "9" * 50_000 + "}",
    '{"username": "alice", "password": 1e999999}',
    '{"username": "alice", "password": "\\ud800\\udfff\\ud800"}',
    '{"username": "al\\u0000ice", "password": "correct horse battery"}',
    "\xff\xfe not json",
])
@pytest.mark.parametrize("path", ["/auth/signup", "/auth/login"])
def test_raw_bodies_no_json_encoder_would_write_are_a_4xx(stack, path, body):
    status, text = _raw(stack, path, body)
    assert 400 <= status < 500, (status, text[:300])
    assert "correct horse" not in text


@pytest.mark.parametrize("body", ["\ud800", '{"username": "\ud800", "password": "correct horse battery"}',
                                  '{"currentPassword": "a", "newPassword": "b\udfff"}'])
@pytest.mark.parametrize("path", ["/auth/signup", "/auth/login", "/auth/password", "/auth/logout"])
def test_a_body_whose_text_holds_a_lone_surrogate_itself_is_a_4xx(stack, path, body):
    """Found by the property test (tests/test_http_schemathesis.py): the event's JSON can carry a body whose text
    holds a lone surrogate (not an escape inside the body's JSON, the character itself); Mangum's encode() of the
    body raised, a 500 on every route with or without a body."""
    status, text = _raw(stack, path, body)
    assert 400 <= status < 500, (status, text[:300])


# ---------------------------------------------------------------- display names (issue 23)
def _display_name_holds(name: str) -> None:
    """What a stored display name always is (docs/protocol.md, "Display names")."""
    import unicodedata

    assert unicodedata.is_normalized("NFC", name) and name == name.strip() and 1 <= len(name) <= 64
    for i, char in enumerate(name):
        category = unicodedata.category(char)
        assert category not in ("Cc", "Cs", "Zl", "Zp"), (i, hex(ord(char)))
        assert category != "Cf" or (char in "\u200c\u200d" and 0 < i < len(name) - 1), (i, hex(ord(char)))


def test_any_display_name_is_stored_by_the_rules_or_refused_without_echo(template, management_api, local_env, monkeypatch):
    """Property: whatever text a client sends as a display name, at sign-up or with PATCH /auth/me, the answer is
    201/200 with a name that obeys every rule, or a 422 on the field that repeats nothing; never a 5xx."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.hostile import hostile_strings
    from tests.support import Stack

    monkeypatch.setenv("SIGNUP_LIMIT", "10000")  # hundreds of sign-ups from one address
    stack = Stack(template, management_api)
    status, body, _ = stack.http("POST", "/auth/signup", {"username": "namer", "password": PASSWORD})
    token = body["token"]
    names = st.one_of(hostile_strings, st.text(max_size=80), st.text(
        alphabet=st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Lo", "So"]), max_size=70))
    counter = iter(range(1_000_000))

    @given(name=names, marker=st.sampled_from(["", "Wombat"]))
    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(name, marker):
        value = marker + name
        for route in ("signup", "patch"):
            if route == "signup":
                status, reply, _ = stack.http("POST", "/auth/signup", {"username": f"name{next(counter)}",
                                                                       "password": PASSWORD, "displayName": value})
                shown = (reply or {}).get("user", {}).get("displayName") if status == 201 else None
            else:
                status, reply, _ = stack.http("PATCH", "/auth/me", {"displayName": value}, token=token)
                shown = (reply or {}).get("displayName") if status == 200 else None
            assert status in (200, 201, 422), (route, status, reply)
            if status == 422:
                assert all(e["loc"] == ["body", "displayName"] for e in reply["detail"]), reply
                assert "Wombat" not in json.dumps(reply, ensure_ascii=False) and "input" not in json.dumps(reply)
            else:
                _display_name_holds(shown)

    check()
