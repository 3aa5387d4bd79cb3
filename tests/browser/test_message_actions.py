"""Issue 21, the page: actions on each message (react from a picker, reply, edit and delete one's own, shown on
hover, keyboard focus or a long press), what changes show ("(edited)", tombstones, reaction chips, reply quotes
that scroll to the original), messageUpdated frames applied by version, and `sync` bringing back what changed
while the page was closed or cut off. At desktop and phone (390×844, touch: a long press) sizes."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import WebSocketRoute, expect

from tests.browser.pagekit import WS_URL, ChatPage, Stack, unique

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SIZES = ["desktop", "phone"]


# ---------------------------------------------------------------- helpers
def open_in_room(stack: Stack, open_page, size: str, room: str, **options) -> ChatPage:
    """A new user's page, signed up and in `room` (a public room, joined from the sidebar)."""
    chat = open_page(**(PHONE if size == "phone" else {}), **options)
    chat.sign_up(stack.url, unique("reader"))
    join(chat, size, room)
    return chat


def join(chat: ChatPage, size: str, room: str) -> None:
    if size == "phone":
        chat.tid("sidebar-toggle").click()
    chat.tid("join-room-input").fill(room)
    chat.tid("join-room-input").press("Enter")
    expect(chat.tid("room-title")).to_have_text(f"#{room}")
    expect(chat.tid("connection-status")).to_have_attribute("data-state", "online")


def by_id(chat: ChatPage, message_id: str):
    return chat.tid("message-list").locator(f'[data-testid="message"][data-id="{message_id}"]')


def long_press(chat: ChatPage, target) -> None:
    """A finger held on `target` (touch events, as a phone sends them), then lifted."""
    box = target.bounding_box()
    assert box is not None
    point = {"x": box["x"] + min(12, box["width"] / 2), "y": box["y"] + box["height"] / 2}
    cdp = chat.context.new_cdp_session(chat.page)
    try:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
        chat.page.wait_for_timeout(800)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def open_actions(chat: ChatPage, size: str, message) -> None:
    """Show a message's actions the way its user would: a mouse over it, or a long press on a phone."""
    bar = message.get_by_test_id("message-actions")
    if size == "phone":
        message.get_by_test_id("message-text").scroll_into_view_if_needed()
        expect(bar).to_have_css("opacity", "0")  # a touch screen has no hover: hidden until the long press
        long_press(chat, message.get_by_test_id("message-text"))
        expect(message).to_have_class(re.compile(r"\bactions-open\b"))
    else:
        message.hover()
    expect(bar).to_have_css("opacity", "1")


def sent_frames(chat: ChatPage) -> list[dict]:
    """Record what the page sends on its sockets from now on."""
    frames: list[dict] = []

    def on_socket(ws) -> None:
        ws.on("framesent", lambda payload: frames.append(json.loads(payload)) if isinstance(payload, str) else None)

    chat.page.on("websocket", on_socket)
    return frames


# ---------------------------------------------------------------- what others change, live
@pytest.mark.parametrize("size", SIZES)
def test_another_users_edit_delete_and_reaction_arrive_live(stack: Stack, open_page, size) -> None:
    room = unique("live").lower()
    reader = open_in_room(stack, open_page, size, room)
    with stack.client() as bob:
        bob.join(room)
        typo = bob.say(room, "frist draft")
        secret = bob.say(room, "a secret said by mistake")
        lunch = bob.say(room, "lunch at noon?")
        expect(reader.messages("lunch at noon?")).to_have_count(1)
        expect(by_id(reader, typo["id"]).get_by_test_id("message-edited")).to_have_count(0)

        bob.edit(room, typo["id"], "first draft")
        edited = by_id(reader, typo["id"])
        expect(edited.get_by_test_id("message-text")).to_have_text("first draft")
        expect(edited.get_by_test_id("message-edited")).to_have_text("(edited)")

        bob.delete(room, secret["id"])
        tomb = by_id(reader, secret["id"])
        expect(tomb.get_by_test_id("message-tombstone")).to_have_text("message deleted")
        expect(tomb.get_by_test_id("message-text")).to_have_count(0)
        expect(tomb.get_by_test_id("message-actions")).to_have_count(0)
        expect(reader.tid("message-list")).not_to_contain_text("a secret said by mistake")

        bob.react(room, lunch["id"], "👍")
        chip = by_id(reader, lunch["id"]).get_by_test_id("reaction")
        expect(chip).to_have_count(1)
        expect(chip).to_have_text("👍1")
        expect(chip).to_have_attribute("title", f"{bob.user['username']} reacted with 👍")
        expect(chip).to_have_attribute("aria-pressed", "false")

        # the reader's own reaction: a click on the chip toggles it, highlighted and named as "you"
        chip.click()
        expect(chip).to_have_text("👍2")
        expect(chip).to_have_attribute("aria-pressed", "true")
        expect(chip).to_have_class(re.compile(r"\bmine\b"))
        expect(chip).to_have_attribute("title", f"{bob.user['username']} and you reacted with 👍")
        seen = bob.wait_for(lambda f: f.get("type") == "messageUpdated" and f["message"]["id"] == lunch["id"])
        assert seen["message"]["reactions"][0]["count"] == 2
        chip.click()
        expect(chip).to_have_text("👍1")
        expect(chip).to_have_attribute("aria-pressed", "false")

        bob.unreact(room, lunch["id"], "👍")
        expect(by_id(reader, lunch["id"]).get_by_test_id("reaction")).to_have_count(0)


# ---------------------------------------------------------------- react and reply
@pytest.mark.parametrize("size", SIZES)
def test_react_from_the_picker_and_reply(stack: Stack, open_page, size) -> None:
    room = unique("tea").lower()
    reader = open_in_room(stack, open_page, size, room)
    with stack.client() as bob:
        bob.join(room)
        tea = bob.say(room, "who wants tea?")
        message = by_id(reader, tea["id"])
        expect(message).to_have_count(1)
        expect(message.get_by_test_id("action-edit")).to_have_count(0)  # not the reader's: react and reply only
        expect(message.get_by_test_id("action-delete")).to_have_count(0)

        open_actions(reader, size, message)
        message.get_by_test_id("action-pick").click()
        expect(message.get_by_test_id("emoji-picker")).to_be_visible()
        message.get_by_role("button", name="React with 🎉").click()
        expect(message.get_by_test_id("emoji-picker")).to_have_count(0)
        chip = message.get_by_test_id("reaction")
        expect(chip).to_have_text("🎉1")
        expect(chip).to_have_attribute("aria-pressed", "true")
        reacted = bob.wait_for(lambda f: f.get("type") == "messageUpdated" and f["message"]["id"] == tea["id"])
        assert [r["emoji"] for r in reacted["message"]["reactions"]] == ["🎉"]

        # a reply started, then cancelled: the next message is no reply
        open_actions(reader, size, message)
        message.get_by_test_id("action-reply").click()
        bar = reader.tid("compose-context")
        expect(bar).to_be_visible()
        expect(bar).to_contain_text(f"Replying to {bob.user['username']}")
        expect(reader.tid("compose-context-excerpt")).to_have_text("who wants tea?")
        reader.tid("compose-context-cancel").click()
        expect(bar).to_be_hidden()
        reader.say("not a reply")
        expect(reader.messages("not a reply").get_by_test_id("reply-quote")).to_have_count(0)

        open_actions(reader, size, message)
        message.get_by_test_id("action-reply").click()
        expect(reader.tid("composer-input")).to_be_focused()
        reader.say("me, please")
        expect(bar).to_be_hidden()
        quote = reader.messages("me, please").get_by_test_id("reply-quote")
        expect(quote).to_contain_text(bob.user["username"])
        expect(quote).to_contain_text("who wants tea?")
        frame = bob.wait_for(lambda f: f.get("type") == "message" and f["message"].get("text") == "me, please")
        assert frame["message"]["replyTo"]["id"] == tea["id"]


def test_the_actions_are_reached_with_the_keyboard(stack: Stack, open_page) -> None:
    room = unique("keys").lower()
    reader = open_in_room(stack, open_page, "desktop", room)
    with stack.client() as bob:
        bob.join(room)
        hello = bob.say(room, "hello keyboard")
        message = by_id(reader, hello["id"])
        bar = message.get_by_test_id("message-actions")
        expect(bar).to_have_css("opacity", "0")
        pick = message.get_by_test_id("action-pick")
        pick.focus()
        expect(bar).to_have_css("opacity", "1")  # shown while one of them has the focus
        expect(pick).to_have_accessible_name("Add a reaction")
        reader.page.keyboard.press("Enter")
        first = message.get_by_test_id("emoji-option").first
        expect(first).to_be_focused()
        reader.page.keyboard.press("Escape")
        expect(message.get_by_test_id("emoji-picker")).to_have_count(0)
        expect(pick).to_be_focused()
        reader.page.keyboard.press("Tab")
        expect(message.get_by_test_id("action-reply")).to_be_focused()
        reader.page.keyboard.press("Enter")
        expect(reader.tid("compose-context")).to_contain_text("Replying to")
        reader.page.keyboard.press("Escape")  # in the message box: the reply is cancelled
        expect(reader.tid("compose-context")).to_be_hidden()


# ---------------------------------------------------------------- edit and delete one's own
@pytest.mark.parametrize("size", SIZES)
def test_edit_and_delete_own_messages(stack: Stack, open_page, size) -> None:
    room = unique("own").lower()
    reader = open_in_room(stack, open_page, size, room)
    with stack.client() as bob:
        bob.join(room)
        reader.say("helo wrld")
        message = reader.messages("helo wrld")
        message_id = message.get_attribute("data-id")
        mine = by_id(reader, message_id)

        open_actions(reader, size, mine)
        mine.get_by_test_id("action-edit").click()
        box = reader.tid("composer-input")
        expect(box).to_have_value("helo wrld")
        expect(reader.tid("compose-context")).to_contain_text("Editing your message")
        box.fill("hello world")
        box.press("Enter")
        expect(mine.get_by_test_id("message-text")).to_have_text("hello world")
        expect(mine.get_by_test_id("message-edited")).to_be_visible()
        expect(box).to_have_value("")
        expect(reader.tid("compose-context")).to_be_hidden()
        changed = bob.wait_for(lambda f: f.get("type") == "messageUpdated" and f["message"]["id"] == message_id)
        assert changed["message"]["text"] == "hello world"
        expect(reader.messages("hello world")).to_have_count(1)  # edited in place, not sent anew

        # delete asks first: Cancel keeps it
        open_actions(reader, size, mine)
        mine.get_by_test_id("action-delete").click()
        expect(reader.page.get_by_role("dialog")).to_contain_text("Delete this message?")
        reader.confirm(yes=False)
        reader.page.wait_for_timeout(500)
        expect(mine.get_by_test_id("message-text")).to_have_text("hello world")

        open_actions(reader, size, mine)
        mine.get_by_test_id("action-delete").click()
        reader.confirm(yes=True)
        expect(mine.get_by_test_id("message-tombstone")).to_have_text("message deleted")
        expect(mine.get_by_test_id("message-actions")).to_have_count(0)
        gone = bob.wait_for(lambda f: f.get("type") == "messageUpdated" and f["message"].get("deleted") is True)
        assert gone["message"]["id"] == message_id and "text" not in gone["message"]


def test_arrow_up_edits_the_last_message_and_escape_cancels(stack: Stack, open_page) -> None:
    room = unique("arrow").lower()
    reader = open_in_room(stack, open_page, "desktop", room)
    with stack.client() as bob:
        bob.join(room)
        reader.say("one")
        reader.say("two")
        bob.say(room, "bob's, after mine")  # the newest message is not the reader's: ArrowUp skips it
        expect(reader.messages("bob's, after mine")).to_have_count(1)
        box = reader.tid("composer-input")

        box.fill("half typed")
        box.press("ArrowUp")  # not empty: the caret moves, nothing is edited
        expect(box).to_have_value("half typed")
        expect(reader.tid("compose-context")).to_be_hidden()

        box.fill("")
        box.press("ArrowUp")
        expect(box).to_have_value("two")
        expect(reader.tid("compose-context")).to_contain_text("Editing your message")
        box.press("Escape")
        expect(box).to_have_value("")
        expect(reader.tid("compose-context")).to_be_hidden()
        expect(reader.messages("two").get_by_test_id("message-edited")).to_have_count(0)

        box.press("ArrowUp")
        expect(box).to_have_value("two")
        box.fill("two, edited")
        box.press("Enter")
        edited = reader.messages("two, edited")
        expect(edited.get_by_test_id("message-edited")).to_be_visible()
        expect(reader.messages("two")).to_have_count(0)
        expect(box).to_have_value("")

        # an edit started from the actions gives back what was being typed once it is cancelled
        box.fill("still typing this")
        one = reader.messages("one")
        one.hover()
        one.get_by_test_id("action-edit").click()
        expect(box).to_have_value("one")
        box.press("Escape")
        expect(box).to_have_value("still typing this")


# ---------------------------------------------------------------- reply quotes
@pytest.mark.parametrize("size", SIZES)
def test_a_reply_quote_scrolls_to_the_original_loading_older_history(stack: Stack, open_page, size) -> None:
    room = unique("quote").lower()
    with stack.client() as bob:
        bob.join(room)
        original = bob.say(room, "the plan: meet at the station")
        for i in range(60):  # more than the first page (50): the original is not loaded at first
            bob.say(room, f"filler {i:02d}")
        near = bob.say(room, "a nearby message")
        bob.reply(room, original["id"], "which station?")
        bob.reply(room, near["id"], "replying to the nearby one")
        reader = open_in_room(stack, open_page, size, room)
        expect(reader.messages("replying to the nearby one")).to_have_count(1)
        expect(reader.messages("the plan: meet at the station")).to_have_count(0)

        # the original on screen already: scrolled to and highlighted
        reader.tid("scroller").evaluate("s => { s.scrollTop = 0; }")
        nearby = by_id(reader, near["id"])
        reader.messages("replying to the nearby one").get_by_test_id("reply-quote").click()
        expect(nearby).to_be_in_viewport()
        expect(nearby).to_have_class(re.compile(r"\bhighlight\b"))

        quote = reader.messages("which station?").get_by_test_id("reply-quote")
        expect(quote).to_contain_text("the plan: meet at the station")
        expect(quote).to_contain_text(bob.user["username"])
        quote.click()
        target = by_id(reader, original["id"])
        expect(target).to_be_in_viewport()
        expect(target).to_have_class(re.compile(r"\bhighlight\b"))

        # the original deleted: the quote says so
        bob.delete(room, original["id"])
        expect(quote).to_contain_text("message deleted")
        expect(quote).not_to_contain_text("the plan")


# ---------------------------------------------------------------- versions, reload and reconnect
def test_a_stale_update_is_ignored_and_a_newer_one_shown(stack: Stack, open_page) -> None:
    """The page keeps the higher version of a message: frames are put on its socket as the server would send them."""
    sockets: list[WebSocketRoute] = []
    received: list[dict] = []

    def keep(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def relay(payload) -> None:
            received.append(json.loads(payload))
            ws.send(payload)

        server.on_message(relay)
        sockets.append(ws)

    room = unique("versions").lower()
    chat = open_page()
    chat.page.route_web_socket(WS_URL, keep)
    chat.sign_up(stack.url, unique("reader"))
    join(chat, "desktop", room)
    # the room's first sync has answered: no reply still on its way can bring back a later state than injected
    for _ in range(100):
        if any(f.get("type") == "sync" and f.get("room") == room for f in received):
            break
        chat.page.wait_for_timeout(100)
    with stack.client() as bob:
        bob.join(room)
        first = bob.say(room, "version one")
        second = bob.edit(room, first["id"], "version two")
        message = by_id(chat, first["id"])
        expect(message.get_by_test_id("message-text")).to_have_text("version two")

        sockets[-1].send(json.dumps({"type": "messageUpdated", "message": {**first, "text": "stale, version one"}}))
        chat.page.wait_for_timeout(700)
        assert message.get_by_test_id("message-text").inner_text() == "version two"  # now, not "eventually"
        newer = {**second, "text": "version three", "version": second["version"] + 1}
        sockets[-1].send(json.dumps({"type": "messageUpdated", "message": newer}))
        expect(message.get_by_test_id("message-text")).to_have_text("version three")


@pytest.mark.parametrize("size", SIZES)
def test_a_reload_restores_edits_deletions_and_reactions_made_while_the_page_was_closed(
    stack: Stack, open_page, size
) -> None:
    room = unique("away").lower()
    reader = open_in_room(stack, open_page, size, room)
    with stack.client() as bob:
        bob.join(room)
        typo = bob.say(room, "meeting at 3pn")
        oops = bob.say(room, "wrong room, sorry")
        good = bob.say(room, "cake in the kitchen")
        expect(reader.messages("cake in the kitchen")).to_have_count(1)

        reader.page.goto("about:blank")  # the page is closed
        bob.edit(room, typo["id"], "meeting at 3pm")
        bob.delete(room, oops["id"])
        bob.react(room, good["id"], "🎉")
        bob.react(room, good["id"], "❤️")

        frames = sent_frames(reader)
        reader.page.goto(stack.url)  # the same tab again: signed in from the cookie, the room reopened
        reader.wait_online()
        expect(reader.tid("room-title")).to_have_text(f"#{room}")
        edited = by_id(reader, typo["id"])
        expect(edited.get_by_test_id("message-text")).to_have_text("meeting at 3pm")
        expect(edited.get_by_test_id("message-edited")).to_be_visible()
        expect(by_id(reader, oops["id"]).get_by_test_id("message-tombstone")).to_have_text("message deleted")
        expect(reader.tid("message-list")).not_to_contain_text("wrong room, sorry")
        expect(by_id(reader, good["id"]).get_by_test_id("reaction")).to_have_text(["🎉1", "❤️1"])
        # the room was caught up through sync, from its cursor
        syncs = [f for f in frames if f.get("action") == "sync" and f.get("room") == room]
        assert syncs and isinstance(syncs[0].get("since"), str)


def test_changes_made_while_cut_off_come_back_through_sync(stack: Stack, open_page) -> None:
    """The network drops; meanwhile old messages are edited, deleted and reacted to (no new message: `history
    after` would bring nothing). Back online, the page shows every change."""
    gate = {"closed": False}

    def through_gate(ws: WebSocketRoute) -> None:
        if gate["closed"]:
            ws.close(code=4001, reason="network down (test)")
            return
        ws.connect_to_server()

    room = unique("cutoff").lower()
    reader = open_page()
    reader.page.route_web_socket(WS_URL, through_gate)
    reader.sign_up(stack.url, unique("reader"))
    join(reader, "desktop", room)
    with stack.client() as bob:
        bob.join(room)
        typo = bob.say(room, "teh report")
        oops = bob.say(room, "not for this room")
        good = bob.say(room, "shipped!")
        expect(reader.messages("shipped!")).to_have_count(1)

        (connection_id,) = stack.connection_ids(reader.username)
        gate["closed"] = True
        stack.drop(connection_id)
        expect(reader.tid("connection-status")).not_to_have_attribute("data-state", "online")
        bob.edit(room, typo["id"], "the report")
        bob.delete(room, oops["id"])
        bob.react(room, good["id"], "🚀")
        reader.page.wait_for_timeout(500)
        expect(by_id(reader, typo["id"]).get_by_test_id("message-text")).to_have_text("teh report")

        gate["closed"] = False
        expect(reader.tid("connection-status")).to_have_attribute("data-state", "online", timeout=40_000)
        expect(by_id(reader, typo["id"]).get_by_test_id("message-text")).to_have_text("the report")
        expect(by_id(reader, oops["id"]).get_by_test_id("message-tombstone")).to_be_visible()
        expect(by_id(reader, good["id"]).get_by_test_id("reaction")).to_have_text("🚀1")


def test_a_refused_reaction_in_a_direct_room_keeps_the_conversation(stack: Stack, open_page) -> None:
    """bob blocked the reader: her reaction in their direct room is refused (forbidden), as a message would be. The
    page says so and keeps the conversation: a direct room cannot be left, and the page must not guess at a block."""
    reader = open_page()
    reader.sign_up(stack.url, unique("reader"))
    with stack.client() as bob:
        bob.send(action="openDirect", username=reader.username)
        dm = bob.wait_for(lambda f: f.get("type") == "direct")["room"]
        bob.join(dm)
        hello = bob.say(dm, "hi from bob")
        reader.conversation(bob.user["username"]).click()
        message = by_id(reader, hello["id"])
        expect(message).to_have_count(1)
        bob.send(action="block", username=reader.username)
        bob.wait_for(lambda f: f.get("type") == "blocked")

        message.hover()
        message.get_by_test_id("action-pick").click()
        message.get_by_role("button", name="React with 👍").click()
        expect(reader.tid("notice")).to_be_visible()
        expect(message.get_by_test_id("reaction")).to_have_count(0)
        reader.page.wait_for_timeout(300)
        expect(reader.tid("access-note")).to_be_hidden()
        expect(reader.tid("composer-input")).to_be_enabled()
        expect(reader.page.get_by_role("button", name=re.compile(r", removed"))).to_have_count(0)
