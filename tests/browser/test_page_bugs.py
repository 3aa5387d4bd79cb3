"""Issue 23, "Bugs found": the owner's Members panel after a reload, DM presence in the sidebar, the page at phone
size (390×844), confirmation before removing or leaving."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.pagekit import ChatPage, Stack, unique

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def members_button(chat: ChatPage):
    return chat.page.get_by_role("button", name=re.compile(r"^Members"))


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_owner_sees_every_member_and_can_remove_them_after_a_reload(stack: Stack, open_page, size) -> None:
    alice = open_page(**(PHONE if size == "phone" else {}))
    alice.sign_up(stack.url, unique("alice"))
    names = [stack.signup(unique(n))["user"]["username"] for n in ("bob", "carol", "dave")]
    room = unique("design").lower()
    if size == "phone":
        alice.tid("sidebar-toggle").click()
    alice.create_private_room(room)
    for name in names:
        alice.add_member(name)
    alice.page.reload()  # nobody else is online: the frames that listed them are gone
    alice.wait_online()
    if size == "phone":
        alice.tid("sidebar-toggle").click()
    alice.conversation(f"#{room}", "Rooms").click()
    members_button(alice).click()
    panel = alice.page.get_by_role("region", name=f"Members of #{room}")
    expect(alice.tid("members-summary")).to_have_text("4 members · owner: you")
    for name in names:
        expect(panel.get_by_text(name, exact=True)).to_be_visible()
        expect(panel.get_by_role("button", name=f"Remove {name}")).to_be_visible()

    # Removing asks first; Cancel keeps the member.
    panel.get_by_role("button", name=f"Remove {names[0]}").click()
    expect(alice.page.get_by_role("dialog")).to_contain_text(f"Remove {names[0]}?")
    alice.confirm(yes=False)
    expect(panel.get_by_text(names[0], exact=True)).to_be_visible()
    panel.get_by_role("button", name=f"Remove {names[0]}").click()
    alice.confirm()
    expect(panel.get_by_text(names[0], exact=True)).to_have_count(0)
    expect(alice.tid("members-summary")).to_have_text("3 members · owner: you")

    if size == "phone":  # the panel sits above the messages, not over them
        alice.say("still readable")
        message = alice.messages("still readable").bounding_box()
        box = alice.tid("members-panel").bounding_box()
        assert message and box and message["y"] >= box["y"] + box["height"], (message, box)

    # Leaving asks too: Cancel stays in the room.
    alice.page.get_by_role("button", name="Leave room").click()
    expect(alice.page.get_by_role("dialog")).to_contain_text(f"Leave #{room}?")
    alice.confirm(yes=False)
    expect(alice.tid("room-list").locator(f'[data-room="{room}"]')).to_have_count(1)
    expect(alice.tid("room-title")).to_have_text(f"#{room}")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_direct_message_shows_whether_the_other_person_is_online(stack: Stack, open_page, size) -> None:
    alice, bob = open_page(**(PHONE if size == "phone" else {})), open_page()
    alice.sign_up(stack.url, unique("alice"))
    bob.sign_up(stack.url, unique("bob"))
    bob.open_direct(alice.username)
    bob.say("hello")
    if size == "phone":
        alice.tid("sidebar-toggle").click()
    item = alice.conversation(bob.username)
    expect(item).to_have_attribute("data-presence", "online")
    expect(item).to_have_accessible_name(re.compile(rf"^{bob.username}, online"))
    bob.page.close()
    expect(item).to_have_attribute("data-presence", "offline", timeout=20_000)
    expect(item).to_have_accessible_name(re.compile(rf"^{bob.username}, offline"))
    alice.page.reload()  # at the next visit, the list's direct rooms are joined for their presence
    alice.wait_online()
    bob2 = open_page()
    bob2.log_in(stack.url, bob.username)
    if size == "phone":
        alice.tid("sidebar-toggle").click()
    expect(alice.conversation(bob.username)).to_have_attribute("data-presence", "online")


def test_the_phone_header_keeps_the_name_and_the_menu_counts_unread(stack: Stack, open_page) -> None:
    carol = open_page(**PHONE)
    carol.sign_up(stack.url, unique("carol"))
    who = carol.tid("current-user")
    expect(who).to_contain_text(carol.username)
    assert who.evaluate("e => e.scrollWidth <= e.clientWidth"), "the user's name is cut"
    toggle = carol.tid("sidebar-toggle")
    expect(carol.tid("sidebar-badge")).to_be_hidden()
    with stack.client() as dan:
        dan.send(action="openDirect", username=carol.username)
        room = dan.wait_for(lambda f: f.get("type") == "direct")["room"]
        dan.say(room, "are you there?")
        expect(carol.tid("sidebar-badge")).to_have_text("1")
        expect(toggle).to_have_accessible_name("Rooms and people, 1 unread conversation")
        toggle.click()
        carol.conversation(dan.user["username"]).click()
        expect(carol.tid("room-title")).to_have_text(dan.user["username"])
        expect(carol.tid("sidebar-badge")).to_be_hidden()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_removed_user_no_longer_reads_that_they_were_added(stack: Stack, open_page, size) -> None:
    alice, bob = open_page(), open_page(**(PHONE if size == "phone" else {}))
    alice.sign_up(stack.url, unique("alice"))
    bob.sign_up(stack.url, unique("bob"))
    room = unique("design").lower()
    alice.create_private_room(room)
    alice.add_member(bob.username)
    expect(bob.tid("notice")).to_have_text(f"{alice.username} added you to #{room}.")
    if size == "phone":
        bob.tid("sidebar-toggle").click()
    bob.tid("room-list").locator(f'[data-room="{room}"]').click()
    alice.page.get_by_role("button", name=f"Remove {bob.username}").click()
    alice.confirm()
    expect(bob.tid("access-note")).to_contain_text("no longer a member")
    expect(bob.tid("notice")).to_be_hidden()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_sign_up_form_says_why_user_names_are_ascii(stack: Stack, open_page, size) -> None:
    """zoë was refused with "letters, digits…", though ë is a letter: the hint and the error now say which
    letters, and why."""
    chat = open_page(**(PHONE if size == "phone" else {}))
    chat.page.goto(stack.url)
    hint = chat.page.locator("#auth-username-hint")
    expect(hint).to_contain_text("letters a–z without accents")
    expect(hint).to_contain_text("look-alike letters")
    chat.tid("auth-username").fill("zoë")
    chat.tid("auth-password").fill("correct horse battery")
    chat.tid("auth-signup").click()
    expect(chat.tid("auth-username-error")).to_contain_text("letters a–z without accents")
    box = hint.bounding_box()
    assert box and box["x"] + box["width"] <= chat.page.viewport_size["width"], box
