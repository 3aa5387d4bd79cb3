"""The small interfaces the chat services are written against, and the types they pass. Adapters implement
them; tests swap them. ``Ports`` holds one invocation's ports (with its clock, metric sink and limits) and
``Caller`` says who sent a frame."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from parley.limits import Limits, RateLimit
from parley.model import Connection, HistoryPage, Message, SyncCursor, UserRef, utcnow
from parley.rooms import Kind, Membership, Room
from parley.wire import Frame


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

    def is_ended(self, *, connection_id: str) -> bool:
        """Whether the connection's session was ended (``end_sessions`` marked its record): one read by id.
        False when there is no record."""

    def in_room(self, *, room: str) -> list[Connection]:
        """Every stored connection that joined ``room`` (an indexed query on the room)."""

    def of_users(self, *, user_ids: list[str]) -> list[Connection]:
        """Every stored connection of those users (an indexed query on the user)."""

    def leave_all(self, *, user_id: str, room: str) -> int:
        """Take ``room`` out of every connection of the user (one update); how many connections had it."""

    def signal_typing(
        self, *, user_id: str, connection_id: str, room: str, is_typing: bool, now: datetime, quiet: timedelta,
        limit: RateLimit | None = None,
    ) -> TypingSignal:
        """Record a typing signal of a member of ``room``. ``True`` is recorded (RELAY) only if the last one
        was ``quiet`` or longer ago, else TOO_SOON; ``False`` clears the record (RELAY), so the next ``True``
        is relayed at once. NOT_MEMBER when the connection has not joined ``room``. With ``limit`` (per user: every
        connection of ``user_id`` counts against it), a RELAY or TOO_SOON counts; over it, raises ``RateLimited``
        and counts nothing (the connection's record may still be updated)."""

    def use(
        self, *, user_id: str, connection_id: str, room: str | None, kind: str, now: datetime, limit: RateLimit
    ) -> Usage:
        """Count one use of ``kind`` (a sendMessage, say) by the user against ``limit``, which all the user's
        connections share, in the one update that also checks the connection: that it joined ``room`` (unless
        ``room`` is None: a member of a private room sends without joining, and the other kinds need no room) and
        that its session was not ended. COUNTED; NO_CONNECTION (the record is gone: counted), NOT_MEMBER or
        SESSION_ENDED (nothing counted); over the limit raises ``RateLimited`` (nothing counted). One round trip
        when counted and the connection is as asked; the other outcomes read both records once more."""

    def earlier(self, *, connection: Connection, now: datetime) -> list[Earlier]:
        """The user's other connections opened before this one (by ``connected_at``, then id), leaving out those
        expired at ``now`` and those of ended sessions, each with when API Gateway last confirmed it: one query."""

    def confirm_alive(self, *, connection_ids: list[str], now: datetime) -> None:
        """Record that API Gateway still had these connections at ``now`` (one update)."""


@dataclass(frozen=True, slots=True)
class Earlier:
    """A connection counted against the cap, and when API Gateway last said it still had it (None: never asked)."""

    id: str
    confirmed_at: datetime | None = None


class Usage(Enum):
    COUNTED = "counted"
    NO_CONNECTION = "no_connection"  # the connection has no record (counted: what to do is the caller's call)
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

    def exists(self, *, room: str, message_id: str) -> bool:
        """Whether ``room`` holds a message with this id (one read by ``_id``)."""

    def get(self, *, room: str, message_id: str) -> Message | None:
        """The message of ``room`` with this id, in its current state (one read by ``_id``)."""

    # Every change below is one atomic update of one message that adds 1 to its version and moves its updatedAt
    # to ``now`` (never back); it returns the message after the change, or None when the filter matched nothing
    # (no such message, not the author, deleted, already so...: the caller reads the message to say which).
    def edit(self, *, room: str, message_id: str, author_id: str, text: str, now: datetime) -> Message | None: ...

    def delete(self, *, room: str, message_id: str, by: UserRef, author_id: str | None, now: datetime) -> Message | None:
        """Make it a tombstone (``author_id``: only if that user wrote it; None: whoever did)."""

    def forget_excerpts(self, *, room: str, message_id: str, now: datetime) -> int:
        """Empty the excerpt of every reply to this message (one update); how many changed."""

    def react(self, *, room: str, message_id: str, user: UserRef, emoji: str, now: datetime, max_emoji: int) -> Message | None: ...

    def unreact(self, *, room: str, message_id: str, user_id: str, emoji: str, now: datetime) -> Message | None:
        """One round trip, two when the user was the last to hold that emoji (it stops counting against the cap)."""

    def changed_since(self, *, room: str, cursor: SyncCursor, limit: int) -> tuple[list[Message], bool]:
        """Messages whose (updatedAt, id) sorts after the cursor's, oldest change first; and whether more follow."""


@dataclass(frozen=True, slots=True)
class StoredUser:
    id: str
    username: str
    password_hash: str
    created_at: datetime
    sessions: dict[str, datetime] = field(default_factory=dict)  # live session id -> until when it lives (token or cookie)
    blocked: tuple[UserRef, ...] = ()  # the people this user blocked, oldest first (parley.chat.blocks)
    display_name: str | None = None  # shown beside the user name (parley.model.valid_display_name)

    def has_blocked(self, user_id: str) -> bool:
        return any(b.id == user_id for b in self.blocked)

    @property
    def ref(self) -> UserRef:
        return UserRef(id=self.id, username=self.username, display_name=self.display_name)


@dataclass(frozen=True, slots=True)
class SendState:
    newest_id: str | None = None
    blocked_by: frozenset[str] = frozenset()  # direct rooms: the member(s) who blocked the other


class UserStore(Protocol):
    def create(self, *, username: str, password_hash: str, display_name: str | None = None) -> StoredUser:
        """Raises ``UsernameTaken`` when the name exists in any letter case."""

    def set_display_name(self, *, user_id: str, display_name: str | None) -> StoredUser | None:
        """Set (or, with None, clear) the user's display name in one write; the user after it, None if none."""

    def by_username(self, *, username: str) -> StoredUser | None: ...

    def by_id(self, *, user_id: str) -> StoredUser | None: ...

    def update_password_hash(self, *, user_id: str, password_hash: str) -> None: ...

    def start_session(self, *, user_id: str, session_id: str, expires_at: datetime, now: datetime) -> None:
        """Record a live session on the user (the oldest is ended past a bounded number; expired ones go)."""

    def renew_session(self, *, user_id: str, session_id: str, expires_at: datetime) -> bool:
        """Move a live session's expiry later (never earlier: a session cookie may outlive its tokens); False when
        it is no longer live."""

    def session_live(self, *, user_id: str, session_id: str) -> bool:
        """Whether the session is still on the user's record (one read by id, linearizable on a real server: it
        sees every session ending acknowledged before it started)."""

    def end_sessions(self, *, user_id: str, session_id: str | None = None, keep: str | None = None) -> None:
        """End one session, or all of them (but ``keep``)."""

    def change_password(self, *, user_id: str, password_hash: str, keep: str) -> None:
        """Store the new hash and end every session but ``keep``, in one write."""

    def block(self, *, user_id: str, other: UserRef, limit: int) -> bool:
        """Add ``other`` to the user's blocked people (once); False when ``limit`` are blocked already. One write."""

    def unblock(self, *, user_id: str, other_id: str) -> None: ...


@dataclass(slots=True)
class DeliveryReport:
    delivered: int = 0
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Broadcaster(Protocol):
    def send(self, *, connection_ids: Sequence[str], frame: Frame) -> DeliveryReport:
        """Post ``frame.body`` as it is (encoded once by the caller, never again) to every connection; never
        raises for one recipient's failure."""


class ConnectionProbe(Protocol):
    def probe(self, *, connection_ids: Sequence[str]) -> DeliveryReport:
        """Ask API Gateway about each connection (``GET @connections/{id}``): ``delivered`` counts those it still
        has, ``gone`` lists those it answered 410 for, ``failed`` the others; never raises for one of them."""


class LoginAttempts(Protocol):
    """Failed log-ins per (user name, source address), per source address and per user name, shared by every
    container (so a backoff holds across Lambda instances). With ``device`` (the nonce of a valid device cookie for
    that name) they are counted and checked under that device alone instead: a known device is paused only by
    its own failures."""

    def locked_until(self, *, username: str, source_ip: str, device: str | None = None) -> datetime | None: ...

    def record_failure(
        self, *, username: str, source_ip: str, now: datetime, device: str | None = None
    ) -> datetime | None:
        """Count one failure; returns until when further attempts are refused (None: not yet)."""

    def reset(self, *, username: str, source_ip: str, device: str | None = None) -> None:
        """A success forgets the failures of this (name, address) pair only (or of this device)."""


class SignupThrottle(Protocol):
    """Sign-ups per source address, shared by every container (kept apart from ``LoginAttempts``)."""

    def count(self, *, source_ip: str, now: datetime, limit: RateLimit) -> int | None:
        """Count one sign-up from ``source_ip``: None when ``limit`` allows it, else how long until it would
        (ms; then nothing is counted). One round trip, two when refused."""


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

    def send_state(self, *, room: str) -> SendState:
        """What a send needs of the room record, in one read by _id: the newest id record_message has recorded
        (None when none was; a message is recorded before it is broadcast, so any message a sender has seen is at
        or before it) and, in a direct room, who of its two members blocked the other."""

    def set_direct_block(self, *, room: str, members: tuple[UserRef, UserRef], by: str, blocked: bool, now: datetime) -> None:
        """Mark (or unmark) the direct room of ``members`` as blocked by member ``by``; the room record is made if
        there is none yet, so a conversation opened later is blocked too. One write."""

    def recount_members(self, *, room: str, at: datetime) -> None:
        """Set the member count to the number of memberships of the room, counted now (an indexed count, then a
        write: two round trips). Absolute, so it is safe to run again and any later change repairs one a crash
        skipped; ``at`` (taken before the count) keeps an older count from overwriting a newer one."""

    def begin_removal(self, *, room: str, user_id: str) -> None:
        """Note on the room that ``user_id``'s removal began (``Room.removing``), so a retry finishes it."""

    def end_removal(self, *, room: str, user_id: str) -> None:
        """The removal finished: take the note back."""

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

    def members_page(
        self, *, room: str, limit: int, after: tuple[datetime, str] | None
    ) -> tuple[list[Membership], tuple[datetime, str] | None]:
        """Up to ``limit`` members, longest-standing first (then by user id), after the cursor ``after``
        (joined at, user id); with the cursor of the next page, or None on the last."""

    def members_among(self, *, room: str, user_ids: list[str]) -> set[str]:
        """Which of ``user_ids`` are members of ``room``."""

    def memberships_among(self, *, room: str, user_ids: list[str]) -> dict[str, Membership]:
        """The memberships of those of ``user_ids`` who are members of ``room``, by user id (one read by _id)."""

    def eldest_member(self, *, room: str) -> Membership | None: ...

    def memberships_of(self, *, user_id: str) -> list[Membership]:
        """Every room the user is in (an indexed query on the user)."""

    def show_display_name(self, *, user: UserRef) -> None:
        """Copy the user's display name (or its absence) into every membership of theirs, in one write."""

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
    probe: ConnectionProbe | None = None  # $connect at the cap: which counted connections API Gateway no longer has


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the frame: the connection and the user the authorizer (or the stored connection) vouches for."""

    connection_id: str
    user: UserRef
    connected_at: datetime | None = None
    session_id: str | None = None
    token_expires_at: datetime | None = None
