"""Issue 23, persistence of joined rooms: a public room you joined stays in your list, with its unread count, on
every device and at your next log-in, until you leave it; a page joins it (presence, typing) once it opens it."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.pagekit import ChatPage, Stack, exactly_once, unique


def room_item(chat: ChatPage, room: str):
    return chat.tid("room-list").locator(f'[data-room="{room}"]')


def test_a_joined_room_follows_you_to_other_devices_with_unread_counts_until_you_leave_it(
    stack: Stack, open_page
) -> None:
    room = unique("plans").lower()
    laptop = open_page()
    laptop.sign_up(stack.url, unique("ola"))
    laptop.tid("join-room-input").fill(room)
    laptop.tid("join-room-input").press("Enter")
    expect(laptop.tid("room-title")).to_have_text(f"#{room}")
    room_item(laptop, "general").click()
    expect(laptop.tid("room-title")).to_have_text("#general")

    with stack.client() as pat:
        pat.join(room)
        pat.say(room, "first")
        pat.say(room, "second")
        expect(room_item(laptop, room).get_by_test_id("room-unread")).to_have_text("2")  # joined here: live

        # her phone, a new log-in (another browser): the room is in the list, with the server's count
        phone = open_page(viewport={"width": 390, "height": 844})
        sent: list[str] = []
        phone.page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
        phone.log_in(stack.url, laptop.username)
        expect(room_item(phone, room)).to_have_count(1)
        expect(room_item(phone, room).get_by_test_id("room-unread")).to_have_text("2")
        # listed, not joined: the phone's connection is not in the room until the phone opens it
        joins = f'"action":"join","room":"{room}"'
        phone.page.wait_for_timeout(500)
        assert not [f for f in sent if joins in f.replace(" ", "")]
        phone.tid("sidebar-toggle").click()
        room_item(phone, room).click()
        expect(phone.tid("room-title")).to_have_text(f"#{room}")
        exactly_once(phone, "second")
        expect(phone.messages("first")).to_have_count(1)
        expect(phone.online(pat.user["username"])).to_be_attached()  # joined for presence
        assert len([f for f in sent if joins in f.replace(" ", "")]) == 1
        phone.say("from the phone")  # sendMessage needs the join
        pat.wait_for(lambda f: f.get("type") == "message" and f["message"]["text"] == "from the phone")

        # a reload of the laptop keeps it too, and leaving on the phone drops it everywhere
        laptop.page.reload()
        laptop.wait_online()
        expect(room_item(laptop, room)).to_have_count(1)
        phone.tid("leave-room").click()
        expect(phone.tid("room-title")).to_have_text("#general")
        expect(room_item(phone, room)).to_have_count(0)
        expect(room_item(laptop, room)).to_have_count(0)  # the "removed" frame reached the other device

    later = open_page()
    later.log_in(stack.url, laptop.username)
    expect(room_item(later, "general")).to_have_count(1)
    later.page.wait_for_timeout(700)  # the rooms frame has come and gone
    expect(room_item(later, room)).to_have_count(0)
