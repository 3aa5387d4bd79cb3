"""Direct messages, private rooms, members and unread badges in a real browser (issue 10), against the local stack.

Every user is a browser context of their own; controls are found by their accessible roles and names.
"""

from __future__ import annotations

import re

from playwright.sync_api import WebSocketRoute, expect

from tests.browser.pagekit import WS_URL, ChatPage, Stack, exactly_once, unique


def badge(chat: ChatPage, label: str, section: str = "Direct messages"):
    return chat.conversation(label, section).get_by_test_id("room-unread")


# ---------------------------------------------------------------- direct messages
def test_a_direct_message_raises_an_unread_badge_on_every_device_until_read(stack: Stack, open_page) -> None:
    alice, bob, bob_phone = open_page(), open_page(), open_page()
    alice.sign_up(stack.url, unique("alice"))
    bob.sign_up(stack.url, unique("bob"))
    bob_phone.log_in(stack.url, bob.username)  # bob's second device

    # The very first direct message reaches bob, who never talked to alice and joined nothing.
    bob.conversation("#general", "Rooms").focus()  # bob moves around the sidebar with the keyboard
    alice.open_direct(bob.username)
    alice.say("are you free at 3?")
    alice.say("it's about the launch")
    for device in (bob, bob_phone):
        expect(device.conversation(alice.username)).to_be_visible()
        expect(badge(device, alice.username)).to_have_text("2")
        expect(device.conversation(alice.username)).to_have_accessible_name(f"{alice.username}, online, 2 unread")
        expect(device.tid("room-title")).to_have_text("#general")  # nothing switched under the user
        expect(device.messages("are you free at 3?")).to_have_count(0)
    expect(bob.conversation("#general", "Rooms")).to_be_focused()  # the redrawn sidebar kept his place

    # Bob reads it on his laptop: the badge goes there, on his phone (a read frame) and alice sees a receipt.
    bob.conversation(alice.username).click()
    expect(bob.tid("room-title")).to_have_text(alice.username)
    exactly_once(bob, "are you free at 3?")
    exactly_once(bob, "it's about the launch")
    expect(badge(bob, alice.username)).to_have_text("")
    expect(badge(bob_phone, alice.username)).to_have_text("")
    expect(alice.tid("read-receipt")).to_have_text(f"Seen by {bob.username}")

    # Bob answers; alice, who is in the conversation, reads it at once.
    bob.say("yes, 3 works")
    exactly_once(alice, "yes, 3 works")
    expect(badge(alice, bob.username)).to_have_text("")
    # Alice writes while bob looks at another room: her newest message is not "seen" until he opens it.
    bob.conversation("#general", "Rooms").click()
    alice.say("see you then")
    expect(badge(bob, alice.username)).to_have_text("1")
    expect(alice.tid("read-receipt")).to_be_hidden()
    bob.page.wait_for_timeout(500)
    expect(alice.tid("read-receipt")).to_be_hidden()
    bob.conversation(alice.username).click()
    expect(alice.tid("read-receipt")).to_be_visible()
    expect(alice.tid("read-receipt")).to_have_text(f"Seen by {bob.username}")


def test_unread_counts_come_back_from_the_server_after_a_reload(stack: Stack, open_page) -> None:
    alice, bob = open_page(), open_page()
    alice.sign_up(stack.url, unique("alice"))
    bob.sign_up(stack.url, unique("bob"))
    alice.open_direct(bob.username)
    for i in range(3):
        alice.say(f"ping {i}")
    expect(badge(bob, alice.username)).to_have_text("3")

    bob.page.reload()  # a new page knows nothing: the list and the counts come from the server
    bob.wait_online()
    expect(badge(bob, alice.username)).to_have_text("3")
    bob.conversation(alice.username).click()
    exactly_once(bob, "ping 2")
    expect(badge(bob, alice.username)).to_have_text("")
    bob.page.reload()  # in the conversation: the page reopens it
    bob.wait_online()
    expect(bob.tid("room-title")).to_have_text(alice.username)
    exactly_once(bob, "ping 2")
    expect(bob.page).to_have_title(f"{alice.username} · Parley")
    bob.conversation("#general", "Rooms").click()
    bob.page.reload()  # elsewhere: the count comes from the server, and the read position was stored
    bob.wait_online()
    expect(bob.conversation(alice.username)).to_be_visible()
    bob.page.wait_for_timeout(300)
    expect(badge(bob, alice.username)).to_have_text("")


def test_new_direct_message_explains_what_is_wrong(stack: Stack, open_page) -> None:
    alice = open_page()
    alice.sign_up(stack.url, unique("alice"))
    page = alice.page
    page.get_by_role("button", name="New direct message").click()
    box = page.get_by_role("textbox", name="Username to message")
    box.fill("nobody_" + unique("x")[-8:])
    page.get_by_role("button", name="Open", exact=True).click()
    expect(alice.tid("dm-error")).to_have_text(re.compile("^There is no user called"))
    expect(box).to_have_attribute("aria-invalid", "true")
    box.fill(alice.username)
    page.get_by_role("button", name="Open", exact=True).click()
    expect(alice.tid("dm-error")).to_have_text("That is you: pick someone else.")
    box.press("Escape")
    expect(alice.tid("dm-form")).to_be_hidden()
    expect(alice.tid("room-title")).to_have_text("#general")


# ---------------------------------------------------------------- private rooms
def test_private_room_owner_adds_and_removes_and_the_removed_view_updates_at_once(
    stack: Stack, open_page
) -> None:
    alice, bob, carol = open_page(), open_page(), open_page()
    for chat, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        chat.sign_up(stack.url, unique(name))
    room = unique("plans").lower()
    alice.create_private_room(room)
    expect(alice.conversation(f"#{room}", "Rooms")).to_have_accessible_name(f"#{room}, private")
    members = alice.page.get_by_role("region", name=f"Members of #{room}")
    expect(members).to_be_visible()  # opened for the owner, to add people
    alice.add_member(bob.username)
    alice.add_member(carol.username)
    expect(alice.page.get_by_role("button", name=re.compile(r"^Members"))).to_have_text("Members (3)")

    # Added users see the room at once, and its messages arrive without joining; a closed room counts unread.
    for chat in (bob, carol):
        expect(chat.conversation(f"#{room}", "Rooms")).to_be_visible()
        expect(chat.tid("notice")).to_contain_text(f"added you to #{room}")
    alice.say("the plan, for members only")
    expect(badge(carol, f"#{room}", "Rooms")).to_have_text("1")
    bob.conversation(f"#{room}", "Rooms").click()
    exactly_once(bob, "the plan, for members only")

    # Only the owner manages members: bob sees who is in, no add box and no remove buttons.
    bob.page.get_by_role("button", name=re.compile(r"^Members")).click()
    bob_members = bob.page.get_by_role("region", name=f"Members of #{room}")
    expect(bob_members.get_by_text(alice.username, exact=True)).to_be_visible()
    expect(bob.page.get_by_role("textbox", name="Add a member")).to_be_hidden()
    expect(bob_members.get_by_role("button", name=re.compile("^Remove"))).to_have_count(0)

    # Alice removes bob: his view changes at once, and nothing more reaches him.
    alice.page.get_by_role("button", name=f"Remove {bob.username}").click()
    alice.confirm()
    expect(members.get_by_text(bob.username, exact=True)).to_have_count(0)
    expect(bob.tid("access-note")).to_be_visible()
    expect(bob.tid("access-note")).to_contain_text("no longer a member")
    expect(bob.page.get_by_role("textbox", name="Message")).to_be_disabled()
    expect(bob.page.get_by_role("button", name="Send")).to_be_disabled()
    expect(bob_members).to_be_hidden()
    expect(bob.page.get_by_role("button", name=re.compile(r"^Members"))).to_be_hidden()
    expect(bob.conversation(f"#{room}", "Rooms")).to_contain_text("removed")
    alice.say("after bob left")
    expect(badge(carol, f"#{room}", "Rooms")).to_have_text("2")
    bob.page.wait_for_timeout(700)
    expect(bob.messages("after bob left")).to_have_count(0)
    expect(badge(bob, f"#{room}", "Rooms")).to_have_text("")

    # He closes the conversation: it leaves his list and he is back in #general.
    bob.page.get_by_role("button", name="Close conversation").click()
    expect(bob.conversation(f"#{room}", "Rooms")).to_have_count(0)
    expect(bob.tid("room-title")).to_have_text("#general")
    expect(bob.page.get_by_role("textbox", name="Message")).to_be_enabled()

    # Added back, he sees the room again and may write in it.
    alice.add_member(bob.username)
    bob.conversation(f"#{room}", "Rooms").click()
    expect(bob.tid("access-note")).to_be_hidden()
    bob.say("glad to be back")
    exactly_once(alice, "glad to be back")


def test_a_member_leaves_and_the_owner_errors_are_clear(stack: Stack, open_page) -> None:
    alice, carol = open_page(), open_page()
    alice.sign_up(stack.url, unique("alice"))
    carol.sign_up(stack.url, unique("carol"))
    room = unique("team").lower()
    alice.create_private_room(room)

    page = alice.page
    page.get_by_role("textbox", name="Add a member").fill("nobody_" + unique("x")[-8:])
    page.get_by_role("button", name="Add", exact=True).click()
    expect(alice.tid("members-error")).to_have_text(re.compile("^There is no user called"))
    alice.add_member(carol.username)
    expect(alice.tid("members-error")).to_have_text("")

    # A name that is taken, public or private, is refused with a sentence that says so.
    for taken in ("general", room):
        page.get_by_role("button", name="New private room").click()
        page.get_by_role("textbox", name="Private room name").fill(taken)
        page.get_by_role("button", name="Create", exact=True).click()
        expect(alice.tid("room-form-error")).to_have_text(f"A room called #{taken} already exists: pick another name.")
        page.get_by_role("textbox", name="Private room name").press("Escape")
    page.get_by_role("button", name="New private room").click()
    page.get_by_role("textbox", name="Private room name").fill("dm-not-mine")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(alice.tid("room-form-error")).to_contain_text("kept for direct messages")
    page.get_by_role("textbox", name="Private room name").press("Escape")

    # Carol leaves: the room goes from her list, and alice's panel no longer lists her.
    carol.conversation(f"#{room}", "Rooms").click()
    carol.page.get_by_role("button", name=re.compile(r"^Members")).click()
    carol.page.get_by_role("button", name="Leave room").click()
    carol.confirm()
    expect(carol.conversation(f"#{room}", "Rooms")).to_have_count(0)
    expect(carol.tid("room-title")).to_have_text("#general")
    alice.conversation(f"#{room}", "Rooms").click()
    members = alice.page.get_by_role("region", name=f"Members of #{room}")
    if not members.is_visible():
        alice.page.get_by_role("button", name=re.compile(r"^Members")).click()
    expect(members.get_by_text(carol.username, exact=True)).to_have_count(0)
    expect(alice.page.get_by_role("button", name=re.compile(r"^Members"))).to_have_text("Members (1)")


def test_an_outsider_typing_a_private_rooms_name_is_refused_and_sees_nothing(stack: Stack, open_page) -> None:
    alice, dan = open_page(), open_page()
    alice.sign_up(stack.url, unique("alice"))
    dan.sign_up(stack.url, unique("dan"))
    room = unique("vault").lower()
    alice.create_private_room(room)
    alice.say("not for dan")
    dan.tid("join-room-input").fill(room)
    dan.tid("join-room-input").press("Enter")
    expect(dan.tid("notice")).to_have_text(f"#{room} is a private room: only its members can open it.")
    expect(dan.conversation(f"#{room}", "Rooms")).to_have_count(0)
    expect(dan.tid("room-title")).to_have_text("#general")
    dan.page.wait_for_timeout(500)
    expect(dan.messages("not for dan")).to_have_count(0)


def test_when_the_owner_leaves_the_longest_member_manages_the_room(stack: Stack, open_page) -> None:
    alice, bob, carol = open_page(), open_page(), open_page()
    for chat, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        chat.sign_up(stack.url, unique(name))
    room = unique("guild").lower()
    alice.create_private_room(room)
    alice.add_member(bob.username)
    alice.add_member(carol.username)
    bob.conversation(f"#{room}", "Rooms").click()
    bob.page.get_by_role("button", name=re.compile(r"^Members")).click()
    panel = bob.page.get_by_role("region", name=f"Members of #{room}")
    expect(panel.get_by_text(carol.username, exact=True)).to_be_visible()  # memberAdded reached bob too
    expect(bob.page.get_by_role("textbox", name="Add a member")).to_be_hidden()

    alice.page.get_by_role("button", name="Leave room").click()
    alice.confirm()
    expect(alice.conversation(f"#{room}", "Rooms")).to_have_count(0)
    # Bob, in the room longest after alice, is its owner now: his open panel says so and lets him manage it.
    expect(bob.tid("members-summary")).to_have_text("2 members · owner: you")
    expect(panel.get_by_text(alice.username, exact=True)).to_have_count(0)
    expect(bob.page.get_by_role("textbox", name="Add a member")).to_be_visible()
    bob.page.get_by_role("button", name=f"Remove {carol.username}").click()
    bob.confirm()
    expect(carol.conversation(f"#{room}", "Rooms")).to_contain_text("removed")


def test_phone_width_sidebar_sections_and_members_panel_fit(stack: Stack, open_page) -> None:
    bob = open_page()
    bob.sign_up(stack.url, unique("bob"))
    phone = open_page(viewport={"width": 375, "height": 720}, is_mobile=True, has_touch=True)
    phone.sign_up(stack.url, unique("alice_long_name"))
    phone.tid("sidebar-toggle").click()
    expect(phone.page.get_by_role("list", name="Direct messages")).to_be_in_viewport()
    phone.create_private_room("a-private-room-with-a-name-that-goes-on-and-on")  # closes the sidebar
    phone.add_member(bob.username)
    panel = phone.page.get_by_role("region", name=re.compile("^Members of"))
    for part in (panel, phone.page.get_by_role("button", name=f"Remove {bob.username}")):
        box = part.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, box
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 375
    phone.page.keyboard.press("Escape")  # the panel closes from the keyboard, focus back on its button
    expect(panel).to_be_hidden()
    expect(phone.page.get_by_role("button", name=re.compile(r"^Members"))).to_be_focused()


def test_what_changed_while_the_socket_was_down_shows_after_it_comes_back(stack: Stack, open_page) -> None:
    gate = {"closed": False}

    def through_gate(ws: WebSocketRoute) -> None:
        if gate["closed"]:  # bob's network is down: new sockets fail (the server is untouched)
            ws.close(code=4001, reason="network down (test)")
            return
        ws.connect_to_server()

    alice, bob = open_page(), open_page()
    bob.page.route_web_socket(WS_URL, through_gate)
    alice.sign_up(stack.url, unique("alice"))
    bob.sign_up(stack.url, unique("bob"))
    room = unique("ops").lower()
    alice.create_private_room(room)
    alice.add_member(bob.username)
    expect(bob.conversation(f"#{room}", "Rooms")).to_be_visible()

    (connection_id,) = stack.connection_ids(bob.username)
    gate["closed"] = True
    stack.drop(connection_id)
    expect(bob.tid("connection-status")).to_have_attribute("data-state", "reconnecting")
    # Meanwhile alice writes to him for the first time, and takes him out of the private room.
    alice.open_direct(bob.username)
    alice.say("while you were offline 1")
    alice.say("while you were offline 2")
    alice.conversation(f"#{room}", "Rooms").click()
    alice.page.get_by_role("button", name=re.compile(r"^Members")).click()
    alice.page.get_by_role("button", name=f"Remove {bob.username}").click()
    alice.confirm()
    expect(alice.page.get_by_role("button", name=re.compile(r"^Members"))).to_have_text("Members (1)")
    expect(bob.conversation(alice.username)).to_have_count(0)

    gate["closed"] = False
    expect(bob.tid("connection-status")).to_have_attribute("data-state", "online", timeout=40_000)
    expect(badge(bob, alice.username)).to_have_text("2")  # the rooms list after the reconnect says so
    expect(bob.conversation(f"#{room}", "Rooms")).to_contain_text("removed")
    bob.conversation(alice.username).click()
    exactly_once(bob, "while you were offline 2")
    expect(badge(bob, alice.username)).to_have_text("")
