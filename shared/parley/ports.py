"""The small interfaces the chat services are written against. Adapters implement them; tests swap them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from parley.limits import Limits, RateLimit
from parley.model import Connection, HistoryPage, Message, UserRef, utcnow
from parley.rooms import RoomStore


class ConnectionStore(Protocol):
    def add(self, *, connection: Connection) -> None: ...

    def get(self, *, connection_id: str) -> Connection | None: ...

    def join(
        self, *, connection: Connection, room: str, now: datetime | None = None, limit: RateLimit | None = None
    ) -> Connection | None:
        """Add ``room`` to the connection (creating the record from ``connection`` if it is missing).

        Returns the record as it was *before* the change (None if it did not exist). With ``limit``, the join
        counts against it (see ``parley.limits``); over it, raises ``RateLimited`` and changes nothing."""

    def leave(self, *, connection_id: str, room: str) -> Connection | None:
        """Remove ``room``; returns the record as it was before (None if there was none)."""

    def remove(self, *, connection_id: str) -> Connection | None:
        """Delete the connection; returns what was deleted (None if it was already gone)."""

    def in_room(self, *, room: str) -> list[Connection]:
        """Every stored connection that joined ``room`` (an indexed query on the room)."""

    def of_users(self, *, user_ids: list[str]) -> list[Connection]:
        """Every stored connection of those users (an indexed query on the user)."""

    def leave_all(self, *, user_id: str, room: str) -> int:
        """Take ``room`` out of every connection of the user (one update); how many connections had it."""

    def signal_typing(
        self, *, connection_id: str, room: str, is_typing: bool, now: datetime, quiet: timedelta,
        limit: RateLimit | None = None,
    ) -> TypingSignal:
        """Record a typing signal of a member of ``room``. ``True`` is recorded (RELAY) only if the last one
        was ``quiet`` or longer ago, else TOO_SOON; ``False`` clears the record (RELAY), so the next ``True``
        is relayed at once. NOT_MEMBER when the connection has not joined ``room``. With ``limit``, every
        RELAY counts against it; over it, raises ``RateLimited`` and records nothing."""

    def use(self, *, connection_id: str, room: str | None, kind: str, now: datetime, limit: RateLimit) -> Usage:
        """Count one use of ``kind`` (a sendMessage, say) by the connection against ``limit``, in the one atomic
        update that also checks that it joined ``room`` (unless ``room`` is None: a member of a private room
        sends without joining) and reads the session mark. NOT_MEMBER (nothing counted) when the connection is
        gone or has not joined ``room``; SESSION_ENDED when its session was ended; over the limit raises
        ``RateLimited`` (nothing counted)."""

    def count_earlier(self, *, connection: Connection, now: datetime) -> int:
        """How many of the user's other connections, not expired at ``now``, were opened before this one
        (ordered by ``connected_at``, then id)."""


class Usage(Enum):
    COUNTED = "counted"
    NOT_MEMBER = "not_member"
    SESSION_ENDED = "session_ended"  # the connection's session was ended (its record is marked)


class TypingSignal(Enum):
    RELAY = "relay"
    TOO_SOON = "too_soon"
    NOT_MEMBER = "not_member"
    SESSION_ENDED = "session_ended"  # the connection's session was ended (its record is marked)


class MessageStore(Protocol):
    def insert(self, *, message: Message) -> Message:
        """Store ``message``; if the user already stored one with the same ``client_msg_id``, store
        nothing and return that earlier message instead."""

    def page(
        self, *, room: str, before: str | None = None, after: str | None = None, limit: int
    ) -> HistoryPage: ...

    def latest_id(self, *, room: str) -> str | None:
        """The id of the newest message in ``room`` (None when it has none)."""


@dataclass(frozen=True, slots=True)
class StoredUser:
    id: str
    username: str
    password_hash: str
    created_at: datetime
    sessions: dict[str, datetime] = field(default_factory=dict)  # live session id -> its newest token's exp

    @property
    def ref(self) -> UserRef:
        return UserRef(id=self.id, username=self.username)


class UserStore(Protocol):
    def create(self, *, username: str, password_hash: str) -> StoredUser:
        """Raises ``UsernameTaken`` when the name exists in any letter case."""

    def by_username(self, *, username: str) -> StoredUser | None: ...

    def by_id(self, *, user_id: str) -> StoredUser | None: ...

    def update_password_hash(self, *, user_id: str, password_hash: str) -> None: ...

    def start_session(self, *, user_id: str, session_id: str, expires_at: datetime, now: datetime) -> None:
        """Record a live session on the user (the oldest is ended past a bounded number; expired ones go)."""

    def renew_session(self, *, user_id: str, session_id: str, expires_at: datetime) -> bool:
        """Move a live session's expiry; False when it is no longer live."""

    def end_sessions(self, *, user_id: str, session_id: str | None = None, keep: str | None = None) -> None:
        """End one session, or all of them (but ``keep``)."""

    def change_password(self, *, user_id: str, password_hash: str, keep: str) -> None:
        """Store the new hash and end every session but ``keep``, in one write."""


@dataclass(slots=True)
class DeliveryReport:
    delivered: int = 0
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Broadcaster(Protocol):
    def send(self, *, connection_ids: Sequence[str], payload: dict) -> DeliveryReport:
        """Deliver one JSON payload to every connection; never raises for one recipient's failure."""


class LoginAttempts(Protocol):
    """Failed log-ins per (user name, source address), per source address and per user name, shared by every
    container (so a backoff holds across Lambda instances)."""

    def locked_until(self, *, username: str, source_ip: str) -> datetime | None: ...

    def record_failure(self, *, username: str, source_ip: str, now: datetime) -> datetime | None:
        """Count one failure; returns until when further attempts are refused (None: not yet)."""

    def reset(self, *, username: str, source_ip: str) -> None:
        """A success forgets the failures of this (name, address) pair only."""


# API Gateway closes every WebSocket connection after 2 hours; a record older than that is stale even if
# its $disconnect (best effort) never arrived. A minute of slack covers clock skew between containers.
CONNECTION_TTL = timedelta(hours=2, minutes=1)


def _no_metric(name: str, value: float) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Ports:
    connections: ConnectionStore
    messages: MessageStore
    broadcaster: Broadcaster
    clock: Callable[[], datetime] = utcnow
    metric: Callable[[str, float], None] = _no_metric
    connection_ttl: timedelta = CONNECTION_TTL
    limits: Limits = field(default_factory=Limits)
    rooms: RoomStore | None = None  # kinds of room and memberships (parley.rooms); paths that need it refuse without
    users: UserStore | None = None  # looking members up by name (chat/rooms.py)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the frame: the connection and the user the authorizer (or the stored connection) vouches for."""

    connection_id: str
    user: UserRef
    connected_at: datetime | None = None
    session_id: str | None = None
    token_expires_at: datetime | None = None
