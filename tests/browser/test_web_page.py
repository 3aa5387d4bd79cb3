"""The web page in a real browser (Debian's chromium through Playwright) against the whole local stack."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
from playwright.sync_api import WebSocketRoute, expect

from tests.browser.pagekit import PASSWORD, WS_URL, Stack, exactly_once, message_texts, unique


# ---------------------------------------------------------------- the page itself
def test_page_is_served_with_a_strict_csp_a_title_and_a_favicon(stack: Stack, open_page) -> None:
    page_reply = httpx.get(stack.url + "/")
    assert page_reply.status_code == 200
    csp = page_reply.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert f"ws://127.0.0.1:{stack.gateway.port}" in csp  # connect-src names the WebSocket endpoint
    icon = httpx.get(stack.url + "/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")

    chat = open_page()
    chat.page.goto(stack.url)
    expect(chat.page).to_have_title("Parley")
    expect(chat.tid("auth-view")).to_be_visible()
    icon_href = chat.page.locator('link[rel="icon"]').get_attribute("href")
    assert httpx.get(stack.url + icon_href).status_code == 200
    # No third-party scripts or styles: every script and stylesheet comes from the page's own origin.
    sources = chat.page.eval_on_selector_all(
        "script[src], link[rel=stylesheet]", "els => els.map(e => e.src || e.href)"
    )
    assert sources and all(s.startswith(stack.url + "/static/") for s in sources)


def test_sign_up_and_log_in_errors_show_next_to_the_form(stack: Stack, open_page) -> None:
    taken = unique("dora")
    stack.signup(taken)
    chat = open_page()
    chat.page.goto(stack.url)

    chat.tid("auth-username").fill("x!")
    chat.tid("auth-password").fill(PASSWORD)
    chat.tid("auth-signup").click()
    expect(chat.tid("auth-username-error")).to_contain_text("3–32 characters")

    chat.tid("auth-username").fill(taken)
    chat.tid("auth-signup").click()
    expect(chat.tid("auth-username-error")).to_contain_text("taken")

    chat.tid("auth-password").fill("not-the-password")
    chat.tid("auth-login").click()
    expect(chat.tid("auth-error")).to_have_text("Wrong username or password.")
    expect(chat.tid("auth-username-error")).to_be_empty()

    chat.tid("auth-password").fill(PASSWORD)
    chat.tid("auth-password").press("Enter")  # Enter submits the form as "Log in"
    chat.wait_online()
    expect(chat.tid("current-user")).to_contain_text(taken)


def test_log_out_forgets_the_token_and_closes_the_socket(pair) -> None:
    alice, bob = pair
    expect(bob.online(alice.username)).to_be_visible()
    alice.tid("logout").click()
    expect(alice.tid("auth-view")).to_be_visible()
    token = alice.session_token()
    assert token not in json.dumps(alice.context.storage_state())  # in no cookie, localStorage…
    assert token not in alice.page.evaluate("JSON.stringify(Object.entries(sessionStorage))")
    # the sign-in is gone once the log-out request (sent as the form comes back) is answered
    deadline = time.monotonic() + 10
    while [c for c in alice.context.cookies() if c["name"].endswith("parley-session")] and time.monotonic() < deadline:
        alice.page.wait_for_timeout(100)
    assert not [c for c in alice.context.cookies() if c["name"].endswith("parley-session")]
    expect(bob.online(alice.username)).to_have_count(0)  # her socket closed: she is offline
    alice.page.reload()
    expect(alice.tid("auth-view")).to_be_visible()


# ---------------------------------------------------------------- two users chatting
def test_each_user_sees_the_other_online(pair) -> None:
    alice, bob = pair
    expect(alice.online(bob.username)).to_be_visible()
    expect(bob.online(alice.username)).to_be_visible()
    expect(alice.tid("online-count")).to_have_text("2")


def test_a_message_sent_in_one_page_appears_in_the_other(pair) -> None:
    alice, bob = pair
    alice.say("hello bob")
    exactly_once(bob, "hello bob")
    mine = alice.messages("hello bob")
    expect(mine).to_have_attribute("data-status", "sent")
    expect(mine).to_have_class("message mine")
    received = bob.messages("hello bob")
    expect(received.get_by_test_id("message-author")).to_have_text(alice.username)
    assert received.get_by_test_id("message-time").get_attribute("datetime").endswith("Z")
    exactly_once(alice, "hello bob")  # the pending copy was replaced by the server's, not added to


def test_typing_shows_in_the_other_page_and_goes_away(pair) -> None:
    alice, bob = pair
    alice.tid("composer-input").press_sequentially("hel", delay=50)
    expect(bob.tid("typing-indicator")).to_have_text(f"{alice.username} is typing…")
    # Alice stops typing: the page sends isTyping:false and the indicator goes.
    expect(bob.tid("typing-indicator")).to_have_text("", timeout=8_000)

    alice.tid("composer-input").press_sequentially("lo", delay=50)
    expect(bob.tid("typing-indicator")).to_have_text(f"{alice.username} is typing…")
    alice.tid("composer-input").press("Enter")  # sending stops the typing at once
    expect(bob.tid("typing-indicator")).to_have_text("", timeout=2_000)
    exactly_once(bob, "hello")


def test_typing_is_sent_at_most_every_three_seconds(pair) -> None:
    alice, bob = pair
    sent: list[dict] = []

    def watch(ws) -> None:
        ws.on("framesent", lambda payload: sent.append(json.loads(payload)) if isinstance(payload, str) else None)

    alice.page.on("websocket", watch)
    alice.page.reload()  # so the page's socket is one we watch
    alice.wait_online()
    expect(bob.online(alice.username)).to_be_visible()
    box = alice.tid("composer-input")
    started = time.monotonic()
    while time.monotonic() - started < 5.0:  # a key every 100 ms for 5 s
        box.press("a")
        alice.page.wait_for_timeout(100)
    typing = [f for f in sent if f.get("action") == "typing" and f.get("isTyping") is True]
    assert len(typing) == 2, typing  # at 0 s and at 3 s, never per keystroke
    expect(bob.tid("typing-indicator")).to_have_text(f"{alice.username} is typing…")


def test_a_typing_state_not_refreshed_disappears_after_six_seconds(stack: Stack, pair) -> None:
    alice, _ = pair
    with stack.client() as carol:
        carol.join("general")
        carol.send(action="typing", room="general", isTyping=True)  # and never says it stopped
        indicator = alice.tid("typing-indicator")
        expect(indicator).to_have_text(f"{carol.user['username']} is typing…")
        seen = time.monotonic()
        expect(indicator).to_have_text("", timeout=10_000)
        assert 4.5 <= time.monotonic() - seen <= 8.0


def test_reload_keeps_the_session_and_the_history(pair) -> None:
    alice, bob = pair
    alice.say("one")
    bob.say("two")
    alice.say("three")
    expect(alice.messages("three")).to_have_count(1)
    alice.page.reload()
    alice.wait_online()
    expect(alice.tid("current-user")).to_contain_text(alice.username)
    for text in ("one", "two", "three"):
        expect(alice.messages(text)).to_have_count(1)
    assert message_texts(alice)[-3:] == ["one", "two", "three"]
    expect(bob.online(alice.username)).to_be_visible()


def test_html_in_a_message_is_shown_as_text_and_runs_nothing(pair) -> None:
    alice, bob = pair
    payload = "<img src=x onerror=alert(1)>"
    alice.say(payload)
    exactly_once(bob, payload)
    for chat in (alice, bob):
        assert chat.messages(payload).get_by_test_id("message-text").inner_text() == payload
        expect(chat.tid("message-list").locator("img")).to_have_count(0)
    bob.page.wait_for_timeout(500)
    assert alice.dialogs == [] and bob.dialogs == []


def test_rooms_join_switch_presence_and_unread(pair) -> None:
    alice, bob = pair
    room = unique("room").lower()
    for chat in (alice, bob):
        chat.tid("join-room-input").fill(room.upper())  # room names are lower case; the page folds them
        chat.tid("join-room-input").press("Enter")
        expect(chat.tid("room-title")).to_have_text(f"#{room}")
        expect(chat.tid("connection-status")).to_have_attribute("data-state", "online")
    expect(alice.online(bob.username)).to_be_visible()
    alice.say("in the side room")
    exactly_once(bob, "in the side room")

    bob.tid("room-list").locator('[data-room="general"]').click()
    expect(bob.tid("room-title")).to_have_text("#general")
    expect(bob.messages("in the side room")).to_have_count(0)  # each room shows its own messages
    alice.say("while you were away")
    expect(bob.tid("room-list").locator(f'[data-room="{room}"]').get_by_test_id("room-unread")).to_have_text("1")
    bob.tid("room-list").locator(f'[data-room="{room}"]').click()
    exactly_once(bob, "while you were away")

    alice.tid("leave-room").click()
    expect(alice.tid("room-title")).to_have_text("#general")
    expect(alice.tid("room-list").locator(f'[data-room="{room}"]')).to_have_count(0)
    expect(bob.online(alice.username)).to_have_count(0)  # alice left the room bob is looking at

    bob.tid("join-room-input").fill("-bad name")
    bob.tid("join-room-button").click()
    expect(bob.tid("join-error")).to_contain_text("1–64 characters")


def test_load_older_pages_back_with_before(stack: Stack, open_page) -> None:
    room = unique("busy").lower()
    with stack.client() as carol:
        carol.join(room)
        for i in range(110):
            carol.say(room, f"m{i:03d}")
    chat = open_page()
    chat.sign_up(stack.url, unique("erin"))
    chat.tid("join-room-input").fill(room)
    chat.tid("join-room-input").press("Enter")
    expect(chat.messages()).to_have_count(50)  # the latest page
    assert message_texts(chat)[0] == "m060" and message_texts(chat)[-1] == "m109"
    expect(chat.tid("history-start")).to_be_hidden()
    # The button (dispatched directly: scrolling it into view would load by itself, which comes next)...
    chat.tid("load-older").dispatch_event("click")
    expect(chat.messages()).to_have_count(100)
    assert message_texts(chat)[0] == "m010"
    # ...and scrolling to the top.
    chat.tid("scroller").evaluate("el => { el.scrollTop = 0; }")
    expect(chat.messages()).to_have_count(110)
    assert message_texts(chat) == [f"m{i:03d}" for i in range(110)]
    expect(chat.tid("load-older")).to_be_hidden()
    expect(chat.tid("history-start")).to_be_visible()


def test_the_socket_dropped_by_the_server_comes_back_and_catches_up_exactly_once(
    stack: Stack, open_page
) -> None:
    gate = {"closed": False, "refused": 0}

    def through_gate(ws: WebSocketRoute) -> None:
        # While the gate is closed, alice's network refuses new sockets (the server is untouched).
        if gate["closed"]:
            gate["refused"] += 1
            ws.close(code=4001, reason="network down (test)")
            return
        ws.connect_to_server()

    alice, bob = open_page(), open_page()
    alice.page.route_web_socket(WS_URL, through_gate)
    alice.sign_up(stack.url, unique("alice"))
    bob.sign_up(stack.url, unique("bob"))
    expect(alice.online(bob.username)).to_be_visible()
    bob.say("before the drop")
    exactly_once(alice, "before the drop")

    (connection_id,) = stack.connection_ids(alice.username)
    gate["closed"] = True
    stack.drop(connection_id)
    expect(alice.tid("connection-status")).to_have_attribute("data-state", "reconnecting")
    expect(bob.online(alice.username)).to_have_count(0)  # the server forgot her connection

    # Meanwhile bob talks, and carol sends more than one catch-up page (100) from a program.
    bob.say("while you were gone 1")
    bob.say("while you were gone 2")
    burst = [f"burst {i:03d}" for i in range(105)]
    with stack.client() as carol:
        carol.join("general")
        for text in burst:
            carol.say("general", text)
    # Playwright runs route handlers while the test waits on it: give the page's retries their turn.
    for _ in range(100):
        if gate["refused"] >= 2:
            break
        alice.page.wait_for_timeout(100)
    assert gate["refused"] >= 2  # the page kept trying to come back (backing off) while the network was down
    expect(alice.tid("connection-status")).not_to_have_attribute("data-state", "online")
    expect(alice.messages("while you were gone 1")).to_have_count(0)

    gate["closed"] = False
    expect(alice.tid("connection-status")).to_have_attribute("data-state", "online", timeout=40_000)
    for text in ("while you were gone 1", "while you were gone 2", "burst 000", "burst 104"):
        exactly_once(alice, text, settle_ms=200)
    texts = message_texts(alice)
    assert len(texts) == len(set(texts)), "a message shows twice"
    expected = ["before the drop", "while you were gone 1", "while you were gone 2", *burst]
    assert texts[-len(expected):] == expected  # all of it, in order
    expect(bob.online(alice.username)).to_be_visible()  # she re-joined #general

    bob.say("welcome back")
    exactly_once(alice, "welcome back")
    alice.say("thanks")
    exactly_once(bob, "thanks")


def test_a_send_that_got_no_answer_is_retried_without_a_duplicate(stack: Stack, open_page) -> None:
    """The server stores the message but its echo is lost: the page shows it failed; Retry confirms it, once."""
    swallow = {"on": False, "swallowed": 0}

    def lossy(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if swallow["on"] and frame.get("type") == "message" and frame["message"]["text"] == "lost echo":
                swallow["swallowed"] += 1
                return
            ws.send(message)

        server.on_message(from_server)

    alice, bob = open_page(), open_page()
    alice.page.route_web_socket(WS_URL, lossy)
    alice.sign_up(stack.url, unique("alice"))
    bob.sign_up(stack.url, unique("bob"))
    swallow["on"] = True
    box = alice.tid("composer-input")
    box.fill("lost echo")
    box.press("Enter")
    mine = alice.tid("message-list").locator('[data-testid="message"][data-client-msg-id]').filter(has_text="lost echo")
    expect(mine).to_have_attribute("data-status", "pending")
    exactly_once(bob, "lost echo")  # it was stored and delivered to bob
    expect(mine).to_have_attribute("data-status", "failed", timeout=15_000)
    assert swallow["swallowed"] == 1
    swallow["on"] = False
    mine.get_by_test_id("message-retry").click()
    exactly_once(alice, "lost echo")
    expect(alice.messages("lost echo")).to_have_attribute("data-status", "sent")
    exactly_once(bob, "lost echo")  # the retry stored nothing new


# ---------------------------------------------------------------- phone width, keyboard, long words
def test_phone_width_keyboard_and_long_words(stack: Stack, open_page) -> None:
    chat = open_page(viewport={"width": 375, "height": 720}, is_mobile=True, has_touch=True)
    chat.sign_up(stack.url, unique("fay"))
    long_word = "w" * 400
    chat.say(long_word)
    width = chat.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways ({width}px wide)"
    box = chat.messages(long_word).bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    expect(chat.tid("composer-input")).to_be_in_viewport()
    expect(chat.tid("sidebar")).not_to_be_in_viewport()
    chat.tid("sidebar-toggle").click()
    expect(chat.tid("sidebar")).to_be_in_viewport()
    chat.page.keyboard.press("Escape")
    expect(chat.tid("sidebar")).not_to_be_in_viewport()

    # Keyboard alone: Tab reaches the controls and the focused one has a visible outline.
    chat.tid("composer-input").focus()
    chat.page.keyboard.press("Tab")
    outline = chat.page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; })()"
    )
    assert outline[0] != "none" and outline[1] != "0px", outline


def test_screenshot_of_a_direct_message_and_unread_badges(stack: Stack, open_page, tmp_path: Path) -> None:
    """Renders the README's screenshot; PARLEY_SCREENSHOT=docs/screenshot.png writes it there.

    Alice reads her direct conversation with bob (display name "Bob Ødegaard") while carol writes to her directly
    and in #launch, so the sidebar shows unread badges in both sections, and a private room with its padlock. The
    conversation has a day separator, avatars, two of bob's messages under one name, formatted text (code, bold,
    a link), a reaction, a reply quoting its original and an edited message; the sidebar's dots say who is online.
    (Reactions need an emoji font to look right: Debian's fonts-noto-color-emoji.)
    """
    from tests.browser.messagekit import open_actions
    from tests.browser.test_display_names import sign_up_as

    target = Path(os.environ.get("PARLEY_SCREENSHOT") or tmp_path / "screenshot.png")
    viewport = {"width": 1100, "height": 700}
    alice, bob, carol = (open_page(viewport=viewport) for _ in range(3))
    alice.sign_up(stack.url, "alice")
    sign_up_as(bob, stack.url, "bob", "Bob Ødegaard")
    carol.sign_up(stack.url, "carol")
    for chat in (alice, carol):
        chat.tid("join-room-input").fill("launch")
        chat.tid("join-room-input").press("Enter")
        expect(chat.tid("room-title")).to_have_text("#launch")
    alice.create_private_room("design")
    alice.open_direct("bob")
    alice.say("Morning! Is the WebSocket stage deployed?")
    bob.conversation("alice").click()  # the first message put the conversation in bob's list
    deployed = "Yes: `sam deploy` finished a minute ago, the **wss://** URL is in the stack outputs."
    behind = "The page is behind CloudFront too: https://d111111abcdef8.cloudfront.net/"
    for text in (deployed, behind):  # two in a row: one name and time over both
        bob.tid("composer-input").fill(text)
        bob.tid("composer-input").press("Enter")
        expect(alice.tid("message").filter(has_text="finished a minute ago" if text == deployed else "CloudFront"))\
            .to_have_count(1)
    first = alice.tid("message").filter(has_text="finished a minute ago")
    open_actions(alice, "desktop", first)
    first.get_by_test_id("action-pick").click()
    alice.tid("emoji-picker").get_by_role("button", name="React with 🎉").click()
    expect(bob.tid("message").filter(has_text="finished a minute ago").get_by_test_id("reaction")).to_have_count(1)
    second = alice.tid("message").filter(has_text="CloudFront")
    open_actions(alice, "desktop", second)
    second.get_by_test_id("action-reply").click()
    alice.say("Great. Only the two of us can read this conversation, right?")
    exactly_once(bob, "Great. Only the two of us can read this conversation, right?", settle_ms=0)
    bob.say("Right: a direct room has two members.")
    exactly_once(alice, "Right: a direct room has two members.", settle_ms=0)
    box = bob.tid("composer-input")
    box.press("ArrowUp")  # edit the last message
    box.fill("Right: a direct room has exactly two members, checked on every path.")
    box.press("Enter")
    expect(alice.messages("Right: a direct room has exactly two members, checked on every path.")
           .get_by_test_id("message-edited")).to_have_count(1)
    alice.say("Shipping it. <b>HTML</b> stays text, by the way.")
    exactly_once(bob, "Shipping it. <b>HTML</b> stays text, by the way.", settle_ms=0)
    expect(alice.tid("read-receipt")).to_contain_text("Seen by")
    carol.say("Release notes are up for review.")
    carol.say("Ping me when the stage is green.")
    carol.open_direct("alice")
    carol.say("Can you look at my pull request before lunch?")
    expect(alice.conversation("carol").get_by_test_id("room-unread")).to_have_text("1")
    expect(alice.conversation("#launch", "Rooms").get_by_test_id("room-unread")).to_have_text("2")
    bob.tid("composer-input").press_sequentially("Looks good", delay=30)
    expect(alice.tid("typing-indicator")).to_contain_text("is typing…")
    alice.page.mouse.move(0, 0)
    alice.page.evaluate("document.activeElement && document.activeElement.blur()")
    target.parent.mkdir(parents=True, exist_ok=True)
    alice.page.screenshot(path=str(target))
    assert target.stat().st_size > 10_000
