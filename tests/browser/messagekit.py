"""Helpers for the tests of messages' actions and changes on the page (issue 21): a user's page in a room, a
message by id, a long press, a message's actions shown as its user would show them, the frames a page sends."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.browser.pagekit import ChatPage, Stack, unique

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SIZES = ["desktop", "phone"]


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
