"""Issue 21, the page: actions on each message, shown on hover, keyboard focus or a long press (react from a picker,
reply, edit and delete one's own), ArrowUp to edit, reply quotes that scroll to the original. At desktop and phone
(390×844, touch: a long press) sizes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.messagekit import SIZES, by_id, open_actions, open_in_room
from tests.browser.pagekit import Stack, unique


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

        # the original is older than the page loaded: older pages load until it is there, then it is shown
        quote = reader.messages("which station?").get_by_test_id("reply-quote")
        expect(quote).to_contain_text("the plan: meet at the station")
        expect(quote).to_contain_text(bob.user["username"])
        expect(reader.tid("load-older")).to_be_visible()  # nothing loaded it by scrolling meanwhile
        expect(reader.messages("the plan: meet at the station")).to_have_count(0)
        quote.click()
        target = by_id(reader, original["id"])
        expect(target).to_be_in_viewport()
        expect(target).to_have_class(re.compile(r"\bhighlight\b"))

        # one loaded but off screen (the original of the first quote is at the top now): scrolled to, highlighted
        nearby = by_id(reader, near["id"])
        expect(nearby).not_to_be_in_viewport()
        reader.messages("replying to the nearby one").get_by_test_id("reply-quote").click()
        expect(nearby).to_be_in_viewport()
        expect(nearby).to_have_class(re.compile(r"\bhighlight\b"))

        # the original deleted: the quote says so
        bob.delete(room, original["id"])
        expect(quote).to_contain_text("message deleted")
        expect(quote).not_to_contain_text("the plan")


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
