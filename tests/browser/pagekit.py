"""Helpers for the web page's browser tests: the stack on a free port, a raw WebSocket client, a page driver."""

from __future__ import annotations

import json
import re
import time
import uuid
from urllib.parse import parse_qs, urlsplit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
from playwright.sync_api import BrowserContext, Page, expect
from websockets.sync.client import ClientConnection, connect

from parley_local.server import GatewayThread, LocalGateway

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct-horse-battery"
WS_URL = re.compile(r"^wss?://.*[?&]token=")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- the stack
@dataclass
class Stack:
    gateway: LocalGateway
    thread: GatewayThread

    @property
    def url(self) -> str:
        return self.gateway.http_url

    def signup(self, username: str, display_name: str | None = None) -> dict[str, Any]:
        body = {"username": username, "password": PASSWORD}
        if display_name is not None:
            body["displayName"] = display_name
        reply = httpx.post(f"{self.url}/auth/signup", json=body, timeout=10)
        assert reply.status_code == 201, reply.text
        return reply.json()

    def connection_ids(self, username: str) -> list[str]:
        """The open WebSocket connections of one user, as the gateway knows them."""
        found = []
        for conn in list(self.gateway.connections.values()):
            context = conn.info.authorizer or {}
            if conn.state == "open" and context.get("username") == username:
                found.append(conn.id)
        return found

    def drop(self, connection_id: str) -> None:
        """Close a connection from the server side, as a backend would: DELETE @connections/{id}."""
        client = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=self.gateway.management_url,
            region_name="us-east-1",
            **self.gateway.credentials.for_boto3(),  # the local stack's: the gateway checks the signature
        )
        client.delete_connection(ConnectionId=connection_id)

    @contextmanager
    def client(self, username: str | None = None, display_name: str | None = None) -> Iterator[RawClient]:
        """A new user (with a display name, if given) connected with a plain WebSocket client."""
        session = self.signup(username or unique("carol"), display_name)
        with self.connect(session) as client:
            yield client

    @contextmanager
    def connect(self, session: dict[str, Any]) -> Iterator[RawClient]:
        """Another connection of a signed-up user (``session``: {token, user}); it carries the display name the user
        has now (the authorizer reads it at $connect)."""
        with connect(f"{self.gateway.ws_url}?token={session['token']}", open_timeout=10) as ws:
            yield RawClient(ws=ws, user=session["user"], token=session["token"])


@dataclass
class RawClient:
    """A plain WebSocket client (another user's program), for what a page cannot do on cue."""

    ws: ClientConnection
    user: dict[str, str]
    token: str = ""
    frames: list[dict[str, Any]] = field(default_factory=list)

    def send(self, **frame: Any) -> None:
        self.ws.send(json.dumps(frame))

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching frame within {timeout}s; got {self.frames[-5:]}")
            frame = json.loads(self.ws.recv(timeout=left))
            self.frames.append(frame)
            if predicate(frame):
                return frame

    def join(self, room: str) -> dict[str, Any]:
        self.send(action="join", room=room)
        return self.wait_for(lambda f: f.get("type") == "joined" and f.get("room") == room)

    def say(self, room: str, text: str, **extra: Any) -> dict[str, Any]:
        """Send a message (with ``extra`` fields of sendMessage, e.g. ``mentions=[ids]``) and wait for its echo, so
        it is stored when this returns."""
        cmid = uuid.uuid4().hex
        self.send(action="sendMessage", room=room, text=text, clientMsgId=cmid, **extra)
        frame = self.wait_for(lambda f: f.get("type") == "message" and f["message"].get("clientMsgId") == cmid)
        return frame["message"]

    def history(self, room: str, limit: int = 100) -> list[dict[str, Any]]:
        """The room's latest messages, oldest first, as the server stored them."""
        self.send(action="history", room=room, limit=limit)
        return self.wait_for(lambda f: f.get("type") == "history" and f.get("room") == room)["messages"]

    def rooms(self) -> dict[str, dict[str, Any]]:
        """The user's room items (the rooms frame), by room name."""
        self.send(action="rooms")
        return {item["room"]: item for item in self.wait_for(lambda f: f.get("type") == "rooms")["rooms"]}
    def change(self, action: str, room: str, message_id: str, **fields: Any) -> dict[str, Any]:
        """editMessage, deleteMessage, react or unreact, and wait for the message's messageUpdated frame, so the
        change is stored when this returns; the message as it is now."""
        self.send(action=action, room=room, id=message_id, **fields)
        frame = self.wait_for(lambda f: f.get("type") == "messageUpdated" and f["message"]["id"] == message_id)
        return frame["message"]

    def edit(self, room: str, message_id: str, text: str) -> dict[str, Any]:
        return self.change("editMessage", room, message_id, text=text)

    def delete(self, room: str, message_id: str) -> dict[str, Any]:
        return self.change("deleteMessage", room, message_id)

    def react(self, room: str, message_id: str, emoji: str) -> dict[str, Any]:
        return self.change("react", room, message_id, emoji=emoji)

    def unreact(self, room: str, message_id: str, emoji: str) -> dict[str, Any]:
        return self.change("unreact", room, message_id, emoji=emoji)

    def reply(self, room: str, reply_to: str, text: str) -> dict[str, Any]:
        """Send a reply to a message and wait for its echo."""
        cmid = uuid.uuid4().hex
        self.send(action="sendMessage", room=room, text=text, clientMsgId=cmid, replyTo=reply_to)
        frame = self.wait_for(lambda f: f.get("type") == "message" and f["message"].get("clientMsgId") == cmid)
        return frame["message"]



# ---------------------------------------------------------------- pages
@dataclass
class ChatPage:
    page: Page
    context: BrowserContext
    username: str = ""
    dialogs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)  # the URLs of the WebSockets the page opened, oldest first

    def watch(self) -> None:
        """Record the page's WebSockets and what it should never do (CSP refusals, uncaught errors)."""

        def on_dialog(dialog) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        def on_console(message) -> None:
            if "Content Security Policy" in message.text or "Refused to" in message.text:
                self.problems.append(f"console: {message.text}")

        self.page.on("dialog", on_dialog)
        self.page.on("console", on_console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("websocket", lambda ws: self.sockets.append(ws.url))

    def new_tab(self) -> ChatPage:
        """Another tab of the same browser (the same context: its cookies, its BroadcastChannel)."""
        tab = ChatPage(page=self.context.new_page(), context=self.context, username=self.username,
                       problems=self.problems)
        tab.watch()
        return tab

    def confirm(self, yes: bool = True) -> None:
        """Answer the page's confirmation (confirm.js) before removing someone or leaving a private room."""
        dialog = self.page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        self.tid("confirm-yes" if yes else "confirm-no").click()
        expect(dialog).to_be_hidden()

    def tid(self, test_id: str):
        return self.page.get_by_test_id(test_id)

    def messages(self, text: str | None = None):
        items = self.tid("message-list").get_by_test_id("message")
        if text is None:
            return items
        return items.filter(has=self.page.get_by_test_id("message-text").get_by_text(text, exact=True))

    def online(self, username: str):
        return self.tid("online-users").locator(f'[data-testid="online-user"][data-username="{username}"]')

    def sign_up(self, base_url: str, username: str) -> None:
        self.username = username
        self.page.goto(base_url)
        self.tid("auth-username").fill(username)
        self.tid("auth-password").fill(PASSWORD)
        self.tid("auth-signup").click()
        self.wait_online()
        expect(self.online(username)).to_be_attached()  # in the list (which a phone shows only on demand)

    def log_in(self, base_url: str, username: str, password: str = PASSWORD) -> None:
        """Sign in as an existing user (another device of theirs, in a context of its own)."""
        self.username = username
        self.page.goto(base_url)
        self.tid("auth-username").fill(username)
        self.tid("auth-password").fill(password)
        self.tid("auth-login").click()
        self.wait_online()

    def conversation(self, label: str, section: str = "Direct messages"):
        """A conversation's button in the sidebar, by its accessible name (which begins with the room's label)."""
        names = re.compile(rf"^{re.escape(label)}(,|$)")
        return self.page.get_by_role("list", name=section).get_by_role("button", name=names)

    def open_direct(self, username: str) -> None:
        """"New direct message" to `username`, which opens the conversation."""
        self.page.get_by_role("button", name="New direct message").click()
        self.page.get_by_role("textbox", name="Username to message").fill(username)
        self.page.get_by_role("button", name="Open", exact=True).click()
        # the title is the other person's name: the username, or their display name with (@username)
        expect(self.tid("room-title")).to_have_text(re.compile(rf"^({re.escape(username)}|.+ \(@{re.escape(username)}\))$"))
        expect(self.tid("room-kind")).to_have_text("Direct message")

    def create_private_room(self, name: str) -> None:
        """"New private room": the page opens it, with its members panel."""
        self.page.get_by_role("button", name="New private room").click()
        self.page.get_by_role("textbox", name="Private room name").fill(name)
        self.page.get_by_role("button", name="Create", exact=True).click()
        expect(self.tid("room-title")).to_have_text(f"#{name}")
        expect(self.tid("room-kind")).to_have_text("Private")

    def add_member(self, username: str) -> None:
        """The owner adds someone from the open members panel; returns once the panel lists them."""
        self.page.get_by_role("textbox", name="Add a member").fill(username)
        self.page.get_by_role("button", name="Add", exact=True).click()
        members = self.page.get_by_role("list", name=re.compile("^Members of"))
        expect(members.get_by_text(username, exact=True)).to_be_visible()

    def wait_online(self) -> None:
        expect(self.tid("chat-view")).to_be_visible()
        expect(self.tid("connection-status")).to_have_attribute("data-state", "online")

    def say(self, text: str) -> None:
        box = self.tid("composer-input")
        box.fill(text)
        box.press("Enter")
        expect(self.messages(text).and_(self.page.locator('[data-status="sent"]'))).to_have_count(1)

    def session_token(self) -> str:
        """The token of the page's newest socket (the page keeps it in memory only: no storage holds it)."""
        assert self.sockets, "the page opened no WebSocket"
        return parse_qs(urlsplit(self.sockets[-1]).query)["token"][0]


def exactly_once(chat: ChatPage, text: str, settle_ms: int = 700) -> None:
    """The message shows up, and it is still there once (not twice) a moment later."""
    expect(chat.messages(text)).to_have_count(1)
    chat.page.wait_for_timeout(settle_ms)
    expect(chat.messages(text)).to_have_count(1)


def message_texts(chat: ChatPage) -> list[str]:
    return chat.tid("message-list").get_by_test_id("message-text").all_inner_texts()

