"""Display names in any script on the page (issue 23), in Debian's chromium at desktop and phone (390×844) sizes:
set at sign-up, shown with @username beside it in messages, the members panel and "Online here", changed in
Account; always as text, never as HTML."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.pagekit import PASSWORD, ChatPage, Stack, unique

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def sign_up_as(chat: ChatPage, base_url: str, username: str, display_name: str) -> None:
    chat.username = username
    chat.page.goto(base_url)
    chat.tid("auth-username").fill(username)
    chat.tid("auth-password").fill(PASSWORD)
    chat.tid("auth-display-name").fill(display_name)
    chat.tid("auth-signup").click()
    chat.wait_online()


def author_of(chat: ChatPage, text: str):
    return chat.messages(text).get_by_test_id("message-author")


def open_sidebar(chat: ChatPage, phone: bool) -> None:
    if phone and chat.tid("sidebar-toggle").get_attribute("aria-expanded") != "true":
        chat.tid("sidebar-toggle").click()


def close_sidebar(chat: ChatPage, phone: bool) -> None:
    if phone and chat.tid("sidebar-toggle").get_attribute("aria-expanded") == "true":
        chat.page.keyboard.press("Escape")  # the open sidebar covers its own toggle on a phone
        expect(chat.tid("sidebar-toggle")).to_have_attribute("aria-expanded", "false")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_others_see_the_display_name_with_the_username_beside_it_and_a_change_in_account(
    stack: Stack, open_page, size
) -> None:
    phone = size == "phone"
    zoe, bob = open_page(), open_page(**(PHONE if phone else {}))
    zoe_name = unique("zoe")
    sign_up_as(zoe, stack.url, zoe_name, "zoë")
    expect(zoe.tid("current-user")).to_contain_text("zoë")
    bob.sign_up(stack.url, unique("bob"))

    # a private room: messages, the members panel and "Online here"
    room = unique("tea").lower()
    zoe.create_private_room(room)
    zoe.add_member(bob.username)
    open_sidebar(bob, phone)
    bob.tid("room-list").locator(f'[data-room="{room}"]').click()
    close_sidebar(bob, phone)
    expect(bob.tid("room-title")).to_have_text(f"#{room}")
    zoe.say("hej from zoë")

    author = author_of(bob, "hej from zoë")
    expect(author.get_by_test_id("display-name")).to_have_text("zoë")
    expect(author.get_by_test_id("handle")).to_have_text(f"@{zoe_name}")
    expect(author).to_have_text(f"zoë @{zoe_name}")
    box, width = author.bounding_box(), bob.page.viewport_size["width"]
    assert box and box["x"] + box["width"] <= width, (box, width)  # not cut off or pushed out on a phone
    expect(bob.messages("hej from zoë").get_by_test_id("avatar")).to_have_text("Z")

    bob.page.get_by_role("button", name=re.compile(r"^Members")).click()
    panel = bob.page.get_by_role("region", name=f"Members of #{room}")
    member = panel.locator(f'[data-testid="member"][data-username="{zoe_name}"]')
    expect(member.get_by_test_id("display-name")).to_have_text("zoë")
    expect(member.get_by_test_id("handle")).to_have_text(f"@{zoe_name}")
    expect(bob.tid("members-summary")).to_contain_text(f"owner: zoë (@{zoe_name})")
    mine = panel.locator(f'[data-testid="member"][data-username="{bob.username}"]')
    expect(mine).to_contain_text(bob.username)
    expect(mine.get_by_test_id("handle")).to_have_count(0)  # no display name: just the username, as before

    open_sidebar(bob, phone)
    online = bob.online(zoe_name)
    expect(online.get_by_test_id("display-name")).to_have_text("zoë")
    expect(online.get_by_test_id("handle")).to_have_text(f"@{zoe_name}")
    close_sidebar(bob, phone)

    # zoë changes it in Account: the room hears the new name at once (a new socket), old messages keep theirs
    zoe.tid("account-open").click()
    field = zoe.tid("display-name-input")
    expect(field).to_have_value("zoë")
    field.fill("Zoë Zed")
    zoe.tid("save-display-name").click()
    expect(zoe.tid("profile-status")).to_contain_text(f"Zoë Zed (@{zoe_name})")
    zoe.tid("account-close").click()
    expect(zoe.tid("current-user")).to_contain_text("Zoë Zed")
    open_sidebar(bob, phone)
    expect(bob.online(zoe_name).get_by_test_id("display-name")).to_have_text("Zoë Zed")
    close_sidebar(bob, phone)
    zoe.say("after the change")
    expect(author_of(bob, "after the change")).to_have_text(f"Zoë Zed @{zoe_name}")
    expect(author_of(bob, "hej from zoë")).to_have_text(f"zoë @{zoe_name}")  # sent with the old name
    expect(zoe.tid("connection-status")).to_have_attribute("data-state", "online")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_refused_display_name_is_explained_next_to_the_field_and_nothing_is_created(
    stack: Stack, open_page, size
) -> None:
    chat = open_page(**(PHONE if size == "phone" else {}))
    chat.page.goto(stack.url)
    expect(chat.tid("auth-display-name-hint")).to_contain_text("any script")
    name = unique("eve")
    chat.tid("auth-username").fill(name)
    chat.tid("auth-password").fill(PASSWORD)
    chat.tid("auth-display-name").fill("Mallory\u202egnp.exe")  # a right-to-left override
    chat.tid("auth-signup").click()
    error = chat.tid("auth-display-name-error")
    expect(error).to_contain_text("Display name: must not hold invisible format characters such as bidi controls")
    expect(error).not_to_contain_text("Mallory")
    expect(chat.tid("auth-display-name")).to_have_attribute("aria-invalid", "true")
    expect(chat.tid("chat-view")).to_be_hidden()
    box = error.bounding_box()
    assert box and box["x"] + box["width"] <= chat.page.viewport_size["width"], box
    chat.tid("auth-display-name").fill("José")
    chat.tid("auth-signup").click()
    chat.wait_online()
    expect(chat.tid("current-user")).to_contain_text("José")


def test_account_refuses_a_bad_name_beside_the_field_and_clearing_it_shows_the_username(stack: Stack, open_page) -> None:
    chat = open_page()
    name = unique("ana")
    sign_up_as(chat, stack.url, name, "日本")
    chat.tid("account-open").click()
    field = chat.tid("display-name-input")
    field.fill("ab\u200bcd")  # a zero-width space
    chat.tid("save-display-name").click()
    expect(chat.tid("display-name-error")).to_contain_text("zero-width")
    expect(field).to_have_attribute("aria-invalid", "true")
    field.fill("")
    chat.tid("save-display-name").click()
    expect(chat.tid("profile-status")).to_have_text(f"Saved: others now see you as {name}.")
    chat.tid("account-close").click()
    expect(chat.tid("current-user")).to_have_text(f"Signed in as {name}")
    chat.say("plain again")
    expect(author_of(chat, "plain again")).to_have_text(name)


def test_a_display_name_is_text_never_html(stack: Stack, open_page) -> None:
    hostile = '<img src=x onerror="window.__owned=1">'
    mallory, bob = open_page(), open_page()
    mallory_name = unique("mal")
    sign_up_as(mallory, stack.url, mallory_name, hostile)
    bob.sign_up(stack.url, unique("bob"))
    mallory.say("hello")
    expect(author_of(bob, "hello").get_by_test_id("display-name")).to_have_text(hostile)
    expect(bob.online(mallory_name).get_by_test_id("display-name")).to_have_text(hostile)
    assert bob.tid("message-list").locator("img").count() == 0
    assert bob.tid("online-users").locator("img").count() == 0
    assert bob.page.evaluate("() => window.__owned") is None
