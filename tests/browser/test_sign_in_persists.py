"""Issue 23, persistence of the sign-in: a new tab and a restarted browser are signed in (the session cookie),
no script-readable storage holds the token, and a log-out in one tab signs the others out."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.pagekit import ChatPage, Stack, unique
from tests.browser.test_account_page import me

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}

def signed_in(chat: ChatPage) -> None:
    chat.wait_online()
    expect(chat.tid("current-user")).to_contain_text(chat.username)
    expect(chat.tid("auth-view")).to_be_hidden()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_new_tab_and_a_restarted_browser_are_signed_in_and_a_log_out_reaches_every_tab(
    stack: Stack, open_page, size
) -> None:
    device = PHONE if size == "phone" else {}
    first = open_page(**device)
    first.sign_up(stack.url, unique("lea"))
    tab = first.new_tab()
    tab.page.goto(stack.url)
    signed_in(tab)
    assert me(stack, tab.session_token()) == 200 and me(stack, first.session_token()) == 200

    # the browser restarts: the context closes and a new one opens with what it saved (cookies, localStorage)
    saved = first.context.storage_state()
    assert first.session_token() not in json.dumps(saved) and tab.session_token() not in json.dumps(saved)
    (cookie,) = [c for c in saved["cookies"] if c["name"].endswith("parley-session")]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/auth/session"
    assert first.page.evaluate("document.cookie") == ""  # scripts cannot read it
    first.context.close()
    again = open_page(storage_state=saved, **device)
    again.username = first.username
    again.page.goto(stack.url)
    signed_in(again)
    expect(again.tid("auth-view")).to_be_hidden()

    # two tabs of the restarted browser: logging out in one signs the other out at once, visibly
    other = again.new_tab()
    other.page.goto(stack.url)
    signed_in(other)
    token = other.session_token()
    again.tid("logout").click()
    expect(again.tid("auth-view")).to_be_visible()
    expect(other.tid("auth-view")).to_be_visible()
    expect(other.tid("auth-error")).to_have_text("You logged out in another tab.")
    assert me(stack, token) == 401  # one session, ended on the server: the other tab's token too
    other.page.reload()
    expect(other.tid("auth-view")).to_be_visible()  # and no tab signs in again from the cookie
    expect(other.tid("auth-error")).to_be_hidden()


def test_a_log_in_in_one_tab_signs_in_the_tab_showing_the_form(stack: Stack, open_page) -> None:
    name = unique("max")
    stack.signup(name)
    waiting = open_page()
    waiting.page.goto(stack.url)
    expect(waiting.tid("auth-view")).to_be_visible()
    expect(waiting.tid("auth-error")).to_be_hidden()  # not signed in is no error
    tab = waiting.new_tab()
    tab.log_in(stack.url, name)
    waiting.username = name
    signed_in(waiting)


def test_a_session_ended_elsewhere_is_not_resumed_from_the_cookie(stack: Stack, open_page) -> None:
    chat = open_page()
    chat.sign_up(stack.url, unique("nia"))
    saved = chat.context.storage_state()
    chat.tid("account-open").click()
    chat.tid("logout-all").click()
    expect(chat.tid("auth-view")).to_be_visible()
    copy = open_page(storage_state=saved)  # a copy of the cookie from before: worth nothing now
    copy.page.goto(stack.url)
    expect(copy.tid("auth-view")).to_be_visible()
    copy.page.wait_for_timeout(500)
    expect(copy.tid("chat-view")).to_be_hidden()
