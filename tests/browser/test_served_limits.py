"""The page enforces the limits /config.json serves, not copies of its own: a page whose /config.json says
otherwise (rewritten on its way to the browser) checks, states and uses the other values.

The server's side (it serves the limits it validates with) is tests/test_client_limits.py.
"""

from __future__ import annotations

import json
import time
import uuid

from playwright.sync_api import Route, expect

from tests.browser.pagekit import PASSWORD, ChatPage, Stack

# Stricter than the server's, so that anything the page still hard-codes lets through what these refuse.
SERVED = {
    "username": {"minLength": 4, "maxLength": 7, "pattern": "^[A-Za-z0-9_.-]{4,7}$"},
    "password": {"minLength": 22, "maxLength": 40},
    "displayName": {"maxLength": 5},
    "room": {"maxLength": 8, "pattern": "^[a-z0-9][a-z0-9_-]{0,7}$", "directPattern": "^dm-[a-z0-9]{1,64}-[a-z0-9]{1,64}$"},
    "text": {"maxLength": 10},
    "history": {"pageSize": 3, "maxPageSize": 7},
    "roomsPerConnection": 2,
    "typing": {"intervalMs": 1000, "expiresMs": 2000},
}


def _rewrite_config(route: Route) -> None:
    reply = route.fetch()
    config = reply.json()
    for key, value in SERVED.items():
        config["limits"][key] = value
    route.fulfill(response=reply, body=json.dumps(config))


def _open(open_page) -> tuple[ChatPage, list[dict]]:
    chat = open_page()
    chat.page.route("**/config.json", _rewrite_config)
    sent: list[dict] = []
    chat.page.on(
        "websocket",
        lambda ws: ws.on("framesent", lambda p: sent.append(json.loads(p)) if isinstance(p, str) else None),
    )
    return chat, sent


def test_the_sign_up_form_checks_and_states_the_served_limits(stack: Stack, open_page) -> None:
    chat, _ = _open(open_page)
    chat.page.goto(stack.url)
    expect(chat.tid("auth-view")).to_be_visible()
    expect(chat.page.locator("#auth-username-hint")).to_have_text(
        "4–7 letters a–z without accents, digits, _ . or -: names in any script could be faked with look-alike"
        " letters, and people type them to find you. Your display name below can be in any script."
    )
    expect(chat.tid("auth-display-name-hint")).to_contain_text("up to 5 characters")
    expect(chat.page.locator("#auth-password-hint")).to_have_text("At least 22 characters")
    expect(chat.tid("auth-username")).to_have_attribute("maxlength", "7")
    expect(chat.tid("auth-password")).to_have_attribute("minlength", "22")

    name = "u" + uuid.uuid4().hex[:6]  # 7 characters: the served maximum
    chat.tid("auth-username").fill(name + "x")
    expect(chat.tid("auth-username")).to_have_value(name)  # typing stops at the served maxlength
    # 8 characters, which the server would take and the served limit does not (set as a script could)
    chat.tid("auth-username").evaluate("(el, value) => { el.value = value; }", name + "x")
    chat.tid("auth-password").fill(PASSWORD)
    chat.tid("auth-signup").click()
    expect(chat.tid("auth-username-error")).to_have_text(
        "Use 4–7 characters: letters a–z without accents, digits, _ . or -"
    )

    chat.tid("auth-username").fill(name)
    chat.tid("auth-password").fill(PASSWORD[:21])  # 21: enough for the server, not for the served 22
    chat.tid("auth-signup").click()
    expect(chat.tid("auth-password-error")).to_have_text("Passwords are 22–40 characters long.")
    expect(chat.tid("chat-view")).to_be_hidden()

    chat.tid("auth-password").fill(PASSWORD + "!")  # 22
    chat.tid("auth-display-name").fill("日本語のなまえ")  # 7 code points: the server's 64 take it, the served 5 do not
    chat.tid("auth-signup").click()
    expect(chat.tid("auth-display-name-error")).to_have_text("Display names are 1–5 characters, in any script.")
    expect(chat.tid("chat-view")).to_be_hidden()
    chat.tid("auth-display-name").fill("👩\u200d💻 Z")  # 5 code points (7 UTF-16 units): taken
    chat.tid("auth-signup").click()
    chat.wait_online()
    expect(chat.tid("current-user")).to_contain_text("👩\u200d💻 Z")


def test_the_chat_uses_the_served_text_room_history_and_typing_limits(stack: Stack, open_page) -> None:
    chat, sent = _open(open_page)
    chat.page.goto(stack.url)
    chat.tid("auth-username").fill("u" + uuid.uuid4().hex[:6])
    chat.tid("auth-password").fill(PASSWORD + "!")
    chat.tid("auth-signup").click()
    chat.wait_online()

    # history: the latest page is asked for with the served page size
    deadline = time.monotonic() + 10
    while not any(f.get("action") == "history" for f in sent) and time.monotonic() < deadline:
        chat.page.wait_for_timeout(50)
    history = [f for f in sent if f.get("action") == "history"]
    assert history and history[0]["limit"] == 3, history

    # text: at most 10 characters, shown and refused, never cut (no maxlength: the text is kept)
    box = chat.tid("composer-input")
    assert box.get_attribute("maxlength") is None
    box.fill("y" * 11)
    expect(box).to_have_value("y" * 11)
    expect(chat.tid("composer-count")).to_have_text("11 / 10 — too long")
    box.press("Enter")
    expect(chat.tid("notice")).to_have_text("Messages are at most 10 characters (this one has 11): shorten it to send.")
    expect(box).to_have_value("y" * 11)
    assert not [f for f in sent if f.get("action") == "sendMessage"]
    box.press("Backspace")
    expect(chat.tid("composer-count")).to_have_text("10 / 10")
    box.press("Enter")
    expect(chat.messages("y" * 10).and_(chat.page.locator('[data-status="sent"]'))).to_have_count(1)

    # typing: repeated every served interval (1 s) while keys are pressed, not every 3 s
    count = len([f for f in sent if f.get("action") == "typing" and f.get("isTyping") is True])
    started = time.monotonic()
    box.press("a")
    while time.monotonic() - started < 3.5:  # keys that change the text
        box.press("b")
        chat.page.wait_for_timeout(50)
        box.press("Backspace")
        chat.page.wait_for_timeout(50)
    typing = [f for f in sent if f.get("action") == "typing" and f.get("isTyping") is True][count:]
    assert len(typing) >= 3, typing  # at 0, 1, 2 and 3 s (every 3 s would be twice)

    # room names: at most 8 characters; at most 2 rooms
    join = chat.tid("join-room-input")
    expect(join).to_have_attribute("maxlength", "8")
    join.evaluate("(el) => { el.value = 'ninechars'; }")
    join.press("Enter")
    expect(chat.tid("join-error")).to_have_text(
        "Room names are 1–8 characters of a–z, 0–9, _ or -, starting with a letter or digit."
    )
    join.fill("second")
    join.press("Enter")
    expect(chat.tid("room-title")).to_have_text("#second")
    join.fill("third")
    join.press("Enter")
    expect(chat.tid("join-error")).to_have_text("This page has 2 rooms open already: leave one first.")
