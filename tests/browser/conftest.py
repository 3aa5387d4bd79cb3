"""Fixtures for the web page's tests: the whole stack on a free port (the local gateway serving template.yaml)
and Debian's chromium driven by Playwright.

Without /usr/bin/chromium the tests skip and say why, except under CI=true, where they fail: CI installs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from parley_local.__main__ import STACK_NAME, parley_profile
from parley_local.server import GatewayThread
from tests.protocol_check import watch_websockets
from tests.browser.pagekit import CHROMIUM_ARGS, ChatPage, Stack, unique
from tests.support import LOAD_TEST_LIMITS

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
expect.set_options(timeout=10_000)


# ---------------------------------------------------------------- the browser
@pytest.fixture(scope="module", autouse=True)  # first, so nothing starts when the tests skip
def chromium_path() -> str:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return str(CHROMIUM)
    reason = f"{CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true they must run")
    print(f"\nSKIP tests/browser: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def running_stack(
    *, parameter_overrides: dict[str, str] | None = None, functions_env: dict[str, str] | None = None, port: int = 0
) -> Iterator[Stack]:
    """template.yaml's local profile (the embedded database, a fresh JWT secret) served on a free port, with
    ``parameter_overrides`` on the template's parameters and ``functions_env`` in every function's environment;
    every WebSocket frame is checked against docs/asyncapi.yaml while it runs. Each start is a new embedded
    database (the handlers, and the mongomock client with them, are imported afresh)."""
    env_vars, overrides, _ = parley_profile({})
    env_vars["Parameters"].update(functions_env or {})
    thread = GatewayThread(
        ROOT / "template.yaml",
        host="127.0.0.1",
        port=port,  # 0: a free one; a given port serves a restart of the "same" server
        env_vars=env_vars,
        parameter_overrides={**overrides, **(parameter_overrides or {})},
        stack_name=STACK_NAME,
    )
    gateway = thread.start()
    try:
        with watch_websockets():
            yield Stack(gateway=gateway, thread=thread)
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(parameter_overrides=LOAD_TEST_LIMITS) as started:  # the tests send 100+ messages in a burst
        yield started


@pytest.fixture
def open_page(browser: Browser, stack: Stack) -> Iterator[Callable[..., ChatPage]]:
    opened: list[ChatPage] = []

    def open_(**context_options: Any) -> ChatPage:
        context = browser.new_context(**context_options)
        page = context.new_page()
        chat = ChatPage(page=page, context=context)
        chat.watch()
        opened.append(chat)
        return chat

    yield open_
    for chat in opened:
        chat.context.close()
    # Every page must have run without uncaught errors and without the CSP refusing anything.
    problems = [p for chat in opened for p in chat.problems]
    assert problems == []


@pytest.fixture
def pair(open_page: Callable[..., ChatPage], stack: Stack) -> tuple[ChatPage, ChatPage]:
    """Two users, each signed up in a browser context of their own, both in #general."""
    alice, bob = open_page(), open_page()
    alice.sign_up(stack.url, unique("alice"))
    bob.sign_up(stack.url, unique("bob"))
    return alice, bob


