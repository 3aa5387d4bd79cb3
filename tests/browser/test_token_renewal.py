"""Token renewal on the page (issue 11): renewed before it expires, the socket replaced by one with the new
token without the user (or anyone in the room) noticing; a refused renewal signs out visibly. A stack of its own with 60 s tokens (one
gateway per process, so this module's ``stack`` replaces the shared one)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import running_stack
from tests.browser.pagekit import Stack, unique
from tests.browser.test_account_page import me, watch_status

SHORT_TTL = 60  # the shortest TOKEN_TTL_SECONDS allowed: the page renews it after half its life


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(functions_env={"TOKEN_TTL_SECONDS": str(SHORT_TTL)}) as started:
        yield started


def test_the_token_is_renewed_quietly_and_a_refused_renewal_signs_out(stack: Stack, open_page) -> None:
    from parley.adapters import mongo

    kept, ended, other = open_page(), open_page(), open_page()
    kept.sign_up(stack.url, unique("ida"))
    ended.sign_up(stack.url, unique("jon"))
    other.sign_up(stack.url, unique("kim"))
    first = kept.session_token()
    watch_status(kept)
    expect(other.online(kept.username)).to_be_visible()
    # the others must never see her go offline: sample kim's list of who is online every 50 ms
    other.page.evaluate("""name => {
        window.__absent = 0;
        setInterval(() => {
            if (!document.querySelector(`[data-testid="online-user"][data-username="${name}"]`)) window.__absent += 1;
        }, 50);
    }""", kept.username)
    # end jon's session behind the page's back (no socket is closed): only the renewal can find out
    env = stack.gateway.function_env["AuthFunction"]
    db = mongo.database(env["MONGODB_URI"], env["MONGODB_DB"])
    db.users.update_one({"username": ended.username}, {"$set": {"sessions": []}})

    deadline = time.monotonic() + SHORT_TTL // 2 + 15
    while kept.session_token() == first:  # a new socket, with a renewed token
        assert time.monotonic() < deadline, "the token was not renewed"
        kept.page.wait_for_timeout(250)
    expect(ended.tid("auth-view")).to_be_visible(timeout=15_000)
    expect(ended.tid("auth-error")).to_have_text("Your session has ended. Log in again.")

    renewed = kept.session_token()
    assert me(stack, renewed) == 200
    expect(other.online(kept.username)).to_be_visible()
    kept.page.wait_for_timeout(6500)  # the new socket is joined and the old one retired (5 s overlap)
    assert other.page.evaluate("window.__absent") == 0
    assert len(stack.connection_ids(kept.username)) == 1  # the old socket is gone
    assert kept.page.evaluate("window.__states").count("reconnecting") == 0
    assert set(kept.page.evaluate("window.__states")) <= {"online"}
    # the new socket carries the new token: messages flow both ways past the first token's expiry
    kept.page.wait_for_timeout(max(0, 1000 * SHORT_TTL // 2 - 1000))
    kept.say("after the first token expired")
    expect(other.messages("after the first token expired")).to_have_count(1)
