"""Kinds of room, memberships and read positions: plain data and the rules on names (the store's port,
``RoomStore``, is in ``parley.ports`` with the others).

No I/O here. A room is ``public`` (created by the first join, open to every signed-in user), ``private``
(created by ``createRoom``, members only, managed by its owner) or ``direct`` (two users, named
``dm-<smaller id>-<larger id>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from parley.errors import InvalidRequest
from parley.model import DIRECT_RE, Message, UserRef, iso_ms

DM_PREFIX = "dm-"
RECENT = 100  # the newest message ids each room keeps, from which unread counts are taken (so they stop at 100)


class Kind(str, Enum):
    PUBLIC = "public"
    PRIVATE = "private"
    DIRECT = "direct"


def is_direct_name(room: str) -> bool:
    """Every name that starts with dm- is reserved for direct rooms: never public, never created by name."""
    return room.startswith(DM_PREFIX)


def direct_room_name(a: str, b: str) -> str:
    """The one room of a pair of users, whichever of them opens it."""
    low, high = sorted((a, b))
    name = f"{DM_PREFIX}{low}-{high}"
    if not DIRECT_RE.match(name):
        raise InvalidRequest("these user ids cannot form a direct room name")
    return name


def direct_other(room: str, user_id: str) -> str | None:
    """The other member of a direct room, read from its name (no database needed)."""
    if not is_direct_name(room):
        return None
    low, _, high = room[len(DM_PREFIX):].partition("-")
    return high if low == user_id else low


@dataclass(frozen=True, slots=True)
class Recent:
    """One of a room's newest messages: enough to count it as unread (who sent it, where it sorts)."""

    id: str
    user_id: str
    mentions: tuple[str, ...] = ()  # the users it mentions (sendMessage's ``mentions``, members only)


@dataclass(frozen=True, slots=True)
class Room:
    name: str
    kind: Kind
    created_at: datetime
    last_activity_at: datetime
    owner: UserRef | None = None  # private rooms
    member_count: int = 0
    direct_members: tuple[UserRef, ...] = ()  # direct rooms: both users
    last_message: Message | None = None
    recent: tuple[Recent, ...] = ()  # oldest first, at most RECENT
    message_count: int = 0
    removing: tuple[str, ...] = ()  # ids of users whose removeMember began and has not finished (a retry finishes it)


@dataclass(frozen=True, slots=True)
class Membership:
    room: str
    user: UserRef
    kind: Kind
    joined_at: datetime
    read_id: str | None = None


@dataclass(frozen=True, slots=True)
class Unread:
    count: int
    capped: bool  # there may be more than ``count`` (the room keeps only its newest RECENT ids)
    mentions: int = 0  # of those, the ones that mention the member


def unread(room: Room, membership: Membership) -> Unread:
    """Messages by others after the read position, counted among the room's newest RECENT."""
    read, me = membership.read_id or "", membership.user.id
    unseen = [r for r in room.recent if r.id > read and r.user_id != me]
    older_unseen = room.message_count > len(room.recent) and (not room.recent or room.recent[0].id > read)
    return Unread(count=len(unseen), capped=older_unseen, mentions=sum(1 for r in unseen if me in r.mentions))


def last_message_json(message: Message | None) -> dict | None:
    if message is None:
        return None
    out = {"id": message.id, "text": message.text or "", "user": message.user.to_json(),
           "createdAt": iso_ms(message.created_at)}
    if message.deleted:
        out["deleted"] = True  # a tombstone: no text
    return out


def room_item(room: Room, membership: Membership) -> dict:
    """One entry of ``GET /rooms`` and of the ``rooms`` frame (docs/protocol.md)."""
    me = membership.user.id
    if room.kind is Kind.DIRECT:
        others = [u for u in room.direct_members if u.id != me] or list(room.direct_members)
        members: object = others[0].to_json() if others else None
    else:
        members = room.member_count
    counted = unread(room, membership)
    return {
        "room": room.name,
        "kind": room.kind.value,
        "members": members,
        "owner": room.owner.to_json() if room.owner else None,
        "lastMessage": last_message_json(room.last_message),
        "unread": counted.count,
        "unreadCapped": counted.capped,
        "mentions": counted.mentions,
        "readId": membership.read_id,
        "lastActivityAt": iso_ms(room.last_activity_at),
    }


def directory_item(room: Room) -> dict:
    """One entry of ``GET /rooms/public``."""
    return {
        "room": room.name,
        "kind": room.kind.value,
        "members": room.member_count,
        "lastMessage": last_message_json(room.last_message),
        "lastActivityAt": iso_ms(room.last_activity_at),
    }
