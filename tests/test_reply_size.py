"""Every reply and broadcast fits in one API Gateway message (parley.wire: 128,000 bytes).

- One message frame always fits, whatever its text: proved from the limits (4,000 code points of text,
  64 of clientMsgId, 64 of room, 32 of username) and the worst cost of a code point once JSON-escaped.
- History pages are cut by encoded size, keep the messages nearest the cursor, say hasMore, and the next
  page continues exactly at the cut (nothing lost or repeated), both ways.
- ``joined`` keeps as many users as fit; a payload that would still be too big is never posted: the caller
  gets an error instead of silence.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from json.encoder import encode_basestring, encode_basestring_ascii

import pytest

from parley import wire
from parley.chat import service
from parley.chat.replies import history_frame, joined_frame
from parley.errors import ErrorCode, ReplyTooLarge
from parley.model import (
    MAX_CLIENT_MSG_ID,
    MAX_TEXT,
    HistoryPage,
    Message,
    UserRef,
    new_message_id,
    valid_client_msg_id,
    valid_room,
    valid_text,
)
from parley.ports import DeliveryReport, Ports

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
LONGEST_ROOM = "r" * 64
LONGEST_USER = UserRef(id="f" * 32, username="u" * 32)  # ids are uuid4 hex; names 3-32 characters


def _code_points():
    return (chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def test_a_code_point_costs_at_most_6_bytes_and_12_when_all_is_escaped():
    """json.dumps escapes character by character, so the worst string is the worst code point repeated."""
    utf8 = max(len(encode_basestring(c).encode()) - 2 for c in _code_points())
    ascii_ = max(len(encode_basestring_ascii(c)) - 2 for c in _code_points())
    assert (utf8, ascii_) == (6, 12)  # "\u0001" (a control character); an astral one as two \u escapes
    # wire.encode escapes exactly as those do (same total for a string holding every code point)
    everything = "".join(_code_points())
    expected = sum(len(encode_basestring(c).encode()) - 2 for c in everything)
    assert wire.size({"t": everything}) - wire.size({"t": ""}) == expected


def _message(text: str, client_msg_id: str | None = "c" * MAX_CLIENT_MSG_ID, at: datetime = T0) -> Message:
    return Message(
        id=new_message_id(at), room=LONGEST_ROOM, text=text, user=LONGEST_USER, created_at=at,
        client_msg_id=client_msg_id,
    )


WORST_VALID = [
    "\x01" * MAX_TEXT,  # 6 bytes each
    "\U0001f600" * MAX_TEXT,  # 4 bytes each
    '"' * MAX_TEXT,
]


@pytest.mark.parametrize("text", WORST_VALID, ids=["control", "astral", "quotes"])
def test_the_biggest_valid_message_frame_fits_in_one_websocket_frame_and_message(text):
    message = _message(valid_text(text), valid_client_msg_id("\x01" * MAX_CLIENT_MSG_ID))
    valid_room(message.room)
    frame = {"type": "message", "message": message.to_json()}
    assert wire.size(frame) <= 6 * (MAX_TEXT + MAX_CLIENT_MSG_ID) + 400
    assert wire.size(frame) <= wire.MAX_PAYLOAD_BYTES
    page = history_frame(HistoryPage(room=message.room, messages=[message], has_more=True), newest_first=True)
    assert page["messages"] == [message.to_json()] and wire.size(page) <= wire.MAX_PAYLOAD_BYTES


def test_the_biggest_changed_message_fits_too():
    """Issue 21: the most a message can carry besides its text: 20 emoji of the longest kind, each listing 10 users
    of the longest names (all of it control characters, 6 bytes each, more than any name or emoji can cost), an excerpt of 200 control characters, 20 mentions. It still fits in a messageUpdated
    frame, and so in a history or sync page of one."""
    from dataclasses import replace

    from parley.model import (MAX_EMOJI_CHARS, MAX_MENTIONS, MAX_REACTIONS, REACTION_USERS_SHOWN, REPLY_EXCERPT,
                              Reaction, ReplyTo)

    users = tuple(UserRef(id="u" * 64, username="\x01" * 32) for _ in range(REACTION_USERS_SHOWN + 5))
    message = replace(
        _message("\x01" * MAX_TEXT, "\x01" * MAX_CLIENT_MSG_ID), version=10**9, edited_at=T0,
        reactions=tuple(Reaction(emoji="\x01" * MAX_EMOJI_CHARS, users=users) for _ in range(MAX_REACTIONS)),
        reply_to=ReplyTo(id="0" * 24, user=users[0], excerpt="\x01" * REPLY_EXCERPT),
        mentions=users[:1] * MAX_MENTIONS,
    )
    frame = {"type": "messageUpdated", "message": message.to_json()}
    assert 6 * MAX_TEXT < wire.size(frame) <= 100_000 < wire.MAX_PAYLOAD_BYTES  # names and emoji cannot even be \x01


def test_even_a_message_that_forces_the_ascii_fallback_fits():
    """Text with a lone surrogate cannot be stored (valid_text refuses it), but if one ever were, the whole
    payload is \\u-escaped: 12 bytes per astral code point, still far below the limit."""
    message = _message("\U0001f600" * (MAX_TEXT - 1) + "\ud800", "\U0001f600" * MAX_CLIENT_MSG_ID)
    frame = {"type": "message", "message": message.to_json()}
    assert wire.encode(frame).isascii()
    assert 12 * (MAX_TEXT - 1) < wire.size(frame) <= wire.MAX_PAYLOAD_BYTES


# ---------------------------------------------------------------- history pages
def _page(n: int, text: str = "x" * MAX_TEXT, has_more: bool = False) -> HistoryPage:
    messages = [_message(text, None, T0 + timedelta(milliseconds=i)) for i in range(n)]
    return HistoryPage(room=LONGEST_ROOM, messages=messages, has_more=has_more)


def test_a_page_that_fits_is_sent_whole_with_the_stores_has_more():
    page = _page(10)
    for has_more in (False, True):
        frame = history_frame(HistoryPage(page.room, page.messages, has_more), newest_first=True)
        assert frame == {"type": "history", **HistoryPage(page.room, page.messages, has_more).to_json()}


@pytest.mark.parametrize("newest_first", [True, False])
def test_a_page_too_big_keeps_the_messages_nearest_the_cursor(newest_first):
    page = _page(50)
    assert wire.size({"type": "history", **page.to_json()}) > wire.MAX_PAYLOAD_BYTES
    frame = history_frame(page, newest_first=newest_first)
    kept = [m["id"] for m in frame["messages"]]
    ids = [m.id for m in page.messages]
    assert frame["hasMore"] is True and wire.size(frame) <= wire.MAX_PAYLOAD_BYTES
    assert 0 < len(kept) < 50
    assert kept == (ids[-len(kept):] if newest_first else ids[: len(kept)])
    # as many as fit: one more would not
    one_more = ids[-len(kept) - 1:] if newest_first else ids[: len(kept) + 1]
    bigger = {**frame, "messages": [m.to_json() for m in page.messages if m.id in set(one_more)]}
    assert wire.size(bigger) > wire.MAX_PAYLOAD_BYTES


def test_fitting_checks_the_real_encoding_when_a_lone_surrogate_escapes_everything():
    items = [{"t": "é" * 1000} for _ in range(200)] + [{"t": "\ud800"}]
    envelope = {"items": []}
    n = wire.fitting(envelope, "items", items, from_end=True)
    assert wire.size({"items": items[-n:]}) <= wire.MAX_PAYLOAD_BYTES < wire.size({"items": items[-n - 1:]})
    n = wire.fitting(envelope, "items", items)
    assert wire.size({"items": items[:n]}) <= wire.MAX_PAYLOAD_BYTES < wire.size({"items": items[: n + 1]})


# ---------------------------------------------------------------- joined, and the last line of defence
def test_joined_lists_every_user_when_they_fit_and_as_many_as_fit_otherwise():
    few = [UserRef(f"{i:032x}", f"user{i:05d}").to_json() for i in range(10)]
    assert joined_frame("general", few) == {"type": "joined", "room": "general", "users": few}
    many = [UserRef(f"{i:032x}", f"user{i:05d}" + "x" * 23).to_json() for i in range(3000)]
    frame = joined_frame("general", many)
    assert frame["hasMore"] is True and wire.size(frame) <= wire.MAX_PAYLOAD_BYTES
    assert frame["users"] == many[: len(frame["users"])] and 1000 < len(frame["users"]) < 3000


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send(self, *, connection_ids, frame):
        self.sent.append(json.loads(frame.body))
        return DeliveryReport(delivered=len(connection_ids))


def test_a_payload_over_the_limit_is_never_posted_and_raises_a_chat_error():
    recorder, counted = _Recorder(), []
    ports = Ports(
        connections=None, messages=None, broadcaster=recorder, metric=lambda name, value: counted.append(name)
    )
    with pytest.raises(ReplyTooLarge) as info:
        service.reply(ports, connection_id="c1", frame={"type": "x", "blob": "x" * wire.MAX_PAYLOAD_BYTES})
    assert info.value.code is ErrorCode.INTERNAL_ERROR and recorder.sent == [] and counted == ["OversizedPayloads"]
    at_limit = {"type": "x", "blob": "x" * (wire.MAX_PAYLOAD_BYTES - 22)}
    assert wire.size(at_limit) == wire.MAX_PAYLOAD_BYTES
    service.reply(ports, connection_id="c1", frame=at_limit)
    assert recorder.sent == [at_limit]  # exactly at the limit is posted


# ---------------------------------------------------------------- through the handlers
def _fill(stack, count: int, text) -> tuple:
    alice = stack.connect("alice")
    alice.send({"action": "join", "room": "general"})
    for i in range(count):
        alice.send({"action": "sendMessage", "room": "general", "text": text(i)})
    return alice, [m["message"]["id"] for m in alice.frames("message")]


def _walk(client, room: str, *, newest_first: bool, limit: int | None = None) -> tuple[list[str], int]:
    """Page through a whole room the way a client does (back from the newest, or forwards from the start as a
    catch-up does); every request must get a reply that fits."""
    seen: list[str] = []
    pages = 0
    cursor: dict = {} if newest_first else {"after": "0" * 24}
    while True:
        before = len(client.frames("history"))
        client.send({"action": "history", "room": room, **({"limit": limit} if limit else {}), **cursor})
        frames = client.frames("history")
        assert len(frames) == before + 1, "the history request got no reply"
        frame = frames[-1]
        assert len(json.dumps(frame, ensure_ascii=False).encode()) <= wire.MAX_PAYLOAD_BYTES
        ids = [m["id"] for m in frame["messages"]]
        assert ids == sorted(ids)
        seen = ids + seen if newest_first else seen + ids
        pages += 1
        if not frame["hasMore"]:
            return seen, pages
        assert ids, "hasMore with an empty page"
        cursor = {"before": ids[0]} if newest_first else {"after": ids[-1]}


def test_35_messages_of_4000_characters_page_back_without_loss_or_repeat(stack):
    alice, ids = _fill(stack, 35, lambda i: f"{i:04d}" + "x" * (MAX_TEXT - 4))
    alice.send({"action": "history", "room": "general"})
    first = alice.last("history")
    assert first["hasMore"] is True and 0 < len(first["messages"]) < 35
    assert [m["id"] for m in first["messages"]] == ids[-len(first["messages"]):]  # the newest
    seen, pages = _walk(alice, "general", newest_first=True)
    assert seen == ids and pages == 2


@pytest.mark.parametrize("newest_first", [True, False], ids=["back", "catch-up"])
def test_escaped_text_pages_both_ways_without_loss_or_repeat(stack, newest_first):
    """Control characters cost 6 bytes each: about 5 messages a page."""
    alice, ids = _fill(stack, 23, lambda i: f"{i:04d}" + ("\x01" if i % 2 else "é") * (MAX_TEXT - 4))
    seen, pages = _walk(alice, "general", newest_first=newest_first, limit=100)
    assert seen == ids and pages >= 4
