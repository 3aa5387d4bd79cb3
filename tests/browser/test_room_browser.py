"""Issue 23, "A room browser": the public rooms with their member counts and last activity, searchable by name,
joinable in one click; at desktop and phone size."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.pagekit import Stack, unique

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_public_rooms_are_listed_searched_and_joined_in_one_click(stack: Stack, open_page, size) -> None:
    tag = unique("b").lower()
    busy, quiet = f"{tag}-busy", f"{tag}-quiet"
    with stack.client() as pat, stack.client() as sam:
        pat.join(quiet)
        pat.join(busy)
        sam.join(busy)
        pat.say(busy, "hello")
    ivy = open_page(**(PHONE if size == "phone" else {}))
    ivy.sign_up(stack.url, unique("ivy"))
    if size == "phone":
        ivy.tid("sidebar-toggle").click()
    ivy.page.get_by_role("button", name="Browse public rooms").click()
    dialog = ivy.page.get_by_role("dialog", name="Public rooms")
    expect(dialog).to_be_visible()
    rooms = dialog.get_by_test_id("browse-room")
    busy_item = rooms.filter(has_text=f"#{busy}")
    expect(busy_item.get_by_test_id("browse-room-meta")).to_have_text("2 members · active just now")
    expect(rooms.filter(has_text=f"#{quiet}").get_by_test_id("browse-room-meta")).to_contain_text("1 member ·")
    # most recently active first: busy (a message) before quiet
    names = [n for n in rooms.locator(".name").all_inner_texts() if tag in n]
    assert names == [f"#{busy}", f"#{quiet}"], names
    box = dialog.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= ivy.page.viewport_size["width"], box

    ivy.tid("browse-search").fill(f"{tag}-qu")
    expect(rooms).to_have_count(1)
    expect(rooms).to_contain_text(f"#{quiet}")
    ivy.tid("browse-search").fill("no-such-room-anywhere")
    expect(rooms).to_have_count(0)
    expect(ivy.tid("browse-status")).to_contain_text("No room matches")
    ivy.tid("browse-search").fill(busy)
    dialog.get_by_role("button", name=f"Join #{busy}").click()
    expect(dialog).to_be_hidden()
    expect(ivy.tid("room-title")).to_have_text(f"#{busy}")
    expect(ivy.messages("hello")).to_have_count(1)
    expect(ivy.tid("room-list").locator(f'[data-room="{busy}"]')).to_have_count(1)

    # Reopened, a room already in the list offers Open instead of Join.
    if size == "phone":
        ivy.tid("sidebar-toggle").click()
    ivy.page.get_by_role("button", name="Browse public rooms").click()
    expect(dialog.get_by_role("button", name=f"Open #{busy}")).to_be_visible()
    expect(dialog.get_by_role("button", name=f"Join #{quiet}")).to_be_visible()
    ivy.tid("browse-close").click()
    expect(dialog).to_be_hidden()
