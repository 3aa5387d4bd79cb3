"""Issue 23: a restart of a server whose database is the embedded in-memory one takes every account with it; the
page said only "Your session has ended". It now says that the server was reset and the data went with it, both
to a page left open (its socket comes back to a server that knows nobody) and to one reloaded afterwards."""

from __future__ import annotations

import socket

from playwright.sync_api import Browser, expect

from tests.browser.conftest import running_stack
from tests.browser.pagekit import ChatPage, unique

RESET = "The server was restarted, and its database was kept in memory"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_restart_of_the_in_memory_server_says_the_data_went_with_it(browser: Browser) -> None:
    port = free_port()
    pages = []
    for size in ({}, {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}):
        context = browser.new_context(**size)
        chat = ChatPage(page=context.new_page(), context=context)
        chat.watch()
        pages.append(chat)
    left_open, reloaded = pages
    try:
        with running_stack(port=port) as first:
            left_open.sign_up(first.url, unique("ann"))
            reloaded.sign_up(first.url, unique("ben"))
            reloaded.wait_online()
            reloaded.page.close()  # ben comes back after the restart
        with running_stack(port=port) as second:
            expect(left_open.tid("auth-view")).to_be_visible(timeout=60_000)
            expect(left_open.tid("auth-error")).to_contain_text(RESET)
            back = ChatPage(page=reloaded.context.new_page(), context=reloaded.context)
            back.watch()
            back.page.goto(second.url)
            expect(back.tid("auth-view")).to_be_visible()
            expect(back.tid("auth-error")).to_contain_text(RESET)
            back.page.reload()  # said once: the next visit is an ordinary sign-in page
            expect(back.tid("auth-view")).to_be_visible()
            expect(back.tid("auth-error")).not_to_contain_text(RESET)
    finally:
        for chat in pages:
            chat.context.close()
