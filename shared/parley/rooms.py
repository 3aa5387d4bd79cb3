"""Kinds of room, memberships and read positions: plain data, the rules on names, and the store's port.

No I/O here. A room is ``public`` (created by the first join, open to every signed-in user), ``private``
(created by ``createRoom``, members only, managed by its owner) or ``direct`` (two users, named
``dm-<smaller id>-<larger id>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Protocol

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


def unread(room: Room, membership: Membership) -> Unread:
    """Messages by others after the read position, counted among the room's newest RECENT."""
    read = membership.read_id or ""
    count = sum(1 for r in room.recent if r.id > read and r.user_id != membership.user.id)
    older_unseen = room.message_count > len(room.recent) and (not room.recent or room.recent[0].id > read)
    return Unread(count=count, capped=older_unseen)


def last_message_json(message: Message | None) -> dict | None:
    if message is None:
        return None
    return {"id": message.id, "text": message.text, "user": message.user.to_json(), "createdAt": iso_ms(message.created_at)}


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


class ReadResult(Enum):
    ADVANCED = "advanced"
    NOT_FORWARD = "not_forward"
    NOT_MEMBER = "not_member"


@dataclass(frozen=True, slots=True)
class DirectoryPage:
    rooms: list[Room] = field(default_factory=list)
    next_after: tuple[datetime, str] | None = None


class RoomStore(Protocol):
    """Rooms and memberships. Every method is one database round trip unless it says otherwise."""

    def get(self, *, room: str) -> Room | None: ...

    def ensure_public(self, *, room: str, now: datetime) -> Room:
        """The room, created as public if no room has that name (atomically: an upsert on the name).
        A private or direct room of that name is returned as it is; the caller refuses it."""

    def create(self, *, room: Room) -> bool:
        """Insert a new room; False when any room has that name already (a unique key decides)."""

    def used_before_rooms(self, *, room: str) -> bool:
        """Whether a public room of that name was in use before rooms were recorded: it holds messages or
        someone is in it now. Two round trips (both indexed)."""

    def ensure_direct(self, *, room: str, members: tuple[UserRef, UserRef], now: datetime) -> Room: ...

    def record_message(self, *, message: Message) -> None:
        """The room's last activity, message count and newest ids (kept sorted, capped at RECENT); the
        newest of those is its last message, so concurrent sends cannot leave an older one as the last."""

    def change_member_count(self, *, room: str, delta: int) -> Room | None:
        """Add ``delta`` to the member count; the room after the change."""

    def set_owner(self, *, room: str, owner: UserRef | None) -> None: ...

    def membership(self, *, room: str, user_id: str) -> Membership | None: ...

    def add_membership(self, *, membership: Membership) -> bool:
        """False when the user is a member already (a unique key on room and user decides)."""

    def add_memberships(self, *, memberships: list[Membership]) -> None:
        """Insert those that do not exist yet (one round trip, unordered)."""

    def remove_membership(self, *, room: str, user_id: str) -> Membership | None:
        """Delete it; returns what was deleted (None if the user was not a member)."""

    def members(self, *, room: str) -> list[Membership]:
        """Every member, longest-standing first (an indexed query on the room)."""

    def members_among(self, *, room: str, user_ids: list[str]) -> set[str]:
        """Which of ``user_ids`` are members of ``room``."""

    def eldest_member(self, *, room: str) -> Membership | None: ...

    def memberships_of(self, *, user_id: str) -> list[Membership]:
        """Every room the user is in (an indexed query on the user)."""

    def by_names(self, *, rooms: list[str]) -> list[Room]:
        """The rooms of those names, in one query (``$in`` on the primary key)."""

    def kinds(self, *, rooms: list[str]) -> dict[str, Kind]:
        """The kind of each of these rooms that has a record (one query, only the kinds read)."""

    def with_last_messages(self, *, rooms: list[Room]) -> list[Room]:
        """The rooms with ``last_message`` filled in: one query for all of them (``$in`` on message ids)."""

    def advance_read(self, *, room: str, user_id: str, message_id: str) -> tuple[ReadResult, Membership | None]:
        """Move the read position forward to ``message_id`` (never back). One round trip when it moves, two
        when it does not (then a second read tells NOT_FORWARD from NOT_MEMBER)."""

    def public_page(self, *, limit: int, after: tuple[datetime, str] | None) -> DirectoryPage:
        """Public rooms, most recently active first, ``limit`` at most, after the cursor ``after``."""
