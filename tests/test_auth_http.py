"""The HTTP API through Mangum with API Gateway HTTP API (payload 2.0) events, and the WebSocket authorizer."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from tests.support import SECRET, LambdaContext, load_function, real_event


def signup(stack, name="alice", password="correct horse"):
    status, body, _ = stack.http("POST", "/auth/signup", {"username": name, "password": password})
    assert status == 201, body
    return body


def test_signup_login_me(stack):
    body = signup(stack)
    assert set(body) == {"token", "user"} and body["user"]["username"] == "alice"
    status, again, _ = stack.http("POST", "/auth/login", {"username": "alice", "password": "correct horse"})
    assert status == 200 and again["user"] == body["user"]
    status, me, _ = stack.http("GET", "/auth/me", token=again["token"])
    assert status == 200 and me == body["user"]


def test_token_claims(stack):
    token = signup(stack)["token"]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="parley")
    assert {"sub", "username", "iat", "exp", "iss"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_username_is_unique_regardless_of_case(stack):
    signup(stack, "Alice")
    status, body, _ = stack.http("POST", "/auth/signup", {"username": "aLICE", "password": "another pass"})
    assert status == 409 and "taken" in body["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "al", "password": "long enough"},
        {"username": "a" * 33, "password": "long enough"},
        {"username": "bad name", "password": "long enough"},
        {"username": "alice", "password": "short"},
        {"username": "alice", "password": "x" * 129},
        {"username": "alice"},
        {"password": "long enough"},
        {"username": 5, "password": "long enough"},
    ],
)
def test_invalid_signup_is_422(stack, payload):
    status, body, _ = stack.http("POST", "/auth/signup", payload)
    assert status == 422, body


def test_login_failures_look_the_same(stack):
    signup(stack)
    wrong = stack.http("POST", "/auth/login", {"username": "alice", "password": "wrong password"})
    unknown = stack.http("POST", "/auth/login", {"username": "nobody", "password": "wrong password"})
    assert wrong[0] == unknown[0] == 401
    assert wrong[1] == unknown[1]


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer not-a-jwt"])
def test_me_requires_a_valid_bearer_token(stack, header):
    token = signup(stack)["token"]
    assert stack.http("GET", "/auth/me", authorization=f"Bearer {token}")[0] == 200
    status, body, headers = stack.http("GET", "/auth/me", authorization=header)
    assert status == 401 and body["detail"]
    assert headers.get("www-authenticate") == "Bearer"


def test_history_and_presence_over_http(stack):
    token = signup(stack)["token"]
    alice = stack.connect("alice", user_id=jwt.decode(token, options={"verify_signature": False})["sub"])
    alice.send({"action": "join", "room": "general"})
    for i in range(5):
        alice.send({"action": "sendMessage", "room": "general", "text": f"m{i}"})
    status, page, _ = stack.http("GET", "/rooms/general/messages", token=token, query="limit=2")
    assert status == 200 and [m["text"] for m in page["messages"]] == ["m3", "m4"] and page["hasMore"]
    first = page["messages"][0]["id"]
    status, older, _ = stack.http("GET", "/rooms/general/messages", token=token, query=f"before={first}&limit=50")
    assert [m["text"] for m in older["messages"]] == ["m0", "m1", "m2"] and older["hasMore"] is False
    status, newer, _ = stack.http("GET", "/rooms/general/messages", token=token, query=f"after={first}")
    assert [m["text"] for m in newer["messages"]] == ["m4"]
    status, presence, _ = stack.http("GET", "/rooms/general/presence", token=token)
    assert status == 200 and presence == {"room": "general", "users": [{"id": alice.user_id, "username": "alice"}]}
    assert stack.http("GET", "/rooms/general/messages", query="limit=2")[0] == 401
    for bad in ("limit=0", "limit=101", "before=xyz"):
        assert stack.http("GET", "/rooms/general/messages", token=token, query=bad)[0] == 422
    assert stack.http("GET", "/rooms/Not%20A%20Room/messages", token=token)[0] in (404, 422)


def test_config_health_and_page(stack):
    status, config, _ = stack.http("GET", "/config.json")
    assert status == 200
    assert config == {
        "websocketUrl": "wss://example.execute-api.us-east-1.amazonaws.com/prod",
        "apiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com",
    }
    assert stack.http("GET", "/health")[0] == 200
    status, page, headers = stack.http("GET", "/")
    assert status == 200 and "<title>" in page
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "wss://example.execute-api.us-east-1.amazonaws.com" in csp
    assert stack.http("GET", "/static/..%2Fapp.py")[0] == 404


def test_token_of_a_deleted_user_is_refused(stack):
    body = signup(stack)
    db = stack.modules["AuthFunction"].db
    db.users.delete_one({"_id": body["user"]["id"]})
    assert stack.http("GET", "/auth/me", token=body["token"])[0] == 401


# ---------------------------------------------------------------- the WebSocket authorizer
def authorize(stack, token, origin=None):
    event = real_event("powertools-websocket-authorizer-request.json")
    event["queryStringParameters"] = {"token": token}
    if origin:
        event["headers"]["Origin"] = origin
    return stack.invoke("AuthorizerFunction", event)


def _effect(policy):
    return policy["policyDocument"]["Statement"][0]["Effect"]


def _token(secret=SECRET, alg="HS256", **overrides):
    now = datetime.now(timezone.utc)
    claims = {"sub": "u1", "username": "alice", "iat": now, "exp": now + timedelta(hours=1), "iss": "parley"}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret, algorithm=alg)


def test_authorizer_allows_a_valid_token_with_the_user_in_context(stack):
    token = signup(stack)["token"]
    policy = authorize(stack, token)
    assert _effect(policy) == "Allow"
    assert policy["policyDocument"]["Statement"][0]["Resource"].endswith("/$connect")
    assert policy["context"]["username"] == "alice" and policy["principalId"] == policy["context"]["userId"]
    assert all(isinstance(v, str) for v in policy["context"].values())


def _none_alg_token():
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(
        json.dumps({"sub": "u1", "username": "alice", "iat": int(time.time()), "exp": int(time.time()) + 3600,
                    "iss": "parley"}).encode()
    ).rstrip(b"=")
    return f"{header.decode()}.{payload.decode()}."


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: _token(exp=datetime.now(timezone.utc) - timedelta(minutes=5)), id="expired"),
        pytest.param(lambda: _token(secret="another-secret-that-is-long-enough-000"), id="wrong-key"),
        pytest.param(_none_alg_token, id="alg-none"),
        pytest.param(lambda: _token(exp=None), id="no-exp"),
        pytest.param(lambda: _token(sub=None), id="no-sub"),
        pytest.param(lambda: _token(iss="someone-else"), id="wrong-issuer"),
        pytest.param(lambda: _token(secret=SECRET + "x" * 20, alg="HS512"), id="other-alg"),
        pytest.param(lambda: "garbage", id="garbage"),
    ],
)
def test_authorizer_denies_bad_tokens(stack, token):
    assert _effect(authorize(stack, token())) == "Deny"


def test_authorizer_denies_a_disallowed_origin(stack, monkeypatch):
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://chat.example.com")
    handler, _ = load_function(stack.template, "AuthorizerFunction")
    token = _token()

    def run(origin):
        event = real_event("powertools-websocket-authorizer-request.json")
        event["queryStringParameters"] = {"token": token}
        if origin:
            event["headers"]["Origin"] = origin
        return _effect(handler(event, LambdaContext()))

    assert run("https://chat.example.com") == "Allow"
    assert run(None) == "Allow"  # non-browser clients send no Origin
    assert run("https://evil.example.net") == "Deny"
