"""Blocking from the page (issue 22, section 3): the Block control in a direct room's header and beside a member
of a private room, in a real browser against the local stack; the server refuses what the blocked person tries."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.pagekit import ChatPage, Stack, unique


def test_block_and_unblock_from_a_direct_message_and_the_members_panel(stack: Stack, open_page) -> None:
    alice, mallory = open_page(), open_page()
    alice.sign_up(stack.url, unique("alice"))
    mallory.sign_up(stack.url, unique("mallory"))
    mallory.open_direct(alice.username)
    mallory.say("hi alice")

    alice.conversation(mallory.username).click()
    block = alice.page.get_by_role("button", name=f"Block {mallory.username}")
    block.click()
    expect(alice.tid("notice")).to_contain_text(f"You blocked {mallory.username}")
    expect(alice.page.get_by_role("button", name=f"Unblock {mallory.username}")).to_be_visible()

    # mallory writes again: the page shows the message as failed, and alice never sees it
    box = mallory.tid("composer-input")
    box.fill("are you ignoring me?")
    box.press("Enter")
    expect(mallory.messages("are you ignoring me?").and_(mallory.page.locator('[data-status="failed"]'))).to_have_count(1)
    alice.page.wait_for_timeout(500)
    expect(alice.messages("are you ignoring me?")).to_have_count(0)

    # the block is on the server: a reload (a new page) still offers Unblock
    alice.page.reload()
    alice.wait_online()
    alice.conversation(mallory.username).click()
    unblock = alice.page.get_by_role("button", name=f"Unblock {mallory.username}")
    expect(unblock).to_be_visible()
    unblock.click()
    expect(alice.page.get_by_role("button", name=f"Block {mallory.username}")).to_be_visible()
    mallory.say("sorry, one more try")
    expect(alice.messages("sorry, one more try")).to_have_count(1)


def test_a_member_can_be_blocked_from_the_members_panel_and_cannot_add_you_again(stack: Stack, open_page) -> None:
    alice, mallory = open_page(), open_page()
    alice.sign_up(stack.url, unique("alice"))
    mallory.sign_up(stack.url, unique("mallory"))
    room = unique("den")
    mallory.create_private_room(room)
    mallory.add_member(alice.username)

    alice.conversation(f"#{room}", "Rooms").click()
    alice.tid("members-toggle").click()
    members = alice.page.get_by_role("list", name=re.compile("^Members of"))
    members.get_by_role("button", name=f"Block {mallory.username}").click()
    expect(members.get_by_role("button", name=f"Unblock {mallory.username}")).to_be_visible()
    expect(members.get_by_role("button", name=f"Block {alice.username}")).to_have_count(0)  # never yourself

    room2 = unique("den2")
    mallory.create_private_room(room2)
    mallory.page.get_by_role("textbox", name="Add a member").fill(alice.username)
    mallory.page.get_by_role("button", name="Add", exact=True).click()
    expect(mallory.tid("members-error")).to_have_text("You cannot add that person to this room.")
    alice.page.wait_for_timeout(500)
    expect(alice.conversation(f"#{room2}", "Rooms")).to_have_count(0)
