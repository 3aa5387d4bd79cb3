"""Issue 23, notifications: while the tab is hidden a direct message raises a system notification (permission
asked only after a click), an ordinary message in the room you are looking at does not, clicking the
notification opens the conversation, and the tab's title counts unread conversations."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.pagekit import Stack, unique

# Records every Notification the page makes (and every permission request), and lets the test hide the page as
# the browser would: document.hidden / visibilityState, then a visibilitychange event.
RECORD = """
(() => {
  window.__notes = [];
  window.__asked = 0;
  const Real = window.Notification;
  class Recorded extends Real {
    constructor(title, options = {}) {
      super(title, options);
      window.__notes.push({ title, body: options.body, tag: options.tag, note: this });
    }
    static requestPermission(...args) {
      window.__asked += 1;
      return Real.requestPermission(...args);
    }
  }
  window.Notification = Recorded;
  let hidden = false;
  Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
})();
"""


def wait_true(chat, expression: str, timeout: float = 10.0) -> None:
    """Poll ``expression`` from the test (page.evaluate is not subject to the page's CSP). Playwright's
    wait_for_function polls with an eval inside the page, which the CSP refuses (a problem the fixture reports)
    whenever the first check is false, as it is under load."""
    deadline = time.monotonic() + timeout
    while not chat.page.evaluate(expression):
        assert time.monotonic() < deadline, f"{expression} still false after {timeout}s"
        chat.page.wait_for_timeout(50)


def notes(chat) -> list[dict]:
    return chat.page.evaluate("window.__notes.map(({title, body, tag}) => ({title, body, tag}))")


def test_a_hidden_tab_notifies_a_direct_message_but_not_an_ordinary_room_message(stack: Stack, open_page) -> None:
    chat = open_page()
    chat.context.grant_permissions(["notifications"], origin=stack.url)
    chat.page.add_init_script(RECORD)
    chat.sign_up(stack.url, unique("uma"))
    assert chat.page.evaluate("window.__asked") == 0  # never asked on load
    with stack.client() as vic:
        vic.join("general")
        vic.say("general", "visible and ordinary")
        chat.page.evaluate("window.__setHidden(true)")
        vic.say("general", "hidden but ordinary")  # the room she is looking at, rooms are off by default
        expect(chat.messages("hidden but ordinary")).to_have_count(1)
        vic.send(action="openDirect", username=chat.username)
        room = vic.wait_for(lambda f: f.get("type") == "direct")["room"]
        vic.say(room, "are you there?")
        wait_true(chat, "window.__notes.length > 0")
        chat.page.wait_for_timeout(300)
        assert notes(chat) == [{"title": vic.user["username"], "body": "are you there?", "tag": f"parley:{room}"}]
        # the title counts conversations with unread messages: #general (hidden) and the direct message
        expect(chat.page).to_have_title("(2) #general · Parley")
        vic.say(room, "hello?")
        expect(chat.page).to_have_title("(2) #general · Parley")  # conversations, not messages

        # clicking the notification brings the conversation up
        chat.page.evaluate("window.__setHidden(false); window.__notes[0].note.onclick()")
        expect(chat.tid("room-title")).to_have_text(vic.user["username"])
        expect(chat.messages("are you there?")).to_have_count(1)
        # #general still counts: its message came while the tab was hidden, and she has not looked since
        expect(chat.page).to_have_title(f"(1) {vic.user['username']} · Parley")
        chat.tid("room-list").locator('[data-room="general"]').click()
        expect(chat.page).to_have_title("#general · Parley")

        # a direct message while the tab is in front: the badge, no notification
        vic.say(room, "visible now")
        expect(chat.conversation(vic.user["username"]).get_by_test_id("room-unread")).to_have_text("1")
        expect(chat.page).to_have_title("(1) #general · Parley")
        assert len(notes(chat)) == 2  # "are you there?" and "hello?" only


def test_the_settings_ask_permission_on_a_click_and_turn_kinds_on_and_off(stack: Stack, open_page) -> None:
    chat = open_page()
    chat.page.add_init_script(RECORD)
    chat.sign_up(stack.url, unique("val"))
    chat.tid("account-open").click()
    expect(chat.tid("notify-dm")).to_be_checked()  # on for direct messages and mentions, off per room
    expect(chat.tid("notify-mentions")).to_be_checked()
    expect(chat.tid("notify-room")).not_to_be_checked()
    expect(chat.page.get_by_text("Every message in #general")).to_be_visible()
    expect(chat.tid("notify-sound")).not_to_be_checked()
    assert chat.page.evaluate("window.__asked") == 0
    chat.tid("notify-room").check()  # a click: now the browser may be asked
    wait_true(chat, "window.__asked === 1")
    chat.tid("notify-dm").uncheck()
    chat.tid("account-close").click()
    chat.context.grant_permissions(["notifications"], origin=stack.url)
    with stack.client() as wes:
        wes.join("general")
        chat.page.evaluate("window.__setHidden(true)")
        wes.send(action="openDirect", username=chat.username)
        room = wes.wait_for(lambda f: f.get("type") == "direct")["room"]
        wes.say(room, "direct, turned off")
        expect(chat.conversation(wes.user["username"])).to_have_count(1)
        wes.say("general", "every message here")
        wait_true(chat, "window.__notes.length > 0")
        chat.page.wait_for_timeout(300)
        assert [n["title"] for n in notes(chat)] == [f"{wes.user['username']} in #general"]
    chat.page.reload()  # the settings are kept in this browser
    chat.wait_online()
    chat.tid("account-open").click()
    expect(chat.tid("notify-dm")).not_to_be_checked()
    expect(chat.tid("notify-room")).to_be_checked()



PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _user_id(stack: Stack, token: str) -> str:
    return httpx.get(f"{stack.url}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["id"]


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_hidden_tab_notifies_a_mention_of_you_and_not_of_someone_else(stack: Stack, open_page, size) -> None:
    chat = open_page(**(PHONE if size == "phone" else {}))
    chat.context.grant_permissions(["notifications"], origin=stack.url)
    chat.page.add_init_script(RECORD)
    chat.sign_up(stack.url, unique("ula"))
    my_id = _user_id(stack, chat.session_token())
    bystander = stack.signup(unique("bystander"))["user"]
    with stack.client() as vic:
        vic.join("general")
        chat.page.evaluate("window.__setHidden(true)")
        for cmid, who in (("c1", bystander), ("c2", {"id": my_id, "username": chat.username})):
            vic.send(action="sendMessage", room="general", text=f"@{who['username']} look", clientMsgId=cmid,
                     mentions=[who["id"]])
            vic.wait_for(lambda f, c=cmid: f.get("type") == "message" and f["message"].get("clientMsgId") == c)
        expect(chat.messages(f"@{chat.username} look")).to_have_count(1)
        wait_true(chat, "window.__notes.length > 0")
        chat.page.wait_for_timeout(300)
        assert notes(chat) == [{"title": f"{vic.user['username']} mentioned you in #general",
                                "body": f"@{chat.username} look", "tag": "parley:general"}]
        chat.page.evaluate("window.__setHidden(false); window.__notes[0].note.onclick()")
        expect(chat.tid("room-title")).to_have_text("#general")
