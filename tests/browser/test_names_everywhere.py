"""Display names wherever the page names a person (issue 23's follow-up): a reply quote and the "Replying to" bar, a
reaction chip's tooltip, a direct message's sidebar label and header, the "added you" notice; and a message sent
after a display-name change is not grouped under the old name."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from tests.browser.messagekit import by_id, open_actions, open_in_room
from tests.browser.pagekit import Stack, unique

ZOE = "Zoë Ω"


def test_a_display_name_in_reply_quotes_reaction_tooltips_direct_messages_and_notices(stack: Stack, open_page) -> None:
    room = unique("names").lower()
    reader = open_in_room(stack, open_page, "desktop", room)
    with stack.client(unique("zoe"), display_name=ZOE) as zoe:
        zoe_name = zoe.user["username"]
        full = f"{ZOE} (@{zoe_name})"
        zoe.join(room)
        tea = zoe.say(room, "tea, anyone?")
        message = by_id(reader, tea["id"])
        expect(message).to_have_count(1)

        # the reply bar, then the quote of the reply: the display name (the @username in its title)
        open_actions(reader, "desktop", message)
        message.get_by_test_id("action-reply").click()
        expect(reader.page.locator("#compose-context-label")).to_have_text(f"Replying to {full}")
        reader.say("yes, please")
        quote = reader.messages("yes, please").get_by_test_id("reply-quote")
        expect(quote.get_by_test_id("quote-author")).to_have_text(ZOE)
        expect(quote.get_by_test_id("quote-author")).to_have_attribute("title", full)
        expect(quote).to_have_accessible_name(re.compile(rf"^Reply to {re.escape(full)}: tea, anyone\?"))

        # a reaction chip's tooltip names who reacted
        zoe.react(room, tea["id"], "👍")
        chip = message.get_by_test_id("reaction")
        expect(chip).to_have_attribute("title", f"{full} reacted with 👍")
        chip.click()
        expect(chip).to_have_attribute("title", f"{full} and you reacted with 👍")

        # a direct message from zoë: the sidebar names her, the header adds the @username
        zoe.send(action="openDirect", username=reader.username)
        direct = zoe.wait_for(lambda f: f.get("type") == "direct")["room"]
        zoe.say(direct, "a word in private")
        item = reader.conversation(ZOE)
        expect(item).to_have_count(1)
        expect(item.get_by_test_id("room-name")).to_have_text(ZOE)
        expect(item).to_have_attribute("title", full)
        expect(item).to_have_accessible_name(re.compile(rf"^{re.escape(ZOE)}, @{zoe_name},"))
        item.click()
        expect(reader.tid("room-title")).to_have_text(full)
        expect(reader.messages("a word in private")).to_have_count(1)

        # "… added you to #room."
        private = unique("den").lower()
        zoe.send(action="createRoom", room=private, kind="private")
        zoe.wait_for(lambda f: f.get("type") == "roomCreated")
        zoe.send(action="addMember", room=private, username=reader.username)
        expect(reader.tid("notice")).to_have_text(f"{full} added you to #{private}.")
    assert not reader.problems, reader.problems


def test_a_message_after_a_display_name_change_is_not_grouped_under_the_old_name(stack: Stack, open_page) -> None:
    room = unique("rename").lower()
    session = stack.signup(unique("zoe"), ZOE)
    zoe_name = session["user"]["username"]
    with stack.connect(session) as zoe:
        zoe.join(room)
        zoe.say(room, "first as zoë")
        zoe.say(room, "second as zoë")
    changed = httpx.patch(
        f"{stack.url}/auth/me",
        json={"displayName": "Zoë Zed"},
        headers={"Authorization": f"Bearer {session['token']}"},
        timeout=10,
    )
    assert changed.status_code == 200, changed.text
    with stack.connect(session) as zoe:  # a new connection carries the new name
        zoe.join(room)
        zoe.say(room, "first as Zoë Zed")
        zoe.say(room, "second as Zoë Zed")

    reader = open_in_room(stack, open_page, "desktop", room)
    expect(reader.messages("second as Zoë Zed")).to_have_count(1)
    continued = re.compile(r"\bcontinued\b")
    expect(reader.messages("second as zoë")).to_have_class(continued)  # within minutes, one person, one name
    after = reader.messages("first as Zoë Zed")
    expect(after).not_to_have_class(continued)  # the same person, minutes apart at most, but another name
    expect(after.get_by_test_id("message-author")).to_be_visible()
    expect(after.get_by_test_id("message-author")).to_have_text(f"Zoë Zed @{zoe_name}")
    expect(reader.messages("second as Zoë Zed")).to_have_class(continued)
