"""The web page under the per-connection rate limit (issue 11, finding 6): a message the server refuses with
rate_limited stays pending and goes out by itself after retryAfterMs, under the same clientMsgId, exactly once.
A stack of its own with a tiny limit (3 messages per 3 s)."""

from __future__ import annotations

import time
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


def test_a_burst_past_the_limit_is_stored_in_the_order_it_was_typed(stack: Stack, open_page) -> None:
    """Issue 21: the outbox sends strictly in order. A message typed while earlier ones are held back by the rate
    limit waits behind them, even once the server would take it: here the page's timers stop while it holds them
    (as a throttled background tab's or a busy phone's do), the limit's window passes, and one more is typed."""
    alice = open_page()
    alice.page.clock.install()  # the page's own timers, under the test's control; time runs as usual until paused
    alice.sign_up(stack.url, unique("alice"))
    texts = [f"in order {i}" for i in range(6)]
    box = alice.tid("composer-input")
    with stack.client() as reader:
        reader.join("general")
        for text in texts[:5]:  # faster than 3 per 3 s: the 4th and 5th are held back
            box.fill(text)
            box.press("Enter")
        expect(alice.tid("notice")).to_contain_text("Sending too fast")
        alice.page.clock.pause_at(time.time() + 0.5)  # before the held message's wait (about 3 s) is over
        time.sleep(3.5)  # the server's window has passed: it would take a message now
        box.fill(texts[5])
        box.press("Enter")
        alice.page.wait_for_timeout(1000)  # an overtaking send would be stored by now
        alice.page.clock.resume()
        for text in texts:
            expect(alice.messages(text).and_(alice.page.locator('[data-status="sent"]'))).to_have_count(1, timeout=15_000)
        stored = [m["text"] for m in reader.history("general") if m["text"] in texts]
    assert stored == texts  # in the order typed, each once
