"""The page's session UI (issue 11): weak-password reasons, log-out on the server, log out everywhere and
password change, in Debian's chromium. Token renewal: tests/browser/test_token_renewal.py."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.browser.pagekit import PASSWORD, ChatPage, Stack, unique

NEW_PASSWORD = "velvet otter climbs 9 hills"


def me(stack: Stack, token: str) -> int:
    return httpx.get(f"{stack.url}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def watch_status(chat: ChatPage) -> None:
    """Record every state the connection badge shows (a renewal must not show any but 'online')."""
    chat.page.evaluate("""() => {
        window.__states = [];
        const badge = document.getElementById('connection-status');
        new MutationObserver(() => window.__states.push(badge.dataset.state))
            .observe(badge, {attributes: true, attributeFilter: ['data-state']});
    }""")


def test_a_weak_password_is_refused_with_the_reason_next_to_it(stack: Stack, open_page) -> None:
    chat = open_page()
    chat.page.goto(stack.url)
    name = unique("erin")
    chat.tid("auth-username").fill(name)
    chat.tid("auth-password").fill("password1")
    chat.tid("auth-signup").click()
    expect(chat.tid("auth-password-error")).to_contain_text("too easy to guess")
    chat.tid("auth-password").fill(f"{name}-2024")
    chat.tid("auth-signup").click()
    expect(chat.tid("auth-password-error")).to_contain_text("must not contain your username")
    chat.tid("auth-password").fill(PASSWORD)
    chat.tid("auth-signup").click()
    chat.wait_online()


def test_log_out_ends_the_token_on_the_server(stack: Stack, open_page) -> None:
    chat = open_page()
    chat.sign_up(stack.url, unique("fay"))
    token = chat.session_token()
    assert me(stack, token) == 200
    chat.tid("logout").click()
    expect(chat.tid("auth-view")).to_be_visible()
    for _ in range(50):
        if me(stack, token) == 401:
            break
        chat.page.wait_for_timeout(100)
    assert me(stack, token) == 401


def test_log_out_everywhere_signs_out_every_page_visibly(stack: Stack, open_page) -> None:
    here, there = open_page(), open_page()
    name = unique("gus")
    here.sign_up(stack.url, name)
    there.log_in(stack.url, name)
    tokens = [here.session_token(), there.session_token()]
    here.tid("account-open").click()
    expect(here.tid("account-dialog")).to_be_visible()
    here.tid("logout-all").click()
    expect(here.tid("auth-view")).to_be_visible()
    expect(here.tid("auth-error")).to_have_text("You logged out everywhere.")
    # the other page's socket is closed by the server; its reconnect is refused: it signs out and says why
    expect(there.tid("auth-view")).to_be_visible(timeout=15_000)
    expect(there.tid("auth-error")).to_contain_text("session has ended")
    assert [me(stack, t) for t in tokens] == [401, 401]


def test_changing_the_password_keeps_this_page_and_signs_out_the_others(stack: Stack, open_page) -> None:
    here, there = open_page(), open_page()
    name = unique("hal")
    here.sign_up(stack.url, name)
    there.log_in(stack.url, name)
    here.tid("account-open").click()
    here.tid("current-password").fill("not the password")
    here.tid("new-password").fill(NEW_PASSWORD)
    here.tid("change-password").click()
    # under the current password, not under "Log out everywhere" (issue 23)
    expect(here.tid("current-password-error")).to_have_text("Your current password is not right.")
    expect(here.tid("account-error")).to_be_hidden()
    expect(here.tid("current-password")).to_have_attribute("aria-invalid", "true")
    below = here.tid("current-password-error").bounding_box()
    field = here.tid("current-password").bounding_box()
    submit = here.tid("change-password").bounding_box()
    assert below and field and submit and field["y"] < below["y"] < submit["y"], (field, below, submit)
    here.tid("current-password").fill(PASSWORD)
    here.tid("new-password").fill("12345678")
    here.tid("change-password").click()
    expect(here.tid("current-password-error")).to_be_empty()
    expect(here.tid("new-password-error")).to_contain_text("Too easy to guess")
    here.tid("new-password").fill(NEW_PASSWORD)
    here.tid("change-password").click()
    expect(here.tid("password-status")).to_contain_text("Password changed")
    expect(there.tid("auth-view")).to_be_visible(timeout=15_000)
    expect(there.tid("auth-error")).to_contain_text("session has ended")
    here.tid("account-close").click()
    here.say("still signed in after the change")
    there.log_in(stack.url, name, NEW_PASSWORD)


def test_the_page_keeps_its_device_cookie_and_sends_it_with_the_next_log_in(stack: Stack, open_page) -> None:
    """Issue 22 §4: the log-in's fetch must not omit credentials, or the browser drops the device cookie."""
    chat = open_page()
    name = unique("hal")
    chat.sign_up(stack.url, name)
    chat.tid("logout").click()
    expect(chat.tid("auth-view")).to_be_visible()
    chat.log_in(stack.url, name)
    (cookie,) = [c for c in chat.context.cookies() if "parley-device" in c["name"]]
    assert cookie["name"] == "parley-device" and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/auth/login" and not cookie["secure"]  # plain-HTTP localhost
    assert chat.page.evaluate("document.cookie") == ""  # scripts never see it
    chat.tid("logout").click()
    expect(chat.tid("auth-view")).to_be_visible()
    with chat.page.expect_request(lambda r: r.url.endswith("/auth/login")) as login_request:
        chat.log_in(stack.url, name)
    assert f"parley-device={cookie['value']}" in (login_request.value.all_headers().get("cookie") or "")
