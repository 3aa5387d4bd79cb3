"""Issue 12, finding 7, in a real browser: a page on a site listed in AllowedOrigins signs up, logs in and chats
through the local gateway (CORS preflight, real request, WebSocket); a page on another site cannot read the
sign-up reply. Chromium enforces CORS itself, so nothing here trusts a header check alone.

The two sites are one tiny static server reached as two origins: http://127.0.0.1:P (allowed) and
http://localhost:P (not listed; browsers treat them as different origins).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser

from tests.browser.conftest import running_stack
from tests.browser.pagekit import PASSWORD, unique


SIGN_UP_AND_CHAT = """
async ([api, ws, username, password]) => {
  const result = {};
  try {
    const reply = await fetch(api + "/auth/signup", {
      method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify({username, password}),
    });
    result.status = reply.status;
    result.token = (await reply.json()).token;
  } catch (error) {
    result.error = String(error);  // the browser refused the reply (CORS)
    return result;
  }
  result.joined = await new Promise((resolve) => {
    const socket = new WebSocket(ws + "?token=" + encodeURIComponent(result.token));
    socket.onopen = () => socket.send(JSON.stringify({action: "join", room: "general"}));
    socket.onmessage = (event) => { const frame = JSON.parse(event.data); if (frame.type === "joined") { socket.close(); resolve(frame); } };
    socket.onerror = () => resolve(null);
    setTimeout(() => resolve(null), 5000);
  });
  return result;
}
"""


class _Blank(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>another site</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Blank)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def gateway(site: int):
    with running_stack(parameter_overrides={"AllowedOrigins": f"http://127.0.0.1:{site}"}) as started:
        yield started.gateway


def _run_from(browser: Browser, origin: str, gateway) -> dict:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(origin + "/")
        return page.evaluate(SIGN_UP_AND_CHAT, [gateway.http_url, gateway.ws_url, unique("x"), PASSWORD])
    finally:
        context.close()


def test_a_page_on_an_allowed_site_signs_up_and_chats(browser: Browser, site: int, gateway):
    result = _run_from(browser, f"http://127.0.0.1:{site}", gateway)
    assert result.get("status") == 201 and result.get("token"), result
    assert result["joined"] and result["joined"]["room"] == "general", result


def test_a_page_on_another_site_cannot_read_the_sign_up_reply(browser: Browser, site: int, gateway):
    result = _run_from(browser, f"http://localhost:{site}", gateway)
    assert "token" not in result and "Failed to fetch" in result.get("error", ""), result
