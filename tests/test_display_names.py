"""Display names in any script (issue 23): set at sign-up and with PATCH /auth/me, NFC-normalized and trimmed,
1-64 code points, no control, bidi or other invisible format characters; a refusal is a 422 that names the field
and the rule and never repeats the value. They reach every frame that names a user, through the authorizer's
context and the records that copy a user (docs/protocol.md, "Display names")."""

from __future__ import annotations

import json
import unicodedata

import pytest

from tests.support import LambdaContext, authorizer_event, load_function

PASSWORD = "correct horse battery"


def signup(stack, username: str, display_name: object = None, *, send_key: bool = True):
    body = {"username": username, "password": PASSWORD}
    if send_key:
        body["displayName"] = display_name
    return stack.http("POST", "/auth/signup", body)


def signed_up(stack, username: str, display_name: str | None = None) -> dict:
    status, body, _ = signup(stack, username, display_name, send_key=display_name is not None)
    assert status == 201, body
    return body


def connect_as(stack, session: dict):
    """A WebSocket connection opened the way API Gateway opens it: the real authorizer reads the token, and its
    context (display name included) is what every event of the connection carries."""
    handler, _ = load_function(stack.template, "AuthorizerFunction")
    policy = handler(authorizer_event(token=session["token"]), LambdaContext("AuthorizerFunction"))
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    # only ASCII crosses API Gateway: the display name is percent-encoded (parley.events.context_display_name)
    assert all(str(v).isascii() for v in policy["context"].values()), policy["context"]
    context = {k: v for k, v in policy["context"].items() if k not in ("userId", "username")}
    return stack.connect(session["user"]["username"], user_id=session["user"]["id"], context=context)


# ---------------------------------------------------------------- accepted, normalized
@pytest.mark.parametrize(("typed", "stored"), [
    ("zoë", "zoë"),
    ("zoe\u0308", "zoë"),  # decomposed: stored composed (NFC)
    ("José", "José"),
    ("Jose\u0301", "José"),
    ("日本", "日本"),
    ("Mary Jane", "Mary Jane"),
    ("  Mary Jane \u3000", "Mary Jane"),  # trimmed, the ideographic space too
    ("Ольга", "Ольга"),
    ("محمد", "محمد"),  # right-to-left text itself is fine; only the controls that reorder it are refused
    ("می\u200cخواهم", "می\u200cخواهم"),  # Persian needs the zero-width non-joiner
    ("👩\u200d💻 dev", "👩\u200d💻 dev"),  # an emoji ZWJ sequence
    ("x", "x"),
])
def test_a_display_name_in_any_script_is_stored_nfc_normalized_and_trimmed(stack, typed, stored):
    session = signed_up(stack, "alice", typed)
    assert session["user"] == {"id": session["user"]["id"], "username": "alice", "displayName": stored}
    assert unicodedata.is_normalized("NFC", session["user"]["displayName"])
    status, me, _ = stack.http("GET", "/auth/me", token=session["token"])
    assert status == 200 and me["displayName"] == stored
    status, again, _ = stack.http("POST", "/auth/login", {"username": "alice", "password": PASSWORD})
    assert status == 200 and again["user"]["displayName"] == stored
    status, renewed, _ = stack.http("POST", "/auth/refresh", token=session["token"])
    assert status == 200 and renewed["user"]["displayName"] == stored


def test_without_a_display_name_the_key_is_absent_not_null(stack):
    for body in ({"username": "bob", "password": PASSWORD}, {"username": "carol", "password": PASSWORD, "displayName": None}):
        status, session, _ = stack.http("POST", "/auth/signup", body)
        assert status == 201 and set(session["user"]) == {"id", "username"}, session
        assert set(stack.http("GET", "/auth/me", token=session["token"])[1]) == {"id", "username"}


def test_64_code_points_are_accepted_and_65_refused(stack):
    assert signed_up(stack, "cjk", "日" * 64)["user"]["displayName"] == "日" * 64
    # 128 code points as typed, 64 once composed: the limit counts the stored (NFC) name
    assert signed_up(stack, "composed", "e\u0301" * 64)["user"]["displayName"] == "é" * 64
    assert signed_up(stack, "padded", "  " + "a" * 64 + "  ")["user"]["displayName"] == "a" * 64
    for too_long in ("日" * 65, "e\u0301" * 65, "a" * 65, "a" * 100_000):
        status, reply, _ = signup(stack, "someone", too_long)
        assert status == 422, reply
        (error,) = reply["detail"]
        assert error["loc"] == ["body", "displayName"] and "at most 64 characters" in error["msg"], error


# ---------------------------------------------------------------- refused, with a 422 that repeats nothing
SENTINEL = "Quokka"  # part of every refused value: the reply must not contain it
REFUSED = {
    "empty": ("", "empty or only spaces"),
    "only spaces": ("   ", "empty or only spaces"),
    "only an ideographic space": ("\u3000", "empty or only spaces"),
    "NUL": (SENTINEL + "\x00", "control characters"),
    "newline": (SENTINEL + "\nx", "control characters"),
    "tab": (SENTINEL + "\tx", "control characters"),
    "DEL": (SENTINEL + "\x7fx", "control characters"),
    "C1 control (NEL)": (SENTINEL + "\x85x", "control characters"),
    "line separator": (SENTINEL + "\u2028x", "line breaks"),
    "paragraph separator": (SENTINEL + "\u2029x", "line breaks"),
    "right-to-left override": (SENTINEL + "\u202egnp.exe", "bidi controls"),
    "left-to-right embedding": (SENTINEL + "\u202ax", "bidi controls"),
    "pop directional formatting": (SENTINEL + "\u202cx", "bidi controls"),
    "first strong isolate": (SENTINEL + "\u2068x", "bidi controls"),
    "pop directional isolate": (SENTINEL + "\u2069x", "bidi controls"),
    "left-to-right isolate": ("\u2066" + SENTINEL, "bidi controls"),
    "right-to-left mark": (SENTINEL + "\u200f", "bidi controls"),
    "arabic letter mark": (SENTINEL + "\u061cx", "bidi controls"),
    "zero-width space": (SENTINEL + "\u200bx", "zero-width"),
    "word joiner": (SENTINEL + "\u2060x", "zero-width"),
    "byte-order mark": ("\ufeff" + SENTINEL, "zero-width"),
    "soft hyphen": (SENTINEL + "\u00adx", "invisible format"),
    "tag characters": (SENTINEL + "\U000e0041\U000e0042", "invisible format"),
    "leading zero-width joiner": ("\u200d" + SENTINEL, "joiner"),
    "trailing zero-width non-joiner": (SENTINEL + "\u200c", "joiner"),
    "two joiners in a row": (SENTINEL[:3] + "\u200d\u200d" + SENTINEL[3:], "joiner"),
    "only a Hangul filler": ("\u3164", "visible character"),
    "only blank Braille": ("\u2800\u2800", "visible character"),
    "only combining marks": ("\u0301\u0301", "visible character"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("route", ["signup", "patch"])
def test_each_refused_class_is_a_422_naming_the_field_and_the_rule_never_the_value(stack, case, route):
    value, rule = REFUSED[case]
    if route == "signup":
        status, reply, _ = signup(stack, "mallory", value)
    else:
        token = signed_up(stack, "mallory")["token"]
        status, reply, _ = stack.http("PATCH", "/auth/me", {"displayName": value}, token=token)
    assert status == 422, reply
    (error,) = reply["detail"]
    assert error["loc"] == ["body", "displayName"] and error["type"] == "display_name", error
    assert rule in error["msg"], error
    text = json.dumps(reply, ensure_ascii=False)
    assert SENTINEL not in text and "input" not in text and "ctx" not in text
    if route == "signup":  # nothing was created
        assert stack.http("POST", "/auth/login", {"username": "mallory", "password": PASSWORD})[0] == 401


@pytest.mark.parametrize("value", [5, True, ["zoë"], {"name": "zoë"}, "\ud800" + SENTINEL])
def test_a_display_name_that_is_not_text_is_a_422(stack, value):
    status, reply, _ = signup(stack, "mallory", value)
    assert status == 422, reply
    assert all(e["loc"] == ["body", "displayName"] for e in reply["detail"]), reply
    assert SENTINEL not in json.dumps(reply, ensure_ascii=False)


def test_the_position_of_a_refused_character_is_told(stack):
    status, reply, _ = signup(stack, "mallory", "ab\u202ecd")
    assert status == 422 and "character 3" in reply["detail"][0]["msg"], reply


# ---------------------------------------------------------------- PATCH /auth/me
def test_patch_me_sets_changes_and_clears_the_display_name(stack):
    session = signed_up(stack, "zed")
    token = session["token"]
    status, me, _ = stack.http("PATCH", "/auth/me", {"displayName": "  Zoe\u0308 "}, token=token)
    assert status == 200 and me == {"id": session["user"]["id"], "username": "zed", "displayName": "Zoë"}
    assert stack.http("GET", "/auth/me", token=token)[1]["displayName"] == "Zoë"
    status, me, _ = stack.http("PATCH", "/auth/me", {"displayName": "日本"}, token=token)
    assert status == 200 and me["displayName"] == "日本"
    status, me, _ = stack.http("PATCH", "/auth/me", {"displayName": None}, token=token)
    assert status == 200 and me == {"id": session["user"]["id"], "username": "zed"}
    assert "displayName" not in stack.http("GET", "/auth/me", token=token)[1]


def test_patch_me_needs_a_token_and_the_field(stack):
    token = signed_up(stack, "zed")["token"]
    status, _, headers = stack.http("PATCH", "/auth/me", {"displayName": "Zoë"})
    assert status == 401 and headers.get("www-authenticate") == "Bearer"
    assert stack.http("PATCH", "/auth/me", {"displayName": "Zoë"}, token="not-a-jwt")[0] == 401
    status, reply, _ = stack.http("PATCH", "/auth/me", {}, token=token)
    assert status == 422 and reply["detail"][0]["loc"] == ["body", "displayName"]
    stack.http("POST", "/auth/logout", token=token)
    assert stack.http("PATCH", "/auth/me", {"displayName": "Zoë"}, token=token)[0] == 401  # an ended session


def test_the_user_name_rules_are_unchanged(stack):
    """zoë stays refused as a user name (ASCII and the look-alike rules); it is a display name."""
    status, reply, _ = stack.http("POST", "/auth/signup", {"username": "zoë", "password": PASSWORD})
    assert status == 422 and reply["detail"][0]["loc"] == ["body", "username"]
    signed_up(stack, "zoe", "zoë")
    status, _, _ = stack.http("POST", "/auth/signup", {"username": "Zoe", "password": PASSWORD, "displayName": "other"})
    assert status == 409


# ---------------------------------------------------------------- the frames
def test_the_display_name_reaches_messages_presence_typing_and_members(stack):
    zoe = signed_up(stack, "zoe", "zoë")
    bob = signed_up(stack, "bob")
    z, b = connect_as(stack, zoe), connect_as(stack, bob)
    b.send({"action": "join", "room": "general"})
    z.send({"action": "join", "room": "general"})
    zoe_ref = {"id": zoe["user"]["id"], "username": "zoe", "displayName": "zoë"}
    bob_ref = {"id": bob["user"]["id"], "username": "bob"}
    presence = b.last("presence")
    assert presence["user"] == zoe_ref and presence["status"] == "online"
    assert zoe_ref in z.last("joined")["users"] and bob_ref in z.last("joined")["users"]
    z.send({"action": "sendMessage", "room": "general", "text": "hello", "clientMsgId": "m1"})
    assert b.last("message")["message"]["user"] == zoe_ref
    z.send({"action": "typing", "room": "general", "isTyping": True})
    assert b.last("typing")["user"] == zoe_ref
    status, page, _ = stack.http("GET", "/rooms/general/messages", token=bob["token"])
    assert status == 200 and page["messages"][-1]["user"] == zoe_ref
    status, online, _ = stack.http("GET", "/rooms/general/presence", token=bob["token"])
    assert zoe_ref in online["users"] and bob_ref in online["users"]
    status, members, _ = stack.http("GET", "/rooms/general/members", token=bob["token"])
    assert status == 200 and zoe_ref in members["members"] and bob_ref in members["members"]


def test_reactions_replies_mentions_and_private_rooms_carry_it(stack):
    zoe = signed_up(stack, "zoe", "zoë")
    bob = signed_up(stack, "bob", "Bob B.")
    z, b = connect_as(stack, zoe), connect_as(stack, bob)
    z.send({"action": "createRoom", "room": "tea", "kind": "private"})
    created = z.last("roomCreated")
    assert created["owner"]["displayName"] == "zoë" and created["members"][0]["displayName"] == "zoë"
    z.send({"action": "addMember", "room": "tea", "username": "bob"})
    assert b.last("added")["owner"]["displayName"] == "zoë"
    assert z.last("memberAdded")["user"] == {"id": bob["user"]["id"], "username": "bob", "displayName": "Bob B."}
    b.send({"action": "sendMessage", "room": "tea", "text": "hi @zoe", "mentions": [zoe["user"]["id"]]})
    first = z.last("message")["message"]
    assert first["user"]["displayName"] == "Bob B." and first["mentions"][0]["displayName"] == "zoë"
    z.send({"action": "react", "room": "tea", "id": first["id"], "emoji": "👍"})
    assert b.last("messageUpdated")["message"]["reactions"][0]["users"][0]["displayName"] == "zoë"
    z.send({"action": "sendMessage", "room": "tea", "text": "yes", "replyTo": first["id"]})
    assert b.last("message")["message"]["replyTo"]["user"]["displayName"] == "Bob B."


def test_a_change_shows_in_member_lists_at_once_and_on_the_next_connection_elsewhere(stack):
    """docs/protocol.md: the account and the memberships change at once; a connection keeps the name it was opened
    with (so an old message keeps the name it was sent with), and the next connection carries the new one."""
    zoe = signed_up(stack, "zoe", "zoë")
    bob = signed_up(stack, "bob")
    z, b = connect_as(stack, zoe), connect_as(stack, bob)
    for c in (b, z):
        c.send({"action": "join", "room": "general"})
    z.send({"action": "sendMessage", "room": "general", "text": "before"})
    status, _, _ = stack.http("PATCH", "/auth/me", {"displayName": "Zoë Z."}, token=zoe["token"])
    assert status == 200
    members = stack.http("GET", "/rooms/general/members", token=bob["token"])[1]["members"]
    assert {"id": zoe["user"]["id"], "username": "zoe", "displayName": "Zoë Z."} in members
    z.send({"action": "sendMessage", "room": "general", "text": "same connection"})
    assert b.last("message")["message"]["user"]["displayName"] == "zoë"
    z.disconnect()
    z2 = connect_as(stack, zoe)
    z2.send({"action": "join", "room": "general"})
    assert b.last("presence")["user"]["displayName"] == "Zoë Z."
    z2.send({"action": "sendMessage", "room": "general", "text": "after"})
    assert b.last("message")["message"]["user"]["displayName"] == "Zoë Z."
    history = stack.http("GET", "/rooms/general/messages", token=bob["token"])[1]["messages"]
    assert [(m["text"], m["user"]["displayName"]) for m in history] == [
        ("before", "zoë"), ("same connection", "zoë"), ("after", "Zoë Z.")]
    stack.http("PATCH", "/auth/me", {"displayName": None}, token=zoe["token"])
    members = stack.http("GET", "/rooms/general/members", token=bob["token"])[1]["members"]
    assert {"id": zoe["user"]["id"], "username": "zoe"} in members


def test_a_display_name_never_comes_from_a_frame(stack):
    """Identity comes from the authorizer context or the stored connection: a displayName in a frame is refused
    or ignored, never shown."""
    bob = signed_up(stack, "bob")
    zoe = signed_up(stack, "zoe", "zoë")
    b, z = connect_as(stack, bob), connect_as(stack, zoe)
    for c in (b, z):
        c.send({"action": "join", "room": "general"})
    b.send({"action": "sendMessage", "room": "general", "text": "hi", "displayName": "Admin",
            "user": {"id": zoe["user"]["id"], "username": "zoe", "displayName": "Admin"}})
    for frame in z.frames("message"):
        assert frame["message"]["user"] == {"id": bob["user"]["id"], "username": "bob"}


def test_the_stored_connection_carries_it_when_the_context_does_not(stack):
    """$disconnect and the events API Gateway sends without the authorizer's context read the stored record."""
    zoe = signed_up(stack, "zoe", "zoë")
    bob = signed_up(stack, "bob")
    z, b = connect_as(stack, zoe), connect_as(stack, bob)
    for c in (b, z):
        c.send({"action": "join", "room": "general"})
    z.context = {}
    z.user_id, z.username = "", ""  # no context at all: the handler reads the connection record
    z.disconnect()
    assert b.last("presence") == {"type": "presence", "room": "general", "status": "offline",
                                  "user": {"id": zoe["user"]["id"], "username": "zoe", "displayName": "zoë"}}


def test_a_new_connection_after_a_change_tells_the_room_while_the_old_one_is_still_open(stack):
    """The page reconnects after a change, new socket first (make before break): the room hears the new name at
    once, though the user never went offline; a second connection without a change says nothing."""
    zoe = signed_up(stack, "zoe", "zoë")
    bob = signed_up(stack, "bob")
    z, b = connect_as(stack, zoe), connect_as(stack, bob)
    for c in (b, z):
        c.send({"action": "join", "room": "general"})
    same = connect_as(stack, zoe)
    before = len(b.frames("presence"))
    same.send({"action": "join", "room": "general"})
    assert len(b.frames("presence")) == before  # nothing new to say
    assert stack.http("PATCH", "/auth/me", {"displayName": "Zoë Z."}, token=zoe["token"])[0] == 200
    renamed = connect_as(stack, zoe)
    renamed.send({"action": "join", "room": "general"})
    assert b.last("presence") == {"type": "presence", "room": "general", "status": "online",
                                  "user": {"id": zoe["user"]["id"], "username": "zoe", "displayName": "Zoë Z."}}
    online = stack.http("GET", "/rooms/general/presence", token=bob["token"])[1]["users"]
    assert {"id": zoe["user"]["id"], "username": "zoe", "displayName": "Zoë Z."} in online  # the newest wins
