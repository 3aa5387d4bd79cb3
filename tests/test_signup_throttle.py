"""Sign-up is throttled per source address in the app (issue 22, section 2): API Gateway's route throttle is one for
every client, so one client could exhaust it for everyone. Through the real auth function, loaded from template.yaml,
with SIGNUP_LIMIT set the way the template sets it."""

from __future__ import annotations

import pytest

from tests.support import Stack

PASSWORD = "correct horse 1"


@pytest.fixture
def throttled(template, management_api, local_env, monkeypatch) -> Stack:
    monkeypatch.setenv("SIGNUP_LIMIT", "3")
    return Stack(template, management_api)


def signup(stack: Stack, name: str, address: str, password: str = PASSWORD):
    return stack.http("POST", "/auth/signup", {"username": name, "password": password}, source_ip=address)


def test_sign_ups_from_one_address_are_throttled_while_another_address_still_signs_up(throttled):
    for i in range(3):
        status, body, _ = signup(throttled, f"bot{i}", "203.0.113.9")
        assert status == 201, body
    status, body, headers = signup(throttled, "bot3", "203.0.113.9")
    assert status == 429
    assert "sign-ups" in body["detail"] and "bot3" not in body["detail"]
    retry = int(headers["retry-after"])
    assert 0 < retry <= 3600
    # nothing was stored for the refused one: the name is free, and the refusal was not counted
    assert throttled.http("POST", "/auth/login", {"username": "bot3", "password": PASSWORD},
                          source_ip="203.0.113.10")[0] == 401
    status, body, _ = signup(throttled, "alice", "198.51.100.7")
    assert status == 201, body
    assert signup(throttled, "bot4", "203.0.113.9")[0] == 429


def test_a_refused_sign_up_for_bad_input_does_not_count_but_a_taken_name_does(throttled):
    assert signup(throttled, "alice", "203.0.113.9")[0] == 201
    for _ in range(5):
        assert signup(throttled, "bob", "203.0.113.9", password="password")[0] == 422  # a blocklisted password
    assert signup(throttled, "alice", "203.0.113.9")[0] == 409  # costs a hash: counted
    assert signup(throttled, "bob", "203.0.113.9")[0] == 201
    assert signup(throttled, "carol", "203.0.113.9")[0] == 429


def test_the_sign_up_limit_is_a_template_parameter_of_the_auth_function(template):
    from parley.config import Settings

    env = template["Resources"]["AuthFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SIGNUP_LIMIT"] == {"Ref": "SignupLimit"}
    assert template["Parameters"]["SignupLimit"]["Default"] == Settings.from_env({"PARLEY_ENV": "local"}).limits.signup.count
