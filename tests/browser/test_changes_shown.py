"""Issue 21, the page: what changes show ("(edited)", tombstones, reaction chips that toggle and name who reacted),
another user's changes arriving live (messageUpdated, the higher version kept), and `sync` bringing back what
changed while the page was closed or cut off. At desktop and phone (390×844) sizes."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import WebSocketRoute, expect

from tests.browser.messagekit import SIZES, by_id, join, open_in_room, sent_frames
from tests.browser.pagekit import WS_URL, Stack, unique


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

        # a change of a message whose `message` frame has not come yet (frames of two invocations may cross): it
        # is shown, and the `message` frame that comes after it, an older version, changes nothing
        crossed = {**second, "id": "f" * 22 + "01", "clientMsgId": None, "text": "reacted to already", "version": 2}
        sockets[-1].send(json.dumps({"type": "messageUpdated", "message": crossed}))
        expect(chat.messages("reacted to already")).to_have_count(1)
        sockets[-1].send(json.dumps({"type": "message", "message": {**crossed, "text": "as first sent", "version": 1}}))
        chat.page.wait_for_timeout(700)
        assert chat.messages("as first sent").count() == 0
        expect(chat.messages("reacted to already")).to_have_count(1)


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
