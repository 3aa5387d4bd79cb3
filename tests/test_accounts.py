"""Issue 11, findings 1-5, through the HTTP API function (Mangum, API Gateway HTTP API events) and the
authorizer: throttles keyed on the source address, sessions that can be ended, the password blocklist and
look-alike user names. The same over real sockets through the local gateway: tests/local/test_accounts_e2e.py."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.support import SECRET, authorizer_event

STRONG = "correct horse"
WRONG = "wrong password"


def signup(stack, name="alice", password=STRONG):
    status, body, _ = stack.http("POST", "/auth/signup", {"username": name, "password": password})
    assert status == 201, body
    return body


def login(stack, name="alice", password=STRONG, ip="198.51.100.1"):
    return stack.http("POST", "/auth/login", {"username": name, "password": password}, source_ip=ip)


def authorize(stack, token):
    return stack.invoke("AuthorizerFunction", authorizer_event(token=token))


def allowed(stack, token) -> bool:
    return authorize(stack, token)["policyDocument"]["Statement"][0]["Effect"] == "Allow"


# ---------------------------------------------------------------- 1. lock-out, 2. spraying
def test_an_attacker_elsewhere_cannot_lock_the_user_out(stack):
    signup(stack)
    for _ in range(12):
        assert login(stack, password=WRONG, ip="203.0.113.66")[0] in (401, 429)
    assert login(stack, password=STRONG, ip="203.0.113.66")[0] == 429  # the attacker's address waits
    status, body, _ = login(stack, ip="198.51.100.7")  # the real user, at home
    assert status == 200, body


def test_spraying_many_names_from_one_address_is_slowed(stack):
    statuses = [login(stack, name=f"user{i:02d}", password=WRONG, ip="203.0.113.99")[0] for i in range(40)]
    assert statuses[:20] == [401] * 20  # typos of a shared (NAT) address are free for a while
    assert 429 in statuses[20:22]
    status, _, headers = login(stack, name="someone-new", password=WRONG, ip="203.0.113.99")
    assert status == 429 and int(headers["retry-after"]) >= 1
    assert login(stack, name="someone-new", password=WRONG, ip="198.51.100.8")[0] == 401  # other addresses not


def test_a_name_attacked_from_many_addresses_hits_a_much_higher_ceiling(stack):
    from parley.adapters.mongo_accounts import FREE_PER_NAME, FREE_PER_PAIR

    signup(stack)
    addresses = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(FREE_PER_NAME // FREE_PER_PAIR + 1)]
    for ip in addresses[:-1]:
        for _ in range(FREE_PER_PAIR):
            assert login(stack, password=WRONG, ip=ip)[0] == 401
    assert login(stack, ip="198.51.100.9")[0] == 200  # 100 failures from 20 addresses: still free
    assert login(stack, password=WRONG, ip=addresses[-1])[0] == 401
    assert login(stack, ip="198.51.100.9")[0] == 429  # past the ceiling every address waits


# ---------------------------------------------------------------- issue 22 §4: device cookies
HOME, ELSEWHERE = "198.51.100.7", "198.51.100.200"


def device_cookie(headers) -> str:
    """``name=value`` of the device cookie a log-in set, to send back as a browser would."""
    (set_cookie,) = [c for c in headers.get("set-cookie", []) if "parley-device=" in c]
    return set_cookie.split(";", 1)[0]


def device_login(stack, cookie=None, name="alice", password=STRONG, ip=ELSEWHERE):
    cookies = [cookie] if cookie else None
    return stack.http("POST", "/auth/login", {"username": name, "password": password}, source_ip=ip, cookies=cookies)


def distributed_attack(stack, name="alice", rounds=3):
    """Issue 22 §4: 24 addresses × 5 wrong passwords, then one more failure per pause from fresh addresses
    (each pause's end is simulated by clearing its ``lockedUntil``: the attacker waits it out)."""
    failures = stack.modules["AuthFunction"].db.login_failures
    statuses = [login(stack, name=name, password=WRONG, ip=f"2001:db8::{i:x}")[0] for i in range(24) for _ in range(5)]
    assert 429 in statuses  # the per-name ceiling (100) was reached: every unknown device now waits
    for i in range(rounds):
        failures.update_one({"_id": f"name:{name}"}, {"$unset": {"lockedUntil": 1}})
        assert login(stack, name=name, password=WRONG, ip=f"2001:db8:1::{i:x}")[0] == 401  # counted: paused again


def test_after_a_distributed_attack_the_real_user_with_a_device_cookie_still_signs_in(stack):
    signup(stack)
    status, _, headers = login(stack, ip=HOME)  # an earlier log-in on this browser
    assert status == 200
    cookie = device_cookie(headers)
    distributed_attack(stack)
    status, body, _ = device_login(stack)  # a new address, no cookie: still locked out, as before
    assert status == 429, body
    status, body, headers = device_login(stack, cookie)  # the same new address with the browser's cookie
    assert status == 200 and body["user"]["username"] == "alice", body
    assert device_cookie(headers) != cookie  # a new nonce at every log-in
    assert device_login(stack, device_cookie(headers))[0] == 200  # and the new one works too
    assert device_login(stack)[0] == 429  # the lock-out of unknown devices stands


def test_wrong_passwords_with_a_device_cookie_lock_that_cookie_only(stack):
    from parley.adapters.mongo_accounts import FREE_PER_DEVICE

    signup(stack)
    stolen = device_cookie(login(stack, ip=HOME)[2])
    other = device_cookie(login(stack, ip="198.51.100.8")[2])  # the user's second browser
    # guessing with the stolen cookie, from a new address each time: the cookie is what is counted
    guesses = [device_login(stack, stolen, password=WRONG, ip=f"2001:db8:2::{i:x}")[0] for i in range(FREE_PER_DEVICE + 2)]
    assert guesses[:FREE_PER_DEVICE + 1] == [401] * (FREE_PER_DEVICE + 1) and guesses[-1] == 429
    status, _, headers = device_login(stack, stolen, ip="2001:db8:3::1")  # even the right password waits
    assert status == 429 and int(headers["retry-after"]) >= 1 and "set-cookie" not in headers
    assert device_login(stack, other)[0] == 200  # another device's cookie is not affected
    assert device_login(stack)[0] == 200  # nor are unknown devices: those failures were not counted per name
    ids = {d["_id"] for d in stack.modules["AuthFunction"].db.login_failures.find({}, {"_id": 1})}
    assert len(ids) == 1 and next(iter(ids)).startswith("device:")


def test_a_tampered_expired_or_other_users_device_cookie_counts_as_none(stack):
    signup(stack)
    signup(stack, name="bob")
    alice = device_cookie(login(stack, ip=HOME)[2])
    bob = device_cookie(login(stack, name="bob", ip=HOME)[2])
    distributed_attack(stack, rounds=1)
    name, value = alice.split("=", 1)
    login_name, expires, nonce, signature = value.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    forged = [
        bob,  # bob's valid cookie, presented for alice
        f"{name}={login_name}.{expires}.{nonce}.{flipped}",  # a changed signature
        f"{name}={login_name}.{int(expires) + 1}.{nonce}.{signature}",  # a longer life, same signature
        f"{name}=bob.{expires}.{nonce}.{signature}",  # alice's signature under another name
        f"{name}={login_name}.{expires}.{nonce}",  # OWASP's parts without the signature
        f"parley-device-other={value}",  # the right value under another cookie name
    ]
    for cookie in forged:
        assert device_login(stack, cookie)[0] == 429, cookie
    assert device_login(stack, alice)[0] == 200  # the control: alice's own cookie


def test_device_cookies_expire_and_bind_the_name_in_any_letter_case():
    from datetime import timedelta

    from parley.devices import LIFETIME, DeviceCookies
    from parley.model import utcnow

    now, cookies = utcnow(), DeviceCookies("k" * 40)
    value = cookies.issue("Alice", now=now)
    assert cookies.nonce([value], username="ALICE", now=now) == value.split(".")[2]
    assert cookies.nonce([value], username="alice", now=now + LIFETIME + timedelta(seconds=1)) is None
    assert DeviceCookies("other key " * 4).nonce([value], username="alice", now=now) is None
    assert cookies.nonce(["junk", value], username="alice", now=now) is not None  # the first valid one


def test_the_device_cookie_is_httponly_strict_and_only_for_the_login_route(stack):
    signup(stack)
    status, _, headers = login(stack, ip=HOME)  # API Gateway's event: X-Forwarded-Proto https
    (set_cookie,) = [c for c in headers["set-cookie"] if "parley-device=" in c]  # (and the session cookie)
    attributes = {a.strip().split("=")[0].lower(): a.strip() for a in set_cookie.split(";")[1:]}
    assert set_cookie.startswith("__Secure-parley-device=")
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= set(attributes)
    assert attributes["samesite"].lower() == "samesite=strict" and attributes["path"] == "Path=/auth/login"
    assert "domain" not in attributes  # host-only
    assert login(stack, password=WRONG, ip=HOME)[2].get("set-cookie") is None  # only a success sets one


# ---------------------------------------------------------------- 3. sessions
def test_logout_ends_this_token_only(stack):
    first = signup(stack)
    second = login(stack)[1]
    assert stack.http("POST", "/auth/logout", token=first["token"])[0] == 204
    for path in ("/auth/me", "/rooms/general/messages", "/rooms/general/presence"):
        assert stack.http("GET", path, token=first["token"])[0] == 401, path
    for path in ("/auth/refresh", "/auth/logout", "/auth/logout-all"):
        assert stack.http("POST", path, token=first["token"])[0] == 401, path
    assert not allowed(stack, first["token"])
    assert stack.http("GET", "/auth/me", token=second["token"])[0] == 200
    assert allowed(stack, second["token"])


def test_logout_everywhere_ends_every_token(stack):
    tokens = [signup(stack)["token"]] + [login(stack)[1]["token"] for _ in range(3)]
    assert stack.http("POST", "/auth/logout-all", token=tokens[1])[0] == 204
    for token in tokens:
        assert stack.http("GET", "/auth/me", token=token)[0] == 401
        assert not allowed(stack, token)
    assert login(stack)[0] == 200  # signing in again works


def test_password_change_keeps_this_session_and_ends_the_others(stack):
    mine = signup(stack)["token"]
    other = login(stack)[1]["token"]
    change = {"currentPassword": STRONG, "newPassword": "velvet otter climbs 9 hills"}
    assert stack.http("POST", "/auth/password", {**change, "currentPassword": WRONG}, token=mine)[0] == 403
    status, body, _ = stack.http("POST", "/auth/password", {**change, "newPassword": "password1"}, token=mine)
    assert status == 422 and "guess" in body["detail"][0]["msg"] and body["detail"][0]["loc"] == ["body", "newPassword"]
    assert stack.http("POST", "/auth/password", change, token=mine)[0] == 204
    assert stack.http("GET", "/auth/me", token=mine)[0] == 200 and allowed(stack, mine)
    assert stack.http("GET", "/auth/me", token=other)[0] == 401 and not allowed(stack, other)
    assert login(stack)[0] == 401
    assert login(stack, password="velvet otter climbs 9 hills")[0] == 200


def test_refresh_renews_a_live_token_for_the_same_session(stack):
    first = signup(stack)
    status, renewed, _ = stack.http("POST", "/auth/refresh", token=first["token"])
    assert status == 200 and renewed["user"] == first["user"] and renewed["expiresAt"] >= first["expiresAt"]
    old, new = (jwt.decode(t, SECRET, algorithms=["HS256"], issuer="parley") for t in (first["token"], renewed["token"]))
    assert new["sid"] == old["sid"] and new["exp"] >= old["exp"]
    assert stack.http("POST", "/auth/logout", token=renewed["token"])[0] == 204
    assert stack.http("POST", "/auth/refresh", token=first["token"])[0] == 401  # same session: ended too


def test_sessions_per_user_are_bounded(stack):
    from parley.adapters.mongo_accounts import MAX_SESSIONS

    first = signup(stack)["token"]
    for _ in range(MAX_SESSIONS):
        login(stack)
    stored = stack.modules["AuthFunction"].db.users.find_one({"username": "alice"})
    assert len(stored["sessions"]) == MAX_SESSIONS
    assert stack.http("GET", "/auth/me", token=first)[0] == 401  # the oldest was ended


# ---------------------------------------------------------------- 4. weak passwords
@pytest.mark.parametrize("password", ["password", "12345678", "alice", "alice2024", "qwertyuiop", "Password1!"])
def test_weak_passwords_are_refused_with_a_reason(stack, password):
    if len(password) < 8:
        password = password * 2
    status, body, _ = stack.http("POST", "/auth/signup", {"username": "alice", "password": password})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "password"] and body["detail"][0]["msg"], body


def test_a_password_containing_the_username_is_refused(stack):
    status, body, _ = stack.http("POST", "/auth/signup", {"username": "Margarethe", "password": "xq-margarethe-77-zv"})
    assert status == 422 and "username" in body["detail"][0]["msg"]


# ---------------------------------------------------------------- 5. look-alike names
@pytest.mark.parametrize("lookalike", ["aIice", "a1ice", "alice.", "ALICE", "_alice", "ALlCE"])
def test_names_confusable_with_an_existing_one_are_refused(stack, lookalike):
    signup(stack)
    status, body, _ = stack.http("POST", "/auth/signup", {"username": lookalike, "password": "quiet lantern ferry"})
    assert status == 409 and "taken" in body["detail"]


def test_o_and_zero_are_one_letter(stack):
    signup(stack, "bob0")
    assert stack.http("POST", "/auth/signup", {"username": "BOBO", "password": "quiet lantern ferry"})[0] == 409
    assert stack.http("POST", "/auth/signup", {"username": "bobby", "password": "quiet lantern ferry"})[0] == 201


def test_the_skeleton_is_a_unique_index_and_old_users_get_one(stack):
    from parley.adapters import mongo_migrate
    from parley.model import utcnow

    db = stack.modules["AuthFunction"].db
    signup(stack, "carol")
    info = db.users.index_information()["username_skeleton_unique"]
    assert info["unique"] and info["key"] == [("usernameSkeleton", 1)]
    # two users stored before skeletons existed, one a look-alike of the other: the index still builds,
    # the older gets the skeleton and a new look-alike is refused
    db.users.insert_many([
        {"_id": "old1", "username": "dave", "usernameKey": "dave", "passwordHash": "x", "createdAt": utcnow()},
        {"_id": "old2", "username": "DAVE.", "usernameKey": "dave.", "passwordHash": "x", "createdAt": utcnow()},
    ])
    mongo_migrate.migrate(db)  # the next deploy's migration
    assert db.users.find_one({"_id": "old1"})["usernameSkeleton"] == "dave"
    assert stack.http("POST", "/auth/signup", {"username": "d-a-v-e", "password": "quiet lantern ferry"})[0] == 201
    assert stack.http("POST", "/auth/signup", {"username": "Dave-", "password": "quiet lantern ferry"})[0] == 409


# ---------------------------------------------------------------- 3. tokens on open sockets (handlers)
def _socket_of(stack, session, exp_offset=3600):
    claims = jwt.decode(session["token"], SECRET, algorithms=["HS256"], issuer="parley")
    policy = authorize(stack, session["token"])
    assert policy["context"]["sessionId"] == claims["sid"] and policy["context"]["tokenExp"] == str(claims["exp"])
    context = {"sessionId": claims["sid"], "tokenExp": str(int(time.time()) + exp_offset)}
    return stack.connect(session["user"]["username"], session["user"]["id"], context)


def test_a_frame_on_an_expired_token_gets_session_ended_and_the_connection_is_closed(stack):
    session = signup(stack)
    ws = _socket_of(stack, session, exp_offset=-1)
    for frame in ({"action": "ping"}, {"action": "history", "room": "general"}, {"action": "join", "room": "general"}):
        ws.send(frame)
        assert ws.frames()[-1]["code"] == "session_ended"
    assert not ws.frames("pong") and not ws.frames("history") and not ws.frames("joined")
    assert stack.api.closed.count(ws.connection_id) == 3


def test_ending_a_session_marks_and_closes_its_sockets_and_their_next_frame_is_refused(stack):
    first = signup(stack)
    second = login(stack)[1]
    a, b = _socket_of(stack, first), _socket_of(stack, second)
    for ws in (a, b):
        ws.send({"action": "join", "room": "general"})
    assert stack.http("POST", "/auth/logout", token=first["token"])[0] == 204
    assert stack.api.closed == [a.connection_id]  # only this session's socket
    # were the close lost, the record's mark still refuses the frames that read it (no extra read)
    a.send({"action": "sendMessage", "room": "general", "text": "after logout"})
    assert a.frames()[-1]["code"] == "session_ended" and not b.frames("message")
    b.send({"action": "sendMessage", "room": "general", "text": "still here"})
    assert b.last("message")["message"]["text"] == "still here"
    assert stack.http("POST", "/auth/logout-all", token=second["token"])[0] == 204
    assert b.connection_id in stack.api.closed
    b.send({"action": "join", "room": "other"})
    assert b.frames()[-1]["code"] == "session_ended"


def test_a_password_change_closes_the_other_sessions_sockets(stack):
    mine, other = signup(stack), login(stack)[1]
    a, b = _socket_of(stack, mine), _socket_of(stack, other)
    change = {"currentPassword": STRONG, "newPassword": "velvet otter climbs 9 hills"}
    assert stack.http("POST", "/auth/password", change, token=mine["token"])[0] == 204
    assert stack.api.closed == [b.connection_id]
    a.send({"action": "ping"})
    assert a.last("pong")


def test_guessing_the_current_password_with_a_stolen_token_is_throttled(stack):
    token = signup(stack)["token"]
    guess = {"currentPassword": "a guess at it", "newPassword": "velvet otter climbs 9 hills"}
    statuses = [stack.http("POST", "/auth/password", guess, token=token, source_ip="203.0.113.5")[0] for _ in range(7)]
    assert statuses[:5] == [403] * 5 and statuses[-1] == 429
    right = {**guess, "currentPassword": STRONG}
    status, _, headers = stack.http("POST", "/auth/password", right, token=token, source_ip="203.0.113.5")
    assert status == 429 and int(headers["retry-after"]) >= 1


# ---------------------------------------------------------------- 4. the browser's sign-in (issue 23)
API_ORIGIN = "https://abc123.execute-api.us-east-1.amazonaws.com"  # the captured event's host


def session_cookie(headers) -> str:
    """The ``name=value`` of the session cookie a reply set."""
    (set_cookie,) = [c for c in headers.get("set-cookie", []) if "parley-session=" in c]
    return set_cookie.split(";")[0]


def resume(stack, cookie: str | None, *, content_type="application/json", **extra: str):
    """POST /auth/session as the page sends it (a JSON body, its own Origin), with the browser's cookie."""
    import json

    from tests.support import http_event

    headers = {"origin": API_ORIGIN, "sec-fetch-site": "same-origin", **extra}
    if content_type:
        headers["content-type"] = content_type
    event = http_event("POST", "/auth/session", headers={k: v for k, v in headers.items() if v}, body="{}")
    if cookie:
        event["cookies"] = [cookie]
    reply = stack.invoke("AuthFunction", event)
    body = json.loads(reply["body"]) if reply.get("body") else None
    return reply["statusCode"], body, {**reply.get("headers", {}), "set-cookie": reply.get("cookies") or []}


def test_the_session_cookie_is_httponly_strict_secure_and_only_for_the_session_route(stack):
    first = stack.http("POST", "/auth/signup", {"username": "alice", "password": STRONG})
    for status, _, headers in (first, login(stack, ip=HOME)):
        assert status in (200, 201)
        (set_cookie,) = [c for c in headers["set-cookie"] if "parley-session=" in c]
        attributes = {a.strip().split("=")[0].lower(): a.strip() for a in set_cookie.split(";")[1:]}
        assert set_cookie.startswith("__Secure-parley-session=")
        assert {"httponly", "secure", "samesite", "path", "max-age"} <= set(attributes)
        assert attributes["samesite"].lower() == "samesite=strict" and attributes["path"] == "Path=/auth/session"
        assert attributes["max-age"] == f"Max-Age={30 * 86400}" and "domain" not in attributes
        assert "parley-session" not in json_text(first[1])  # never in the body, where a script could read it
    assert login(stack, password=WRONG, ip=HOME)[2].get("set-cookie") is None


def json_text(body) -> str:
    import json

    return json.dumps(body)


def test_the_session_cookie_gets_a_new_token_of_the_same_session(stack):
    signup(stack)
    _, body, headers = login(stack, ip=HOME)
    cookie = session_cookie(headers)
    status, resumed, again = resume(stack, cookie)
    assert status == 200 and resumed["user"] == body["user"], resumed
    sid = jwt.decode(body["token"], SECRET, algorithms=["HS256"], issuer="parley")["sid"]
    assert jwt.decode(resumed["token"], SECRET, algorithms=["HS256"], issuer="parley")["sid"] == sid
    assert stack.http("GET", "/auth/me", token=resumed["token"])[0] == 200 and allowed(stack, resumed["token"])
    assert session_cookie(again).split("=", 1)[0] == cookie.split("=", 1)[0]  # re-issued: a sliding lifetime
    assert resume(stack, session_cookie(again))[0] == 200  # the re-issued one works…
    assert resume(stack, cookie)[0] == 200  # …and so does the old one: two tabs starting at once never race
    assert stack.http("GET", "/auth/me", token=body["token"])[0] == 200  # nor does a tab's token end another's


def test_no_forged_or_missing_session_cookie_signs_in(stack):
    signup(stack)
    signup(stack, name="bob")
    cookie = session_cookie(login(stack, ip=HOME)[2])
    name, value = cookie.split("=", 1)
    user_id, sid, expires, signature = value.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    bob_id = stack.http("POST", "/auth/login", {"username": "bob", "password": STRONG})[1]["user"]["id"]
    for forged in (
        None,
        f"{name}={user_id}.{sid}.{expires}.{flipped}",
        f"{name}={user_id}.{sid}.{int(expires) + 1}.{signature}",
        f"{name}={bob_id}.{sid}.{expires}.{signature}",  # alice's signature on bob's id
        f"{name}={user_id}.{sid}.{expires}",
        f"parley-session={value}",  # the plain-HTTP name, over HTTPS
    ):
        status, body, headers = resume(stack, forged)
        assert status == 401 and body["detail"] == "not signed in; log in", forged
    assert resume(stack, cookie)[0] == 200  # the control


def test_the_session_route_refuses_what_a_cross_site_request_could_send(stack):
    signup(stack)
    cookie = session_cookie(login(stack, ip=HOME)[2])
    assert resume(stack, cookie, content_type="text/plain")[0] == 415  # a cross-site form's kind of body
    assert resume(stack, cookie, content_type="application/x-www-form-urlencoded")[0] == 415
    assert resume(stack, cookie, content_type="")[0] == 415
    # a browser that sends no Sec-Fetch-Site is held to its Origin
    assert resume(stack, cookie, origin="https://evil.example", **{"sec-fetch-site": ""})[0] == 403
    assert resume(stack, cookie, origin="http://abc123.execute-api.us-east-1.amazonaws.com", **{"sec-fetch-site": ""})[0] == 403
    assert resume(stack, cookie, origin="https://evil.example", **{"sec-fetch-site": "cross-site"})[0] == 403
    assert resume(stack, cookie, **{"sec-fetch-site": "cross-site"})[0] == 403
    # behind CloudFront the page's origin is the distribution's and Host the API's: the browser's same-origin rules
    assert resume(stack, cookie, origin="https://d111111abcdef8.cloudfront.net")[0] == 200
    assert resume(stack, cookie, **{"sec-fetch-site": "same-site"})[0] == 403
    assert resume(stack, cookie, origin="", **{"sec-fetch-site": ""})[0] == 200  # a program, not a browser
    assert resume(stack, cookie)[0] == 200


def test_log_out_log_out_everywhere_and_a_password_change_end_the_session_cookie(stack):
    signup(stack)
    status, body, headers = login(stack, ip=HOME)
    cookie = session_cookie(headers)
    status, _, headers = stack.http("POST", "/auth/logout", token=body["token"], cookies=[cookie])
    assert status == 204
    (cleared,) = [c for c in headers["set-cookie"] if "parley-session=" in c]
    assert "Max-Age=0" in cleared and "Path=/auth/session" in cleared
    status, _, headers = resume(stack, cookie)  # a copy kept from before the log-out is worth nothing
    assert status == 401 and any("parley-session=" in c for c in headers["set-cookie"])  # and is dropped

    body, headers = login(stack, ip=HOME)[1:]
    cookie, other = session_cookie(headers), session_cookie(login(stack, ip=HOME)[2])
    assert stack.http("POST", "/auth/logout-all", token=body["token"])[0] == 204
    assert resume(stack, cookie)[0] == 401 and resume(stack, other)[0] == 401

    mine, theirs = (login(stack, ip=HOME) for _ in range(2))
    change = {"currentPassword": STRONG, "newPassword": "velvet otter climbs 9 hills"}
    assert stack.http("POST", "/auth/password", change, token=mine[1]["token"])[0] == 204
    assert resume(stack, session_cookie(mine[2]))[0] == 200  # this browser stays signed in
    assert resume(stack, session_cookie(theirs[2]))[0] == 401  # the other one does not


def test_a_session_with_a_cookie_outlives_its_tokens_and_renewal_never_shortens_it(stack):
    from datetime import timedelta

    from parley.model import utcnow

    signup(stack)
    status, body, headers = login(stack, ip=HOME)
    sid = jwt.decode(body["token"], SECRET, algorithms=["HS256"], issuer="parley")["sid"]
    users = stack.modules["AuthFunction"].db.users

    def lives_until():
        (entry,) = [s for s in users.find_one({"username": "alice"})["sessions"] if s["id"] == sid]
        expires = entry["expiresAt"]
        return expires if expires.tzinfo else expires.replace(tzinfo=utcnow().tzinfo)

    assert lives_until() > utcnow() + timedelta(days=29)
    assert stack.http("POST", "/auth/refresh", token=body["token"])[0] == 200
    assert lives_until() > utcnow() + timedelta(days=29)  # a 12-hour token's renewal did not cut it short
    # another log-in drops expired sessions: this one is not expired although its first token will be
    login(stack, ip=HOME)
    assert resume(stack, session_cookie(headers))[0] == 200
