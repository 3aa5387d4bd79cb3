"""The web page under the per-connection rate limit (issue 11, finding 6): a message the server refuses with
rate_limited stays pending and goes out by itself after retryAfterMs, under the same clientMsgId, exactly once.
A stack of its own with a tiny limit (3 messages per 3 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import running_stack
from tests.browser.pagekit import Stack, message_texts, unique


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(parameter_overrides={"SendMessageLimit": "3", "RateLimitWindowSeconds": "3"}) as started:
        yield started


def test_a_rate_limited_message_is_sent_again_by_itself_and_shows_once(stack: Stack, open_page) -> None:
    alice, bob = open_page(), open_page()
    alice.sign_up(stack.url, unique("alice"))
    bob.sign_up(stack.url, unique("bob"))
    texts = [f"quick {i}" for i in range(5)]
    box = alice.tid("composer-input")
    for text in texts:  # faster than the limit allows: the 4th and 5th are refused at first
        box.fill(text)
        box.press("Enter")
    expect(alice.tid("notice")).to_contain_text("Sending too fast")
    for chat in (alice, bob):
        for text in texts:
            expect(chat.messages(text)).to_have_count(1, timeout=15_000)
    expect(alice.page.locator('[data-status="failed"]')).to_have_count(0)
    expect(alice.page.locator('[data-status="pending"]')).to_have_count(0)
    assert message_texts(bob)[-5:] == texts
