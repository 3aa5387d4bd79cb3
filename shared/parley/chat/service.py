"""Chat services: join, leave, send, typing, history, presence. Written against ports only.

Every reply goes out through the broadcaster (API Gateway ignores a WebSocket route's return value
unless the route has a route response, and Parley's routes have none).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone

from parley import wire
from parley.chat.access import Access, refuse_blocked_send, room_access
from parley.chat.replies import history_frame, joined_frame
from parley.errors import Forbidden, InvalidRequest, NotInRoom, ReplyTooLarge, SessionEnded, TooManyConnections
from parley.model import (
    MAX_ROOMS_PER_CONNECTION,
    REPLY_EXCERPT,
    TYPING_INTERVAL,
    Connection,
    HistoryPage,
    Message,
    ReplyTo,
    UserRef,
    new_message_id,
    not_before,
)
from parley.ports import Caller, DeliveryReport, Earlier, Ports, TypingSignal, Usage
from parley.rooms import Kind, Membership, is_direct_name

log = logging.getLogger("parley.chat")

MAX_PURGE = 1000  # stale connections one invocation cleans up at most
PROBE_AGAIN_AFTER = timedelta(minutes=1)  # at the connection cap, API Gateway is asked about a connection this often
# "is typing" is relayed at most once per this long per connection (clients repeat it every TYPING_INTERVAL while
# keys are pressed; the slack lets a repeat that arrives a little early through); the rest are dropped, since
# the others already show the indicator. "Stopped" always goes.
TYPING_QUIET = TYPING_INTERVAL - timedelta(milliseconds=500)


# ---------------------------------------------------------------- connection lifecycle
def connect(ports: Ports, *, caller: Caller) -> None:
    """Register the connection; raises ``TooManyConnections`` (and keeps no record) when the user already has
    ``limits.connections_per_user`` live connections opened before it. Stored first and counted after, so
    concurrent connects cannot all slip under the cap. Expired records (past API Gateway's 2 hours) and those of
    ended sessions do not count; at the cap, API Gateway is asked about the counted ones (``ports.probe``), and
    those it no longer has (a $disconnect that never came) are forgotten, their rooms told, and not counted.

    Raises ``SessionEnded`` (and keeps no record) when the caller's session ended after the authorizer let it in:
    the session is read again *after* the record is stored, and ending a session writes its mark *before* it
    lists the records it closes, so whatever the interleaving one of the two sees the other
    (docs/reliability.md, "A socket opened during a log-out")."""
    connected_at = caller.connected_at or ports.clock()
    connection = Connection(
        id=caller.connection_id,
        user=caller.user,
        rooms=(),
        connected_at=connected_at,
        expires_at=connected_at + ports.connection_ttl,
        session_id=caller.session_id,
        token_expires_at=caller.token_expires_at,
    )
    ports.connections.add(connection=connection)
    if caller.session_id is not None and not _session_live(ports, caller):
        ports.connections.remove(connection_id=caller.connection_id)
        raise SessionEnded()
    cap, now = ports.limits.connections_per_user, ports.clock()
    earlier = ports.connections.earlier(connection=connection, now=now)
    if len(earlier) >= cap:
        earlier = _without_gone(ports, earlier, now)
    if len(earlier) >= cap:
        ports.connections.remove(connection_id=caller.connection_id)
        raise TooManyConnections(f"at most {cap} open connections per user")


def _session_live(ports: Ports, caller: Caller) -> bool:
    if ports.users is None:  # a wiring error, not a reason to let a socket of an ended session open
        raise RuntimeError("connect needs ports.users to check the caller's session")
    return ports.users.session_live(user_id=caller.user.id, session_id=caller.session_id)


def _without_gone(ports: Ports, earlier: list[Earlier], now: datetime) -> list[Earlier]:
    """Ask API Gateway about the counted connections it has not confirmed in the last ``PROBE_AGAIN_AFTER`` (so
    knocking at the cap costs at most one GET per connection a minute), purge those it no longer has, record the
    others as confirmed; returns the connections still counted. An answer other than 410 counts as there; without
    ``ports.probe`` nothing is asked."""
    asked = [e.id for e in earlier if e.confirmed_at is None or e.confirmed_at <= now - PROBE_AGAIN_AFTER]
    if not asked or ports.probe is None:
        return earlier
    report = ports.probe.probe(connection_ids=asked)
    gone, failed = set(report.gone), set(report.failed)
    _purge(ports, gone)
    ports.connections.confirm_alive(connection_ids=[c for c in asked if c not in gone and c not in failed], now=now)
    return [e for e in earlier if e.id not in gone]


def require_session(ports: Ports, *, caller: Caller) -> None:
    """A frame on a connection whose token has expired is refused (no database read: the expiry comes with
    the authorizer context, or the stored connection). Ended sessions are caught where the connection record
    is read anyway (``send_message``, ``join``, ``typing``), by ``require_open_session`` on every other frame
    but ``ping`` (which reads and writes nothing), and by the close that ending a session sends."""
    if caller.token_expires_at is not None and _aware(caller.token_expires_at) <= ports.clock():
        raise SessionEnded()


def require_open_session(ports: Ports, *, caller: Caller) -> None:
    """Raises ``SessionEnded`` when the caller's connection record is marked ended (one read), so a socket whose
    close was lost cannot go on reading history, listing rooms or adding members after a log-out."""
    if ports.connections.is_ended(connection_id=caller.connection_id):
        raise SessionEnded()


def count_use(ports: Ports, *, caller: Caller, kind: str) -> None:
    """``require_open_session`` and the user's rate limit of ``kind`` (``parley.limits.PER_USER``: createRoom,
    openDirect, addMember, history) in one round trip. Raises ``SessionEnded`` or ``RateLimited``; a connection
    with no record goes on (as ``require_open_session`` lets it)."""
    usage = ports.connections.use(
        user_id=caller.user.id, connection_id=caller.connection_id, room=None, kind=kind, now=ports.clock(),
        limit=ports.limits.per_user(kind),
    )
    if usage is Usage.SESSION_ENDED:
        raise SessionEnded()


def disconnect(ports: Ports, *, connection_id: str) -> Connection | None:
    """Forget the connection and tell each of its rooms when its user is no longer present there."""
    removed = ports.connections.remove(connection_id=connection_id)
    if removed is not None:
        _announce_gone(ports, removed, removed.rooms)
    return removed


# ---------------------------------------------------------------- rooms and presence
def online_users(connections: Iterable[Connection]) -> list[UserRef]:
    """Each user once, as their newest connection names them (a display name changed since an older one)."""
    newest_last = sorted(connections, key=lambda c: c.connected_at.timestamp() if c.connected_at else 0.0)
    users = {c.user.id: c.user for c in newest_last}
    return sorted(users.values(), key=lambda u: (u.username.lower(), u.id))


def presence(ports: Ports, *, room: str, user_id: str) -> list[UserRef]:
    access = room_access(ports.rooms, user_id=user_id, room=room, must_exist=True)
    return online_users(_audience(ports, room, access.kind))


def join(ports: Ports, *, caller: Caller, room: str) -> None:
    now = ports.clock()
    access = room_access(ports.rooms, user_id=caller.user.id, room=room, create_public_at=now)
    connected_at = caller.connected_at or now
    record = Connection(
        id=caller.connection_id,
        user=caller.user,
        connected_at=connected_at,
        expires_at=connected_at + ports.connection_ttl,
    )
    before = ports.connections.join(connection=record, room=room, now=now, limit=ports.limits.join)
    if before is not None and before.ended:
        raise SessionEnded()
    rooms_before = before.rooms if before else ()
    if room not in rooms_before and len(rooms_before) >= MAX_ROOMS_PER_CONNECTION:
        ports.connections.leave(connection_id=caller.connection_id, room=room)
        raise InvalidRequest(f"a connection may join at most {MAX_ROOMS_PER_CONNECTION} rooms; leave one first")
    if access.kind is Kind.PUBLIC and access.membership is None:
        _list_public_room(ports, caller.user, room, now)
    members = _live(ports, room)
    if access.kind is not Kind.PUBLIC:  # read after joining: a removal that raced this join wins
        allowed = ports.rooms.members_among(room=room, user_ids=[caller.user.id, *(c.user.id for c in members)])
        if caller.user.id not in allowed:
            ports.connections.leave(connection_id=caller.connection_id, room=room)
            raise Forbidden()
        members = [c for c in members if c.user.id in allowed]
    if not any(c.id == caller.connection_id for c in members):  # expired or raced away: count the caller in
        members.append(record)
    _send(ports, [caller.connection_id], joined_frame(room, _users_json(members)))
    already_present = room in rooms_before or any(
        c.user.id == caller.user.id and c.id != caller.connection_id for c in members
    )
    # a connection opened after a display-name change, beside an older one that shows the old name: say it again
    renamed = any(c.user.id == caller.user.id and c.id != caller.connection_id
                  and c.user.display_name != caller.user.display_name for c in members)
    if not already_present or renamed:
        others = [c.id for c in members if c.id != caller.connection_id]
        _send(ports, others, _presence_frame(room, caller.user, "online"))


def leave(ports: Ports, *, caller: Caller, room: str) -> None:
    before = ports.connections.leave(connection_id=caller.connection_id, room=room)
    _send(ports, [caller.connection_id], {"type": "left", "room": room})
    if before is not None and room in before.rooms:
        _announce_gone(ports, before, (room,))


# ---------------------------------------------------------------- messages
def send_message(
    ports: Ports, *, caller: Caller, room: str, text: str, client_msg_id: str | None, reply_to: str | None = None,
    mentions: tuple[str, ...] = (),
) -> Message:
    """Store, then deliver. ``reply_to`` must name a message of the room (one read, the only extra round trip);
    ``mentions`` keeps the users who are members of the room (read with the caller's membership, in one query),
    each carried with the username of their membership."""
    access = _count_send(ports, caller, room, mentions=mentions)
    state = ports.rooms.send_state(room=room)
    if access.kind is Kind.DIRECT:
        refuse_blocked_send(state, sender_id=caller.user.id)
    quoted = _quoted(ports, room, reply_to) if reply_to is not None else None
    now = not_before(ports.clock(), state.newest_id)
    message = Message(
        id=new_message_id(now),
        room=room,
        text=text,
        user=caller.user,
        created_at=now,
        client_msg_id=client_msg_id,
        reply_to=quoted,
        mentions=tuple(m.user for m in access.others),
    )
    stored = ports.messages.insert(message=message)  # stored first: nothing is broadcast that is not saved
    frame = {"type": "message", "message": stored.to_json()}
    if stored.id != message.id:  # a retry of a message already stored: only the sender hears it again
        ports.metric("DuplicateSends", 1)
        _send(ports, [caller.connection_id], frame)
        return stored
    ports.rooms.record_message(message=stored)  # last activity and unread counts of the room list
    recipients = [c.id for c in _recipients(ports, room, access.kind)]
    if caller.connection_id not in recipients:
        recipients.append(caller.connection_id)
    report = _send(ports, recipients, frame)
    ports.metric("MessagesSent", 1)
    ports.metric("Recipients", report.delivered)
    return stored


def _quoted(ports: Ports, room: str, message_id: str) -> ReplyTo:
    original = ports.messages.get(room=room, message_id=message_id)
    if original is None:
        raise InvalidRequest("'replyTo' names no message of this room")
    return ReplyTo(id=original.id, user=original.user, excerpt=(original.text or "")[:REPLY_EXCERPT])


def typing(ports: Ports, *, caller: Caller, room: str, is_typing: bool) -> None:
    access = room_access(ports.rooms, user_id=caller.user.id, room=room)
    signal = ports.connections.signal_typing(
        user_id=caller.user.id, connection_id=caller.connection_id, room=room, is_typing=is_typing, now=ports.clock(), quiet=TYPING_QUIET,
        limit=ports.limits.typing,
    )
    if signal is TypingSignal.SESSION_ENDED:
        raise SessionEnded()
    if signal is TypingSignal.NOT_MEMBER:
        raise NotInRoom(room)
    if signal is TypingSignal.TOO_SOON:
        ports.metric("TypingDropped", 1)
        return
    others = [c.id for c in _audience(ports, room, access.kind) if c.user.id != caller.user.id]
    _send(ports, others, {"type": "typing", "room": room, "user": caller.user.to_json(), "isTyping": is_typing})


def history(
    ports: Ports, *, user_id: str, room: str, before: str | None, after: str | None, limit: int
) -> HistoryPage:
    room_access(ports.rooms, user_id=user_id, room=room, must_exist=True)
    return ports.messages.page(room=room, before=before, after=after, limit=limit)


def send_history(
    ports: Ports, *, caller: Caller, room: str, before: str | None, after: str | None, limit: int
) -> None:
    page = history(ports, user_id=caller.user.id, room=room, before=before, after=after, limit=limit)
    _send(ports, [caller.connection_id], history_frame(page, newest_first=after is None))


def ping(ports: Ports, *, caller: Caller) -> None:
    _send(ports, [caller.connection_id], {"type": "pong"})


def reply(ports: Ports, *, connection_id: str, frame: dict) -> None:
    """Send one frame (an error, say) to one connection alone."""
    _send(ports, [connection_id], frame)


# ---------------------------------------------------------------- helpers
def _count_send(ports: Ports, caller: Caller, room: str, mentions: tuple[str, ...] = ()) -> Access:
    """The caller's right to send, then the session, joined-room and rate-limit checks in one round trip: a
    member of a private or direct room may send joined or not; a public room needs this connection to have
    joined it. Raises Forbidden, SessionEnded, NotInRoom or RateLimited. The memberships of ``mentions`` are
    read with the caller's (``Access.others``)."""
    access = room_access(ports.rooms, user_id=caller.user.id, room=room, with_members=mentions)
    usage = ports.connections.use(
        user_id=caller.user.id,
        connection_id=caller.connection_id,
        room=room if access.kind is Kind.PUBLIC else None,
        kind="send",
        now=ports.clock(),
        limit=ports.limits.send,
    )
    if usage is Usage.SESSION_ENDED:
        raise SessionEnded()
    if usage in (Usage.NOT_MEMBER, Usage.NO_CONNECTION):
        raise NotInRoom(room)
    return access


def _recipients(ports: Ports, room: str, kind: Kind) -> list[Connection]:
    """Who gets a room's messages: in a public room the connections that joined it; in a private or direct room
    every open connection of every member, joined or not (the members, then their connections: two indexed
    queries, read after the message was stored, so a member removed before that gets nothing)."""
    if kind is Kind.PUBLIC:
        return _live(ports, room)
    member_ids = [m.user.id for m in ports.rooms.members(room=room)]
    return _fresh(ports, ports.connections.of_users(user_ids=member_ids))


def _audience(ports: Ports, room: str, kind: Kind) -> list[Connection]:
    """Who sees presence and typing: the connections that joined the room, in a private or direct room only
    those of users who are members when this is read (a join that raced a removal is left out)."""
    joined = _live(ports, room)
    if kind is Kind.PUBLIC:
        return joined
    allowed = ports.rooms.members_among(room=room, user_ids=[c.user.id for c in joined])
    return [c for c in joined if c.user.id in allowed]


def _list_public_room(ports: Ports, user: UserRef, room: str, now: datetime) -> None:
    """Joining a public room lists it in the user's rooms (until they remove themself with removeMember)."""
    if ports.rooms.add_membership(membership=Membership(room=room, user=user, kind=Kind.PUBLIC, joined_at=now)):
        ports.rooms.recount_members(room=room, at=now)  # counted, not incremented: docs/reliability.md


def _live(ports: Ports, room: str) -> list[Connection]:
    return _fresh(ports, ports.connections.in_room(room=room))


def _fresh(ports: Ports, connections: Iterable[Connection]) -> list[Connection]:
    """The connections that may still receive: not expired, and not of an ended session (whose close may have
    been lost: its socket gets nothing more)."""
    now = ports.clock()
    return [c for c in connections if not c.ended and (c.expires_at is None or _aware(c.expires_at) > now)]


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _users_json(connections: Iterable[Connection]) -> list[dict]:
    return [u.to_json() for u in online_users(connections)]


def _presence_frame(room: str, user: UserRef, status: str) -> dict:
    return {"type": "presence", "room": room, "user": user.to_json(), "status": status}


def _send(ports: Ports, connection_ids: Sequence[str], payload: dict) -> DeliveryReport:
    """Broadcast, then purge the connections API Gateway said are gone (410)."""
    report = _broadcast(ports, connection_ids, payload)
    _purge(ports, report.gone)
    return report


def _announce_gone(ports: Ports, gone: Connection, rooms: Iterable[str]) -> None:
    """Tell ``rooms`` that the user of a connection that is no more went offline (where they have no other
    connection), then purge the connections found gone on the way."""
    _purge(ports, _tell_offline(ports, gone, rooms))


def _purge(ports: Ports, gone: Iterable[str]) -> None:
    """Forget each connection API Gateway reported gone and tell its rooms its user went offline; telling
    them may find more gone connections, which join the queue. At most MAX_PURGE per call: the rest are
    found by later broadcasts (or expire)."""
    pending = list(gone)
    seen: set[str] = set()
    while pending and len(seen) < MAX_PURGE:
        connection_id = pending.pop()
        if connection_id in seen:
            continue
        seen.add(connection_id)
        removed = ports.connections.remove(connection_id=connection_id)
        if removed is None:  # removed meanwhile: its $disconnect (or another purge) told its rooms
            continue
        ports.metric("StaleConnectionsPurged", 1)
        log.info("purged stale connection", extra={"connection_id": connection_id})
        pending.extend(_tell_offline(ports, removed, removed.rooms))


def _tell_offline(ports: Ports, gone: Connection, rooms: Iterable[str]) -> list[str]:
    """Send "offline" for ``gone``'s user to each room where no other connection of theirs is left (in a
    private or direct room only to members); returns the connections found gone, each posted to once."""
    rooms = list(rooms)
    closed = _closed(ports, rooms)
    found: list[str] = []
    for room in rooms:
        audience = [c for c in _live(ports, room) if c.id != gone.id]
        if any(c.user.id == gone.user.id for c in audience):
            continue  # another of the user's connections is still in the room
        if room in closed:  # only members hear it (a connection a racing removal left behind does not)
            allowed = ports.rooms.members_among(room=room, user_ids=[c.user.id for c in audience])
            audience = [c for c in audience if c.user.id in allowed]
        recipients = [c.id for c in audience if c.id not in found]
        found += _broadcast(ports, recipients, _presence_frame(room, gone.user, "offline")).gone
    return found


def _broadcast(ports: Ports, connection_ids: Sequence[str], payload: dict) -> DeliveryReport:
    """One payload to every connection, counting the failures; raises ``ReplyTooLarge`` (sending nothing) for
    a payload over API Gateway's limit."""
    if not connection_ids:
        return DeliveryReport()
    frame = wire.Frame.of(payload)  # the one encoding: measured here, posted as it is by the broadcaster
    if frame.size > wire.MAX_PAYLOAD_BYTES:  # API Gateway would refuse it (413) and the client would get nothing
        ports.metric("OversizedPayloads", 1)
        log.error("payload over the message limit", extra={"type": payload.get("type"), "size": frame.size})
        raise ReplyTooLarge(frame.size, wire.MAX_PAYLOAD_BYTES)
    report = ports.broadcaster.send(connection_ids=connection_ids, frame=frame)
    if report.failed:
        ports.metric("DeliveryFailures", len(report.failed))
    return report


def _closed(ports: Ports, rooms: list[str]) -> set[str]:
    """Which of these rooms are private or direct: ``dm-`` names by name, the others in one read."""
    closed = {r for r in rooms if is_direct_name(r)}
    others = [r for r in rooms if r not in closed]
    if others and ports.rooms is not None:
        closed |= {name for name, kind in ports.rooms.kinds(rooms=others).items() if kind is not Kind.PUBLIC}
    return closed
