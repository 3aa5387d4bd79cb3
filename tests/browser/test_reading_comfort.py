"""Issue 23, "Reading comfort": one person's consecutive messages within a few minutes under one name and time,
day separators ("Today", "Yesterday", a date), and generated avatars (initials on a colour from the user id)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.browser.pagekit import Stack, unique

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_runs_of_messages_share_a_name_and_days_are_separated(stack: Stack, open_page, size) -> None:
    room = unique("comfort").lower()
    with stack.client(unique("mary-jane")) as mary, stack.client() as other:
        mary.join(room)
        other.join(room)
        mary.say(room, "first of a run")
        mary.say(room, "second of a run")
        other.say(room, "someone else")
        mary.say(room, "mary again")
        mary_name, mary_id, other_id = mary.user["username"], mary.user["id"], other.user["id"]
    reader = open_page(**(PHONE if size == "phone" else {}))
    reader.sign_up(stack.url, unique("reader"))
    if size == "phone":
        reader.tid("sidebar-toggle").click()
    reader.tid("join-room-input").fill(room)
    reader.tid("join-room-input").press("Enter")
    expect(reader.messages("mary again")).to_have_count(1)

    def message(text):
        return reader.tid("message").filter(has_text=text)

    # one name and time for mary's run; the next person, and mary after them, show theirs
    expect(message("first of a run").get_by_test_id("message-author")).to_be_visible()
    expect(message("second of a run")).to_have_class("message continued")
    assert message("second of a run").get_by_test_id("message-author").bounding_box()["width"] <= 1
    expect(message("someone else")).not_to_have_class("message continued")
    expect(message("mary again")).not_to_have_class("message continued")
    # the author is still there for screen readers
    expect(message("second of a run").get_by_test_id("message-author")).to_have_text(mary_name)

    # generated avatars: initials on a colour that depends on the user id only
    avatar = message("first of a run").get_by_test_id("avatar")
    expect(avatar).to_have_text("MJ")
    colour = avatar.evaluate("e => getComputedStyle(e).backgroundColor")
    again = message("mary again").get_by_test_id("avatar").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == again and colour not in ("rgba(0, 0, 0, 0)", "transparent")
    expect(reader.tid("day-separator")).to_have_text(["Today"])

    # other days: the page's own dayLabel (the module as published, under its hashed name)
    labels = reader.page.evaluate(
        """async () => {
            const url = performance.getEntriesByType("resource").map((e) => e.name).find((n) => /\\/timeline[.-]/.test(n));
            const { dayLabel } = await import(url);
            const now = new Date(2026, 2, 4, 9, 30);
            return [new Date(2026, 2, 4, 0, 5), new Date(2026, 2, 3, 23, 55), new Date(2026, 1, 20, 12), new Date(2025, 11, 31, 12)]
              .map((d) => dayLabel(d, now));
        }"""
    )
    assert labels[:2] == ["Today", "Yesterday"], labels
    assert "20" in labels[2] and "2026" not in labels[2], labels  # this year's date: no year
    assert "2025" in labels[3], labels

