"""The HTTP API through Mangum with API Gateway HTTP API (payload 2.0) events, and the WebSocket authorizer."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from tests.support import SECRET, LambdaContext, authorizer_event, http_event, load_function


def signup(stack, name="alice", password="correct horse"):
    status, body, _ = stack.http("POST", "/auth/signup", {"username": name, "password": password})
    assert status == 201, body
    return body


def test_signup_login_me(stack):
    body = signup(stack)
    assert set(body) == {"token", "user", "expiresAt"} and body["user"]["username"] == "alice"
    status, again, _ = stack.http("POST", "/auth/login", {"username": "alice", "password": "correct horse"})
    assert status == 200 and again["user"] == body["user"]
    status, me, _ = stack.http("GET", "/auth/me", token=again["token"])
    assert status == 200 and me == body["user"]


def test_token_claims(stack):
    token = signup(stack)["token"]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="parley")
    assert {"sub", "username", "iat", "exp", "iss", "sid"} <= set(claims)
    assert signup(stack, "bob")["expiresAt"] > claims["exp"] - 60
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_username_is_unique_regardless_of_case(stack):
    signup(stack, "Alice")
    status, body, _ = stack.http("POST", "/auth/signup", {"username": "aLICE", "password": "quiet lantern ferry"})
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


def test_config_and_health_and_no_page(stack):
    status, config, _ = stack.http("GET", "/config.json")
    assert status == 200
    assert config == {
        "websocketUrl": "wss://example.execute-api.us-east-1.amazonaws.com/prod",
        "apiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com",
        "limits": config["limits"],  # tests/test_client_limits.py
        # the embedded database's id (these tests run on mongomock); a page tells a reset server by it
        "instanceId": config["instanceId"],
    }
    assert stack.http("GET", "/config.json")[1]["instanceId"] == config["instanceId"]  # the same until a restart
    assert stack.http("GET", "/health")[0] == 200
    # the page is the bucket's, behind CloudFront (tests/test_template_page.py): the function serves none of it
    for path in ("/", "/static/app.js", "/favicon.ico"):
        assert stack.http("GET", path)[0] == 404, path


def test_the_interactive_docs_and_the_openapi_document_are_served_only_locally(stack, monkeypatch):
    """Locally /docs and /openapi.json answer; in the AWS stage (PARLEY_ENV=aws) both are 404, and the API still
    answers (docs/openapi.json is the published document)."""
    assert stack.http("GET", "/docs")[0] == 200
    assert stack.http("GET", "/openapi.json")[0] == 200
    monkeypatch.setenv("PARLEY_ENV", "aws")
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1/")  # never reached: none of these reads the database
    handler, _ = load_function(stack.template, "AuthFunction")

    def get(path):
        return handler(http_event("GET", path), LambdaContext("AuthFunction"))

    for path in ("/docs", "/openapi.json", "/docs/oauth2-redirect"):
        assert get(path)["statusCode"] == 404, path
    assert get("/health")["statusCode"] == 200


def test_token_of_a_deleted_user_is_refused_everywhere(stack):
    body = signup(stack)
    assert _effect(authorize(stack, body["token"])) == "Allow"
    db = stack.modules["AuthFunction"].db
    db.users.delete_one({"_id": body["user"]["id"]})
    assert stack.http("GET", "/auth/me", token=body["token"])[0] == 401
    assert _effect(authorize(stack, body["token"])) == "Deny"


def test_tampered_username_is_refused(stack):
    token = signup(stack)["token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["username"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert _effect(authorize(stack, f"{header}.{forged}.{signature}")) == "Deny"
    assert stack.http("GET", "/auth/me", token=f"{header}.{forged}.{signature}")[0] == 401


def test_rs256_token_is_refused_even_signed_with_a_key_we_publish(stack):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(timezone.utc)
    claims = {"sub": "u1", "username": "alice", "iat": now, "exp": now + timedelta(hours=1), "iss": "parley"}
    rs256 = jwt.encode(claims, key, algorithm="RS256")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # the classic confusion: HS256 "signed" with a public key the attacker knows
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps({**claims, "iat": int(now.timestamp()),
                                                "exp": int(now.timestamp()) + 3600}).encode()).rstrip(b"=")
    import hashlib
    import hmac

    signature = base64.urlsafe_b64encode(hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest()).rstrip(b"=")
    confused = b".".join([header, body, signature]).decode()
    for token in (rs256, confused):
        assert _effect(authorize(stack, token)) == "Deny"
        assert stack.http("GET", "/auth/me", token=token)[0] == 401


# ---------------------------------------------------------------- the WebSocket authorizer
def authorize(stack, token, origin=None):
    return stack.invoke("AuthorizerFunction", authorizer_event(token=token, origin=origin))


def _effect(policy):
    return policy["policyDocument"]["Statement"][0]["Effect"]


_CLAIMS = {"sub": "u1", "username": "alice", "iss": "parley"}


def _token(secret=SECRET, alg="HS256", **overrides):
    now = datetime.now(timezone.utc)
    claims = {**_CLAIMS, "iat": now, "exp": now + timedelta(hours=1)}
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
        json.dumps({**_CLAIMS, "iat": int(time.time()), "exp": int(time.time()) + 3600}).encode()
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
        pytest.param(lambda: _token(sid=None), id="no-session"),
        pytest.param(lambda: _token(sid="a-session-that-never-was"), id="unknown-session"),
        pytest.param(lambda: _token(iss="someone-else"), id="wrong-issuer"),
        pytest.param(lambda: _token(secret=SECRET + "x" * 20, alg="HS512"), id="other-alg"),
        pytest.param(lambda: _token(nbf=datetime.now(timezone.utc) + timedelta(minutes=10)), id="not-yet-valid"),
        pytest.param(lambda: "garbage", id="garbage"),
    ],
)
def test_authorizer_denies_bad_tokens(stack, token, monkeypatch):
    session = signup(stack)
    monkeypatch.setitem(_CLAIMS, "sub", session["user"]["id"])
    monkeypatch.setitem(_CLAIMS, "sid", jwt.decode(session["token"], options={"verify_signature": False})["sid"])
    assert _effect(authorize(stack, _token())) == "Allow"  # the same user, well signed: let in
    forged = token()
    assert _effect(authorize(stack, forged)) == "Deny"
    assert stack.http("GET", "/auth/me", token=forged)[0] == 401


def test_authorizer_denies_a_disallowed_origin(stack, monkeypatch):
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://chat.example.com")
    handler, _ = load_function(stack.template, "AuthorizerFunction")
    token = signup(stack)["token"]

    def run(origin):
        return _effect(handler(authorizer_event(token=token, origin=origin), LambdaContext()))

    assert run("https://chat.example.com") == "Allow"
    assert run(None) == "Allow"  # non-browser clients send no Origin
    assert run("http://localhost:5173") == "Allow"  # local mode: pages served from this machine
    assert run("https://evil.example.net") == "Deny"
    assert run("http://localhost.evil.example.net") == "Deny"
    monkeypatch.setenv("PARLEY_ENV", "aws")
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1/")
    handler, _ = load_function(stack.template, "AuthorizerFunction")
    assert run("http://localhost:5173") == "Deny"  # in AWS only the configured origins


def test_repeated_failures_pause_logins_for_that_name_from_that_address_with_a_bounded_backoff(stack):
    signup(stack)
    for _ in range(5):  # a few typos are free
        assert stack.http("POST", "/auth/login", {"username": "alice", "password": "wrong password"})[0] == 401
    assert stack.http("POST", "/auth/login", {"username": "alice", "password": "wrong password"})[0] == 401
    status, body, headers = stack.http("POST", "/auth/login", {"username": "ALICE", "password": "correct horse"})
    assert status == 429 and int(headers["retry-after"]) >= 1  # even the right password waits (any letter case)
    # the pause is stored in MongoDB (shared by every container), not in this process
    doc = stack.modules["AuthFunction"].db.login_failures.find_one({"_id": "pair:alice@203.0.113.10"})
    assert doc["count"] == 6 and doc["lockedUntil"]
    # other names are not affected, and unknown names are paused alike (no hint that a name exists)
    assert stack.http("POST", "/auth/login", {"username": "bob", "password": "wrong password"})[0] == 401
    stack.modules["AuthFunction"].db.login_failures.update_one(
        {"_id": "pair:alice@203.0.113.10"}, {"$unset": {"lockedUntil": 1}}
    )
    assert stack.http("POST", "/auth/login", {"username": "alice", "password": "correct horse"})[0] == 200
    # success forgets this pair's failures (the per-address and per-name counts only expire)
    assert stack.modules["AuthFunction"].db.login_failures.find_one({"_id": "pair:alice@203.0.113.10"}) is None


def test_login_pause_is_bounded():
    from datetime import timedelta as td

    from parley.adapters.mongo_accounts import login_pause

    pauses = [login_pause(n) for n in range(1, 40)]
    assert pauses[:5] == [td(0)] * 5
    assert pauses[5] == td(seconds=1) and pauses[6] == td(seconds=2)
    assert max(pauses) == td(minutes=5) and pauses == sorted(pauses)


def test_unknown_user_costs_the_same_argon2_work_as_a_wrong_password(stack, monkeypatch):
    from argon2 import PasswordHasher

    signup(stack)
    calls = []
    real_verify = PasswordHasher.verify

    def counting_verify(self, hash_, password):
        calls.append(hash_.split("$")[3])  # the parameters part: m=…,t=…,p=…
        return real_verify(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    stack.http("POST", "/auth/login", {"username": "alice", "password": "wrong password"})
    stack.http("POST", "/auth/login", {"username": "nobody", "password": "wrong password"})
    assert len(calls) == 2 and calls[0] == calls[1] == "m=19456,t=2,p=1"


def test_passwords_are_stored_as_argon2id_with_owasp_parameters(stack):
    user = signup(stack)["user"]
    stored = stack.modules["AuthFunction"].db.users.find_one({"_id": user["id"]})
    assert stored["passwordHash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "correct horse" not in json.dumps(stored, default=str)
