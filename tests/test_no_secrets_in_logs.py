"""A whole session's logs carry no token, password, message text or display name (user content too)."""

from __future__ import annotations

import logging

from parley.events import context_display_name
from tests.support import real_event


def test_logs_of_a_session_hold_no_secrets(stack, management_api, capsys, caplog):
    # Everything Parley logs, at its most verbose (libraries at INFO: botocore's DEBUG dumps request bodies,
    # which is why LOG_LEVEL only ever applies to Parley's own loggers).
    caplog.set_level(logging.INFO)
    for name in ("parley", "parley.chat", "parley.broadcast"):
        caplog.set_level(logging.DEBUG, logger=name)
    password = "pa55word-that-must-not-leak"
    text = "the-secret-plans-are-in-the-drawer"
    shown, renamed, refused_name = "Zoë Quokkafield", "日本 Wombatsworth", "Numbat\u202eevil"
    status, body, _ = stack.http("POST", "/auth/signup", {"username": "alice", "password": password,
                                                          "displayName": shown})
    assert status == 201
    token = body["token"]
    stack.http("POST", "/auth/login", {"username": "alice", "password": "wrong-" + password})
    cookies = stack.http("POST", "/auth/login", {"username": "alice", "password": password})[2]["set-cookie"]
    # name=value, sent back as a browser would, with a right and a wrong password
    (device,) = [c.split(";", 1)[0] for c in cookies if "parley-device=" in c]
    (signed_in,) = [c.split(";", 1)[0] for c in cookies if "parley-session=" in c]  # the browser's sign-in
    assert stack.http("POST", "/auth/session", {}, cookies=[signed_in])[0] == 200
    stack.http("POST", "/auth/session", {}, cookies=[signed_in + "tampered"])
    stack.http("POST", "/auth/login", {"username": "alice", "password": "wrong-" + password}, cookies=[device])
    stack.http("POST", "/auth/login", {"username": "alice", "password": password}, cookies=[device])
    stack.http("GET", "/auth/me", token=token)
    event = real_event("authorizer.json")
    event["queryStringParameters"] = {"token": token}
    context = stack.invoke("AuthorizerFunction", event)["context"]
    assert context["displayName"] == context_display_name(shown)
    assert stack.http("PATCH", "/auth/me", {"displayName": renamed}, token=token)[0] == 200
    assert stack.http("PATCH", "/auth/me", {"displayName": refused_name}, token=token)[0] == 422
    event["queryStringParameters"] = {"token": token}
    stack.invoke("AuthorizerFunction", event)
    event["queryStringParameters"] = {"token": token + "tampered"}
    stack.invoke("AuthorizerFunction", event)
    alice, bob = stack.connect("alice", context={"displayName": context_display_name(shown)}), stack.connect("bob")
    for c in (alice, bob):
        c.send({"action": "join", "room": "general"})
    alice.send({"action": "sendMessage", "room": "general", "text": text, "clientMsgId": "c1"})
    alice.send({"action": "sendMessage", "room": "nope", "text": text})  # refused: logged, but not its text
    management_api.gone.add(bob.connection_id)
    alice.send({"action": "sendMessage", "room": "general", "text": text + "-2"})
    alice.disconnect()
    assert bob.frames("message") and alice.frames("error")  # the session really happened
    # the session routes: renewal, refused and accepted password changes, a frame after the end, log-outs
    renewed = stack.http("POST", "/auth/refresh", token=token)[1]["token"]
    new_password = "an0ther-pa55phrase-that-must-not-leak"
    stack.http("POST", "/auth/password", {"currentPassword": "wrong-" + password, "newPassword": new_password},
               token=renewed)
    stack.http("POST", "/auth/password", {"currentPassword": password, "newPassword": "password123"}, token=renewed)
    assert stack.http("POST", "/auth/password", {"currentPassword": password, "newPassword": new_password},
                      token=renewed)[0] == 204
    other = stack.http("POST", "/auth/login", {"username": "alice", "password": new_password})[1]["token"]
    assert stack.http("POST", "/auth/logout", token=renewed)[0] == 204
    stack.http("GET", "/auth/me", token=renewed)
    assert stack.http("POST", "/auth/logout-all", token=other)[0] == 204

    out = capsys.readouterr()
    logs = out.out + out.err + caplog.text
    assert "alice" in logs or "connection" in logs  # something was logged
    device_value = device.split("=", 1)[1]
    session_value = signed_in.split("=", 1)[1]
    for secret in ("Quokkafield", "Wombatsworth", "Numbat", password, new_password, "password123", token, token.split(".")[2], renewed, other, text,
                   device_value, device_value.split(".")[2], device_value.split(".")[3],  # the cookie, its nonce, its MAC
                   session_value, session_value.split(".")[3]):  # the session cookie and its MAC
        assert secret not in logs
