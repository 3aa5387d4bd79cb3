"""A private room's owner may delete anyone's message there (docs/protocol.md, deleteMessage): the page offers
Delete (not Edit) on every message of the room to its owner, after a confirmation, after a reload, and to the next
owner once the owner leaves; a member who is not the owner is offered Delete on their own messages only."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.messagekit import by_id, open_actions
from tests.browser.pagekit import Stack, unique


def test_the_owner_of_a_private_room_deletes_a_members_message_and_a_member_cannot(stack: Stack, open_page) -> None:
    owner, member = open_page(), open_page()
    owner.sign_up(stack.url, unique("owner"))
    member.sign_up(stack.url, unique("member"))
    room = unique("den").lower()
    with stack.client(unique("bob"), display_name="Bob B") as bob:
        owner.create_private_room(room)
        owner.add_member(member.username)
        owner.page.get_by_role("textbox", name="Add a member").fill(bob.user["username"])
        owner.page.get_by_role("button", name="Add", exact=True).click()
        listed = owner.page.locator(f'[data-testid="member"][data-username="{bob.user["username"]}"]')
        expect(listed.get_by_test_id("display-name")).to_have_text("Bob B")
        bob.join(room)
        first = bob.say(room, "bob's first")
        second = bob.say(room, "bob's second")

        member.tid("room-list").locator(f'[data-room="{room}"]').click()
        expect(member.tid("room-title")).to_have_text(f"#{room}")
        member.say("the member's own")
        theirs = by_id(member, first["id"])
        expect(theirs).to_have_count(1)
        open_actions(member, "desktop", theirs)
        expect(theirs.get_by_test_id("action-reply")).to_be_visible()
        expect(theirs.get_by_test_id("action-delete")).to_have_count(0)  # not the owner: not someone else's
        expect(theirs.get_by_test_id("action-edit")).to_have_count(0)
        own = member.messages("the member's own")
        expect(own.get_by_test_id("action-delete")).to_have_count(1)  # their own, as anywhere

        message = by_id(owner, first["id"])
        expect(message).to_have_count(1)
        open_actions(owner, "desktop", message)
        expect(message.get_by_test_id("action-edit")).to_have_count(0)  # deleting, never editing, another's words
        message.get_by_test_id("action-delete").click()
        dialog = owner.page.get_by_role("dialog")
        expect(dialog).to_contain_text("Delete this message?")
        expect(dialog).to_contain_text(f"Bob B (@{bob.user['username']})'s message is deleted for everyone")
        owner.confirm(yes=True)
        expect(message.get_by_test_id("message-tombstone")).to_have_text("message deleted")
        gone = bob.wait_for(lambda f: f.get("type") == "messageUpdated" and f["message"]["id"] == first["id"])
        assert gone["message"].get("deleted") is True
        expect(by_id(member, first["id"]).get_by_test_id("message-tombstone")).to_have_text("message deleted")
        expect(member.messages("the member's own").get_by_test_id("action-delete")).to_have_count(1)

        # after a reload too (the owner comes with the rooms list)
        owner.page.reload()
        owner.wait_online()
        expect(owner.tid("room-title")).to_have_text(f"#{room}")
        again = by_id(owner, second["id"])
        expect(again).to_have_count(1)
        expect(again.get_by_test_id("action-delete")).to_have_count(1)
        expect(again.get_by_test_id("action-edit")).to_have_count(0)

        # the owner leaves: the member who has been in the room longest owns it now, and the messages on their
        # screen offer them Delete at once
        expect(by_id(member, second["id"]).get_by_test_id("action-delete")).to_have_count(0)
        owner.page.get_by_role("button", name=re.compile(r"^Members")).click()
        owner.page.get_by_role("button", name="Leave room").click()
        owner.confirm()
        now_theirs = by_id(member, second["id"])
        expect(now_theirs.get_by_test_id("action-delete")).to_have_count(1)
        expect(now_theirs.get_by_test_id("action-edit")).to_have_count(0)
    assert not owner.problems and not member.problems, owner.problems + member.problems
