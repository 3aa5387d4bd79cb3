"""Issue 21, the page: messages formatted safely (links, code, bold, italic; no raw HTML, ever), mentions
highlighted (more for the reader), the @ autocomplete sending `mentions`, the @ badge, and the length limit shown
and never applied silently. The outbox's order under the rate limit is in test_rate_limited_page.py."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.messagekit import PHONE, SIZES, join, sent_frames
from tests.browser.pagekit import ChatPage, Stack, unique


def _options(size: str) -> dict[str, Any]:
    return PHONE if size == "phone" else {}


def _me(stack: Stack, chat: ChatPage) -> dict[str, str]:
    reply = httpx.get(f"{stack.url}/auth/me", headers={"Authorization": f"Bearer {chat.session_token()}"}, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _room_items(stack: Stack, chat: ChatPage) -> dict[str, dict]:
    """GET /rooms as the page's user: the server's unread and mention counts."""
    reply = httpx.get(f"{stack.url}/rooms", headers={"Authorization": f"Bearer {chat.session_token()}"}, timeout=10)
    assert reply.status_code == 200, reply.text
    return {item["room"]: item for item in reply.json()["rooms"]}


def _within_width(chat: ChatPage, locator) -> None:
    box = locator.bounding_box()
    width = chat.page.viewport_size["width"]
    assert box is not None and box["x"] >= -1 and box["x"] + box["width"] <= width + 1, (box, width)


@pytest.mark.parametrize("size", SIZES)
def test_formatting_is_rendered_as_elements_and_html_stays_text(stack: Stack, open_page, size) -> None:
    room = unique("fmt").lower()
    reader = open_page(**_options(size))
    reader.sign_up(stack.url, unique("reader"))
    join(reader, size, room)
    me = _me(stack, reader)
    long_line = "const aVeryLongLineOfCode = " + "x" * 160 + ";"
    with stack.client(unique("carol")) as carol, stack.client(unique("dave")) as dave:
        carol.join(room)
        dave.join(room)
        text = (
            "**bold** and _italic_ and *also italic* but snake_case_name and 2*3*4 stay\n"
            "see https://example.com/a_(b)?q=1&r=2. and `inline **not bold** <b>x</b>` here\n"
            '<img src=x onerror="window.__xss=1"> [click](javascript:window.__xss=2) javascript:window.__xss=3\n'
            f"hi @{reader.username} and @{dave.user['username']} but not @nobody_here\n"
            "```\n**not bold** _x_ https://not.a.link/ @" + reader.username + "\n"
            "<script>window.__xss=4</script>\n" + long_line + "\n```"
        )
        carol.say(room, text, mentions=[me["id"], dave.user["id"]])
    message = reader.tid("message").filter(has_text="also italic")
    expect(message).to_have_count(1)
    body = message.get_by_test_id("message-text")

    expect(body.locator("strong")).to_have_text(["bold"])
    expect(body.locator("em")).to_have_text(["italic", "also italic"])
    expect(body).to_contain_text("snake_case_name and 2*3*4 stay")

    link = body.get_by_role("link")
    expect(link).to_have_count(1)  # the https link only: not javascript:, not the one inside the code block
    expect(link).to_have_text("https://example.com/a_(b)?q=1&r=2")
    expect(link).to_have_attribute("href", "https://example.com/a_(b)?q=1&r=2")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")

    expect(body.locator("code.code")).to_have_text(["inline **not bold** <b>x</b>"])
    block = body.locator("pre.code-block > code")
    expect(block).to_have_text(
        f"**not bold** _x_ https://not.a.link/ @{reader.username}\n<script>window.__xss=4</script>\n{long_line}"
    )
    expect(body.locator("pre strong, pre em, pre a, pre .mention, code.code strong")).to_have_count(0)

    # raw HTML and javascript: stay the characters they are
    expect(body).to_contain_text('<img src=x onerror="window.__xss=1"> [click](javascript:window.__xss=2)')
    expect(reader.tid("message-list").locator("img, script, b, [onerror], a[href^='javascript']")).to_have_count(0)
    assert reader.page.evaluate("() => window.__xss") is None

    # mentions the server carried: the reader's stands out more; an @word nobody was mentioned as stays text
    expect(body.locator(".mention")).to_have_text([f"@{reader.username}", f"@{dave.user['username']}"])
    expect(body.locator(".mention.mention-me")).to_have_text([f"@{reader.username}"])
    mine = body.locator(".mention-me").evaluate("e => getComputedStyle(e).backgroundColor")
    theirs = body.locator(".mention:not(.mention-me)").evaluate("e => getComputedStyle(e).backgroundColor")
    assert mine != theirs, (mine, theirs)

    # the long code line scrolls inside its block; the message stays on screen
    _within_width(reader, message)
    assert body.locator("pre.code-block").evaluate("e => e.scrollWidth > e.clientWidth")


def test_format_rules_one_by_one(stack: Stack, open_page) -> None:
    """format.js as published (its hashed name), on cases the message test above does not cover."""
    chat = open_page()
    chat.sign_up(stack.url, unique("rules"))
    got = chat.page.evaluate(
        """async () => {
            const url = performance.getEntriesByType("resource").map((e) => e.name).find((n) => /\\/format[.-]/.test(n));
            const { formatText, safeUrl } = await import(url);
            const show = (nodes) => nodes.map((n) => n.nodeType === 3 ? n.textContent
              : `<${n.localName}${n.className ? "." + n.className.split(" ").join(".") : ""}` +
                `${n.getAttribute("href") ? " " + n.getAttribute("href") : ""}>${show([...n.childNodes])}</>`).join("");
            const who = { mentions: [{ id: "u1", username: "Bob" }, { id: "u2", username: "eve.x" }], myId: "u1" };
            const cases = [
              "a **b _c_** d",
              "**not closed and _not either",
              "x*y*z, a * b *, __init__, snake_case_",
              "(see https://a.b/c_(d)). and https://e.f/g, then http://",
              "javascript:alert(1) data:text/html,x ftp://x.y/ https://",
              "mail bob@example.com, @bob. @eve.x, @evex @@bob",
              "`a` ``` b ``` `c",
              "*i* **b** _i2_",
              "two\\nlines **not\\nbold**",
              "above\\n```\\nblock\\n```\\nbelow",
            ];
            return {
              out: cases.map((c) => show(formatText(c, who))),
              safe: ["https://x.y", "http://x.y/p", "javascript:alert(1)", "data:text/html,x", "https://"].map(safeUrl),
            };
        }"""
    )
    assert got["out"] == [
        "a <strong>b <em>c</></> d",
        "**not closed and _not either",
        "x*y*z, a * b *, __init__, snake_case_",
        "(see <a.link https://a.b/c_(d)>https://a.b/c_(d)</>). and <a.link https://e.f/g>https://e.f/g</>, then http://",
        "javascript:alert(1) data:text/html,x ftp://x.y/ https://",
        "mail bob@example.com, <span.mention.mention-me>@bob</>. <span.mention>@eve.x</>, @evex @@bob",
        "<code.code>a</> <pre.code-block><code>b</></> `c",
        "<em>i</> <strong>b</> <em>i2</>",
        "two\nlines **not\nbold**",
        "above<pre.code-block><code>block</></>below",  # no blank lines around a block
    ], got["out"]
    assert got["safe"] == [True, True, False, False, False]


def test_mention_and_limit_rules_one_by_one(stack: Stack, open_page) -> None:
    """mentions.js and textlimit.js as published: who is offered, who a text names, what the counter says."""
    chat = open_page()
    chat.sign_up(stack.url, unique("rules"))
    got = chat.page.evaluate(
        """async () => {
            const find = (re) => performance.getEntriesByType("resource").map((e) => e.name).find((n) => re.test(n));
            const { matching, mentionedUsers } = await import(find(/\\/mentions[.-]/));
            const { counterText, textLength } = await import(find(/\\/textlimit[.-]/));
            const users = [
              { id: "1", username: "bob" }, { id: "2", username: "Bobby" }, { id: "3", username: "carl", displayName: "Bob C." },
              { id: "4", username: "abob" }, { id: "5", username: "dave" },
            ];
            const many = Array.from({ length: 25 }, (_, i) => ({ id: `m${i}`, username: `u${i}` }));
            return {
              offered: matching(users, "bo").map((u) => u.username),
              all: matching(users, "").length,
              named: mentionedUsers("hi @BOB. and @carl, mail dave@x.y, @bobb @@abob and @bob again", users).map((u) => u.id),
              capped: mentionedUsers(many.map((u) => "@" + u.username).join(" "), many).length,
              counts: [counterText(10, 100), counterText(90, 100), counterText(101, 100), counterText(0, 0)],
              lengths: [textLength("  ab  "), textLength("😀😀"), textLength("é")],
            };
        }"""
    )
    assert got["offered"] == ["bob", "Bobby", "carl", "abob"]  # name or display name first, then containing
    assert got["all"] == 5
    assert got["named"] == ["1", "3"]  # "@BOB." ends a sentence; an address, @bobb and @@abob name nobody
    assert got["capped"] == 20
    assert got["counts"] == ["", "90 / 100", "101 / 100 — too long", ""]
    assert got["lengths"] == [2, 2, 1]


@pytest.mark.parametrize("size", SIZES)
def test_mention_autocomplete_by_keyboard_and_mouse_sends_mentions_and_badges_the_mentioned(
    stack: Stack, open_page, size
) -> None:
    tag = "m" + uuid.uuid4().hex[:6]
    alice, bob = open_page(**_options(size)), open_page(**_options(size))
    sent = sent_frames(alice)
    alice.sign_up(stack.url, f"{tag}_alice")
    bob.sign_up(stack.url, f"{tag}_bob")
    elsewhere = f"{tag}-elsewhere"
    with stack.client(f"{tag}_carl") as carl:
        carl.join("general")
        expect(alice.online(carl.user["username"])).to_be_attached()
        expect(alice.online(bob.username)).to_be_attached()
        join(bob, size, elsewhere)  # bob reads another room: #general's news reach him as badges

        box = alice.tid("composer-input")
        box.click()
        box.press_sequentially(f"hi @{tag}")
        listbox = alice.page.get_by_role("listbox", name="People to mention")
        expect(listbox).to_be_visible()
        options = listbox.get_by_role("option")
        expect(options).to_have_text([f"@{tag}_bob", f"@{tag}_carl"])  # not alice herself
        _within_width(alice, listbox)

        # ArrowDown/ArrowUp move (and wrap); the box points at the active option
        expect(options.nth(0)).to_have_attribute("aria-selected", "true")
        expect(box).to_have_attribute("aria-activedescendant", options.nth(0).get_attribute("id"))
        box.press("ArrowDown")
        expect(options.nth(1)).to_have_attribute("aria-selected", "true")
        expect(box).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
        box.press("ArrowDown")
        expect(options.nth(0)).to_have_attribute("aria-selected", "true")
        box.press("ArrowUp")
        expect(options.nth(1)).to_have_attribute("aria-selected", "true")
        box.press("Escape")
        expect(listbox).to_be_hidden()
        expect(box).to_have_value(f"hi @{tag}")

        # typing narrows it; Enter takes the option (and sends nothing); Tab too (and keeps the focus)
        box.press_sequentially("_b")
        expect(options).to_have_text([f"@{tag}_bob"])
        box.press("Enter")
        expect(listbox).to_be_hidden()
        expect(box).to_have_value(f"hi @{tag}_bob ")
        box.press_sequentially(f"and @{tag}_c")
        expect(options).to_have_text([f"@{tag}_carl"])
        box.press("Tab")
        expect(box).to_have_value(f"hi @{tag}_bob and @{tag}_carl ")
        expect(box).to_be_focused()
        assert not [f for f in sent if f.get("action") == "sendMessage"]
        box.press_sequentially(f"see you {tag}")
        box.press("Enter")

        text = f"hi @{tag}_bob and @{tag}_carl see you {tag}"
        got = carl.wait_for(lambda f: f.get("type") == "message" and f["message"]["text"] == text)["message"]
        assert sorted(m["username"] for m in got["mentions"]) == [f"{tag}_bob", f"{tag}_carl"]
        (frame,) = [f for f in sent if f.get("action") == "sendMessage"]
        assert sorted(frame["mentions"]) == sorted(m["id"] for m in got["mentions"])

        # a user picked with the mouse and then deleted from the text is not mentioned
        box.press_sequentially(f"@{tag}_c")
        options.filter(has_text=f"@{tag}_carl").click()
        expect(box).to_have_value(f"@{tag}_carl ")
        box.fill("never mind")
        box.press("Enter")
        later = carl.wait_for(lambda f: f.get("type") == "message" and f["message"]["text"] == "never mind")["message"]
        assert "mentions" not in later
        assert "mentions" not in [f for f in sent if f.get("action") == "sendMessage"][-1]

    # bob: an @ badge on #general (and on the phone's ☰), as the server counts it
    general = bob.conversation("#general", "Rooms")
    if size == "phone":
        expect(bob.tid("sidebar-badge")).to_have_text("@1")
        expect(bob.tid("sidebar-toggle")).to_have_accessible_name(
            "Rooms and people, 1 unread conversation, you are mentioned in 1"
        )
        bob.tid("sidebar-toggle").click()
    expect(general.get_by_test_id("room-mentions")).to_have_text("@")
    expect(general.get_by_test_id("room-mentions")).to_be_visible()
    expect(general).to_have_accessible_name("#general, 2 unread, mentions you")
    assert _room_items(stack, bob)["general"]["mentions"] == 1

    # reading it clears the badge, here and on the server; bob's mention stands out, carl's less
    general.click()
    message = bob.tid("message").filter(has_text=f"see you {tag}")
    expect(message.locator(".mention.mention-me")).to_have_text([f"@{tag}_bob"])
    expect(message.locator(".mention:not(.mention-me)")).to_have_text([f"@{tag}_carl"])
    expect(bob.tid("room-list").get_by_test_id("room-mentions")).to_have_count(0)
    expect(bob.tid("sidebar-badge")).to_have_text("")
    deadline = time.monotonic() + 10
    while _room_items(stack, bob)["general"]["mentions"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _room_items(stack, bob)["general"]["mentions"] == 0


@pytest.mark.parametrize("size", SIZES)
def test_a_text_over_the_limit_is_kept_shown_and_refused(stack: Stack, open_page, size) -> None:
    chat = open_page(**_options(size))
    sent = sent_frames(chat)
    chat.sign_up(stack.url, unique("long"))
    mark = uuid.uuid4().hex[:8]  # this run's text, not the other size's (they share #general)
    box, count = chat.tid("composer-input"), chat.tid("composer-count")
    expect(box).not_to_have_attribute("maxlength", "4000")
    assert box.get_attribute("maxlength") is None  # nothing typed or pasted is ever cut

    box.fill("a" * 3599)
    expect(count).to_be_hidden()
    box.fill("a" * 3600)
    expect(count).to_have_text("3600 / 4000")
    expect(count).to_be_visible()
    box.fill("😀" * 4000)  # as the server counts: characters, not UTF-16 units
    expect(count).to_have_text("4000 / 4000")

    box.fill(mark + "b" * 3997)
    expect(count).to_have_text("4005 / 4000 — too long")
    expect(box).to_have_attribute("aria-invalid", "true")
    _within_width(chat, count)
    box.press("Enter")
    expect(chat.tid("notice")).to_have_text("Messages are at most 4000 characters (this one has 4005): shorten it to send.")
    assert box.input_value() == mark + "b" * 3997  # kept, to be shortened
    assert not [f for f in sent if f.get("action") == "sendMessage"]

    box.press("End")
    for _ in range(5):
        box.press("Backspace")
    expect(count).to_have_text("4000 / 4000")
    expect(box).not_to_have_attribute("aria-invalid", "true")
    box.press("Enter")
    expect(chat.messages(mark + "b" * 3992).and_(chat.page.locator('[data-status="sent"]'))).to_have_count(1)
    expect(count).to_be_hidden()
    expect(box).to_have_value("")
