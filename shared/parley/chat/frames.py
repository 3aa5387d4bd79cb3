"""Inbound WebSocket frames: parsed into typed commands, dispatched to the chat services.

A frame is a JSON object routed on ``action``. Parsing never trusts a field for identity: the caller
comes from the authorizer context, never from the frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from parley.chat import blocks, messages, rooms, service
from parley.errors import ChatError, ErrorCode, InvalidRequest, RateLimited
from parley.model import (
    DIRECT_RE,
    ROOM_RE,
    SyncCursor,
    valid_client_msg_id,
    valid_cursor,
    valid_emoji,
    valid_limit,
    valid_mentions,
    valid_message_id,
    valid_room,
    valid_text,
    valid_username,
)
from parley.ports import Caller, Ports

ROOM_ACTIONS = ("createRoom", "addMember", "removeMember", "openDirect", "markRead", "rooms",  # chat/rooms.py
                "block", "unblock")  # chat/blocks.py
MESSAGE_ACTIONS = ("editMessage", "deleteMessage", "react", "unreact", "sync")  # chat/messages.py
ACTIONS = ("sendMessage", "typing", "join", "leave", "history", "ping") + ROOM_ACTIONS + MESSAGE_ACTIONS


@dataclass(frozen=True, slots=True)
class Join:
    room: str


@dataclass(frozen=True, slots=True)
class Leave:
    room: str


@dataclass(frozen=True, slots=True)
class SendMessage:
    room: str
    text: str
    client_msg_id: str | None
    reply_to: str | None = None
    mentions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EditMessage:
    room: str
    message_id: str
    text: str


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    room: str
    message_id: str


@dataclass(frozen=True, slots=True)
class React:
    room: str
    message_id: str
    emoji: str
    on: bool  # False: unreact


@dataclass(frozen=True, slots=True)
class Sync:
    room: str
    since: SyncCursor | None
    limit: int


@dataclass(frozen=True, slots=True)
class Typing:
    room: str
    is_typing: bool


@dataclass(frozen=True, slots=True)
class History:
    room: str
    before: str | None
    after: str | None
    limit: int


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class CreateRoom:
    room: str
    kind: str


@dataclass(frozen=True, slots=True)
class AddMember:
    room: str
    username: str


@dataclass(frozen=True, slots=True)
class RemoveMember:
    room: str
    username: str


@dataclass(frozen=True, slots=True)
class OpenDirect:
    username: str


@dataclass(frozen=True, slots=True)
class MarkRead:
    room: str
    message_id: str


@dataclass(frozen=True, slots=True)
class ListRooms:
    pass


@dataclass(frozen=True, slots=True)
class Block:
    username: str
    blocked: bool  # False: unblock


Command = (
    Join | Leave | SendMessage | Typing | History | Ping
    | CreateRoom | AddMember | RemoveMember | OpenDirect | MarkRead | ListRooms | Block
    | EditMessage | DeleteMessage | React | Sync
)


@dataclass(frozen=True, slots=True)
class Echo:
    """What an error reply may repeat of the frame so the client can tell which request failed."""

    action: str | None = None
    client_msg_id: str | None = None
    room: str | None = None  # only a well-formed room name: which room a refused join, history... was about


def echo_of(body: str | None) -> Echo:
    """The frame's action, clientMsgId and room if they can be read; never raises, never the message text."""
    try:
        data = json.loads(body or "")
    except (ValueError, RecursionError):
        return Echo()
    if not isinstance(data, dict):
        return Echo()
    return Echo(
        action=_echoable(data.get("action")),
        client_msg_id=_echoable(data.get("clientMsgId")),
        room=_room_name(data.get("room")),
    )


def _room_name(value: object) -> str | None:
    """A room name as valid_room accepts it, else None: an error never repeats what is not a room's name."""
    if isinstance(value, str) and (ROOM_RE.match(value) or DIRECT_RE.match(value)):
        return value
    return None


def _echoable(value: object) -> str | None:
    """A short string that is valid Unicode (JSON can carry lone surrogates that UTF-8 cannot)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def parse(body: str | None) -> Command:
    if body is None or not body.strip():
        raise ChatError(ErrorCode.INVALID_JSON, "the frame is empty; send a JSON object with an 'action'")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ChatError(ErrorCode.INVALID_JSON, "the frame is not valid JSON; send a JSON object") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the frame must be a JSON object with an 'action'")
    action = data.get("action")
    if action in ROOM_ACTIONS:
        return _parse_room_action(action, data)
    if action not in ACTIONS:
        expected = ", ".join(ACTIONS)
        if action is None:
            raise ChatError(ErrorCode.UNKNOWN_ACTION, f"the frame has no 'action'; expected one of: {expected}")
        raise ChatError(ErrorCode.UNKNOWN_ACTION, f"unknown action; expected one of: {expected}")
    if action == "ping":
        return Ping()
    room = valid_room(data.get("room"))
    if action == "join":
        return Join(room)
    if action == "leave":
        return Leave(room)
    if action == "sendMessage":
        reply_to = data.get("replyTo")
        return SendMessage(room, valid_text(data.get("text")), valid_client_msg_id(data.get("clientMsgId")),
                           reply_to=None if reply_to is None else valid_message_id("replyTo", reply_to),
                           mentions=valid_mentions(data.get("mentions")))
    if action in MESSAGE_ACTIONS:
        return _parse_message_action(action, room, data)
    if action == "typing":
        is_typing = data.get("isTyping")
        if not isinstance(is_typing, bool):
            raise InvalidRequest("'isTyping' must be true or false")
        return Typing(room, is_typing)
    before = valid_cursor("before", data.get("before"))
    after = valid_cursor("after", data.get("after"))
    return History(room, before, after, valid_limit(data.get("limit")))


def _parse_message_action(action: str, room: str, data: dict) -> Command:
    if action == "sync":
        return Sync(room, SyncCursor.decode("since", data.get("since")), valid_limit(data.get("limit")))
    message_id = valid_message_id("id", data.get("id"))
    if action == "editMessage":
        return EditMessage(room, message_id, valid_text(data.get("text")))
    if action == "deleteMessage":
        return DeleteMessage(room, message_id)
    return React(room, message_id, valid_emoji(data.get("emoji")), on=action == "react")


def _parse_room_action(action: str, data: dict) -> Command:
    if action == "rooms":
        return ListRooms()
    if action == "openDirect":
        return OpenDirect(valid_username(data.get("username")))
    if action in ("block", "unblock"):
        return Block(valid_username(data.get("username")), blocked=action == "block")
    room = valid_room(data.get("room"))
    if action == "createRoom":
        kind = data.get("kind")
        if kind != "private":
            raise InvalidRequest("'kind' must be \"private\"")
        return CreateRoom(room, kind)
    if action == "markRead":
        message_id = valid_cursor("id", data.get("id"))
        if message_id is None:
            raise InvalidRequest("'id' must be a message id (24 hex digits)")
        return MarkRead(room, message_id)
    username = valid_username(data.get("username"))
    return AddMember(room, username) if action == "addMember" else RemoveMember(room, username)


# Every frame that reads or writes refuses an ended session. These find the mark in the connection record their own
# queries read anyway; ping reads and writes nothing (it keeps the socket open, with no database read, even while
# the database is down); every other frame reads the mark first (service.require_open_session).
_NO_MARK_READ = (SendMessage, Join, Typing, Ping, EditMessage, DeleteMessage, React)  # the last three: as sendMessage
# These are rate-limited per user (parley.limits): the limit is counted in the same round trip as the mark's read.
_COUNTED = {History: "history", Sync: "history", CreateRoom: "create_room", OpenDirect: "open_direct", AddMember: "add_member"}


def dispatch(ports: Ports, caller: Caller, command: Command) -> None:
    kind = _COUNTED.get(type(command))
    if kind is not None:
        service.count_use(ports, caller=caller, kind=kind)
    elif not isinstance(command, _NO_MARK_READ):
        service.require_open_session(ports, caller=caller)
    match command:
        case Ping():
            service.ping(ports, caller=caller)
        case Join(room):
            service.join(ports, caller=caller, room=room)
        case Leave(room):
            service.leave(ports, caller=caller, room=room)
        case SendMessage(room, text, client_msg_id, reply_to, mentions):
            service.send_message(ports, caller=caller, room=room, text=text, client_msg_id=client_msg_id,
                                 reply_to=reply_to, mentions=mentions)
        case EditMessage(room, message_id, text):
            messages.edit_message(ports, caller=caller, room=room, message_id=message_id, text=text)
        case DeleteMessage(room, message_id):
            messages.delete_message(ports, caller=caller, room=room, message_id=message_id)
        case React(room, message_id, emoji, on):
            change = messages.react if on else messages.unreact
            change(ports, caller=caller, room=room, message_id=message_id, emoji=emoji)
        case Sync(room, since, limit):
            messages.send_sync(ports, caller=caller, room=room, since=since, limit=limit)
        case Typing(room, is_typing):
            service.typing(ports, caller=caller, room=room, is_typing=is_typing)
        case History(room, before, after, limit):
            service.send_history(ports, caller=caller, room=room, before=before, after=after, limit=limit)
        case CreateRoom(room, kind):
            rooms.create_room(ports, caller=caller, room=room, kind=kind)
        case AddMember(room, username):
            rooms.add_member(ports, caller=caller, room=room, username=username)
        case RemoveMember(room, username):
            rooms.remove_member(ports, caller=caller, room=room, username=username)
        case OpenDirect(username):
            rooms.open_direct(ports, caller=caller, username=username)
        case MarkRead(room, message_id):
            rooms.mark_read(ports, caller=caller, room=room, message_id=message_id)
        case ListRooms():
            rooms.send_rooms(ports, caller=caller)
        case Block(username, blocked):
            blocks.block(ports, caller=caller, username=username, blocked=blocked)


def error_frame(code: ErrorCode, message: str, echo: Echo | None = None) -> dict:
    frame = {"type": "error", "code": code.value, "message": message}
    if echo is not None and echo.action is not None:
        frame["action"] = echo.action
    if echo is not None and echo.client_msg_id is not None:
        frame["clientMsgId"] = echo.client_msg_id
    if echo is not None and echo.room is not None:
        frame["room"] = echo.room
    return frame


def refusal_frame(exc: ChatError, echo: Echo | None = None) -> dict:
    """The error frame for a refused request; a rate-limited one also says when to retry (``retryAfterMs``)."""
    frame = error_frame(exc.code, exc.reason, echo)
    if isinstance(exc, RateLimited):
        frame["retryAfterMs"] = exc.retry_after_ms
    return frame
