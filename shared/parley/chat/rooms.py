"""Chat services for private and direct rooms: create, add and remove members, open a direct room, mark read,
list rooms. Plain functions over the ports, like ``parley.chat.service`` (whose broadcaster they reuse).

Ownership: the owner of a private room is always one of its members. When the owner leaves, the member who has
been in the room longest becomes its owner, so while a room has members someone can manage it. When the last
member leaves the room stays (its name taken, its history kept) and nobody can join it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from parley.chat.access import refuse_if_blocked, room_access
from parley.chat.service import _fresh, _live, _send
from parley.errors import Forbidden, InvalidRequest, NotInRoom, RoomTaken, UserNotFound
from parley.model import UserRef
from parley.ports import Caller, DirectoryPage, Ports, ReadResult, StoredUser
from parley.rooms import (
    Kind,
    Membership,
    Room,
    direct_other,
    direct_room_name,
    directory_item,
    is_direct_name,
    room_item,
)

MAX_DIRECTORY_PAGE = 100
MAX_MEMBERS_PAGE = 200


def create_room(ports: Ports, *, caller: Caller, room: str, kind: str) -> Room:
    """A private room owned by the caller; ``RoomTaken`` when any room has that name (a public room that
    anyone has joined counts, including one used before rooms were recorded)."""
    if kind != Kind.PRIVATE.value:
        raise InvalidRequest("'kind' must be \"private\" (public rooms are made by joining, direct ones by openDirect)")
    if is_direct_name(room):
        raise InvalidRequest("room names that begin with 'dm-' are reserved for direct rooms")
    if ports.rooms.used_before_rooms(room=room):
        raise RoomTaken(room)
    now = ports.clock()
    created = Room(name=room, kind=Kind.PRIVATE, created_at=now, last_activity_at=now, owner=caller.user, member_count=1)
    if not ports.rooms.create(room=created):
        raise RoomTaken(room)
    ports.rooms.add_membership(membership=Membership(room=room, user=caller.user, kind=Kind.PRIVATE, joined_at=now))
    frame = {"type": "roomCreated", "room": room, "kind": Kind.PRIVATE.value, "owner": caller.user.to_json(),
             "members": [caller.user.to_json()]}
    _send(ports, [caller.connection_id], frame)
    return created


def add_member(ports: Ports, *, caller: Caller, room: str, username: str) -> None:
    """Owner only. The new member's connections get ``added``; the other members' connections ``memberAdded``."""
    found = ports.rooms.get(room=room)
    if found is not None and found.kind is Kind.PUBLIC:
        raise InvalidRequest("public rooms have no member list to manage; anyone may join them")
    if found is None or found.kind is not Kind.PRIVATE or found.owner is None or found.owner.id != caller.user.id:
        raise Forbidden()  # the owner check: it is also the membership check (the owner is always a member)
    user = _user(ports, username)
    refuse_if_blocked(user, by_user_id=caller.user.id)
    now = ports.clock()
    if not ports.rooms.add_membership(membership=Membership(room=room, user=user.ref, kind=Kind.PRIVATE, joined_at=now)):
        ports.rooms.recount_members(room=room, at=now)  # a retry after a crash before the count: it converges
        raise InvalidRequest(f"'{user.username}' is already a member of this room")
    ports.rooms.recount_members(room=room, at=now)
    members = [m.user for m in ports.rooms.members(room=room)]
    connections = _fresh(ports, ports.connections.of_users(user_ids=[u.id for u in members]))
    added = {"type": "added", "room": room, "kind": Kind.PRIVATE.value, "owner": found.owner.to_json(),
             "members": [u.to_json() for u in members]}
    _send(ports, [c.id for c in connections if c.user.id == user.id], added)
    others = [c.id for c in connections if c.user.id != user.id]
    _send(ports, others, {"type": "memberAdded", "room": room, "user": user.ref.to_json()})


def remove_member(ports: Ports, *, caller: Caller, room: str, username: str) -> None:
    """The owner removes anyone else; any member removes themself. The membership is deleted and the room
    taken out of the removed user's connections before any frame is sent (see docs/protocol.md).

    Safe to retry: the room notes the removal first (``Room.removing``) and forgets it last, so a retry after a
    failure at any step, by the owner or by the user leaving, runs every step again instead of answering "not a
    member": each is idempotent (a delete, a ``$pull``, a count) and the frames are sent at least once."""
    is_self = username.lower() == caller.user.username.lower()
    try:
        access = room_access(ports.rooms, user_id=caller.user.id, room=room)
    except Forbidden:  # not a member of a private room: unless it is their own unfinished removal
        found = None if is_direct_name(room) or not is_self else ports.rooms.get(room=room)
        if found is None or caller.user.id not in found.removing:
            raise
        return _remove(ports, found, caller.user, resumed=True)
    if access.membership is None:
        if is_self and access.room is not None and caller.user.id in access.room.removing:
            return _unlist_public(ports, room, caller.user)  # access.room is public here
        if access.kind is Kind.PUBLIC:
            raise InvalidRequest("this room is not in your rooms")
        raise Forbidden()
    if access.kind is Kind.DIRECT:
        raise InvalidRequest("a direct conversation cannot be left")
    if access.kind is Kind.PUBLIC:
        if not is_self:
            raise InvalidRequest("in a public room you can only remove yourself")
        ports.rooms.begin_removal(room=room, user_id=caller.user.id)
        return _unlist_public(ports, room, caller.user)
    found = ports.rooms.get(room=room)
    if found is None:
        raise Forbidden()
    is_owner = found.owner is not None and found.owner.id == caller.user.id
    if not is_self and not is_owner:
        raise Forbidden()
    target = caller.user if is_self else _user(ports, username).ref
    if target.id in found.removing:
        return _remove(ports, found, target, resumed=True)
    if not is_self and ports.rooms.membership(room=room, user_id=target.id) is None:  # self: room_access read it
        raise InvalidRequest(f"'{target.username}' is not a member of this room")
    ports.rooms.begin_removal(room=room, user_id=target.id)
    _remove(ports, found, target, resumed=False)


def _unlist_public(ports: Ports, room: str, user: UserRef) -> None:
    """The steps of a user's removal of a public room from their rooms that ``begin_removal`` noted (the
    connections stay joined: leaving is ``leave``); each may run again."""
    ports.rooms.remove_membership(room=room, user_id=user.id)
    ports.rooms.recount_members(room=room, at=ports.clock())
    _send(ports, [c.id for c in ports.connections.of_users(user_ids=[user.id])], {"type": "removed", "room": room})
    ports.rooms.end_removal(room=room, user_id=user.id)


def _remove(ports: Ports, found: Room, target: UserRef, *, resumed: bool) -> None:
    """The steps of a removal of a private room's member that ``begin_removal`` noted; each may run again. A resumed removal cannot know what the first run sent, so it
    sends every frame again (a presence offline and the owner as it is now included)."""
    room = found.name
    ports.rooms.remove_membership(room=room, user_id=target.id)
    # From here the removed user is no longer a member: every delivery reads memberships after this point.
    was_present = ports.connections.leave_all(user_id=target.id, room=room) > 0 or resumed
    ports.rooms.recount_members(room=room, at=ports.clock())
    new_owner: UserRef | None = found.owner if resumed and found.owner is not None and found.owner.id != target.id else None
    if found.owner is not None and found.owner.id == target.id:
        eldest = ports.rooms.eldest_member(room=room)
        new_owner = eldest.user if eldest else None
        ports.rooms.set_owner(room=room, owner=new_owner)
    _send(ports, [c.id for c in ports.connections.of_users(user_ids=[target.id])], {"type": "removed", "room": room})
    remaining = [m.user.id for m in ports.rooms.members(room=room)]
    connections = [c.id for c in _fresh(ports, ports.connections.of_users(user_ids=remaining))]
    if was_present:
        joined = {c.id for c in _live(ports, room)}
        offline = {"type": "presence", "room": room, "user": target.to_json(), "status": "offline"}
        _send(ports, [c for c in connections if c in joined], offline)
    if new_owner is not None:
        _send(ports, connections, {"type": "ownerChanged", "room": room, "owner": new_owner.to_json()})
    _send(ports, connections, {"type": "memberRemoved", "room": room, "user": target.to_json()})
    ports.rooms.end_removal(room=room, user_id=target.id)


def open_direct(ports: Ports, *, caller: Caller, username: str) -> Room:
    """The caller's direct room with ``username`` (the same one every time)."""
    found = _user(ports, username)
    other = found.ref
    if other.id == caller.user.id:
        raise InvalidRequest("a direct conversation needs another user")
    refuse_if_blocked(found, by_user_id=caller.user.id)
    name = direct_room_name(caller.user.id, other.id)
    now = ports.clock()
    room = ports.rooms.ensure_direct(room=name, members=(caller.user, other), now=now)
    ports.rooms.add_memberships(
        memberships=[Membership(room=name, user=u, kind=Kind.DIRECT, joined_at=now) for u in (caller.user, other)]
    )
    frame = {"type": "direct", "room": name, "kind": Kind.DIRECT.value,
             "members": [caller.user.to_json(), other.to_json()]}
    _send(ports, [caller.connection_id], frame)
    return room


def mark_read(ports: Ports, *, caller: Caller, room: str, message_id: str) -> None:
    """Move the caller's read position forward; tell their other connections (``read``) and, in a direct
    room, the other member (``receipt``). A position that is not forward changes and sends nothing.

    Only the id of a message of that room is taken (``invalid_request`` otherwise, after the membership check, so
    an outsider learns nothing of a private room): a made-up id would send the partner a receipt for nothing and,
    sorting after every real one, keep the unread count at 0 for good.
    """
    if not ports.messages.exists(room=room, message_id=message_id):
        if room_access(ports.rooms, user_id=caller.user.id, room=room).membership is None:  # Forbidden if private
            raise NotInRoom(room)
        raise InvalidRequest("'id' names no message of this room")
    result, membership = ports.rooms.advance_read(room=room, user_id=caller.user.id, message_id=message_id)
    if result is ReadResult.NOT_FORWARD:
        return
    if result is ReadResult.NOT_MEMBER:
        room_access(ports.rooms, user_id=caller.user.id, room=room)  # Forbidden unless the room is public
        raise NotInRoom(room)
    other = direct_other(room, caller.user.id) if membership.kind is Kind.DIRECT else None
    users = [caller.user.id, other] if other else [caller.user.id]
    connections = _fresh(ports, ports.connections.of_users(user_ids=users))
    mine = [c.id for c in connections if c.user.id == caller.user.id and c.id != caller.connection_id]
    _send(ports, mine, {"type": "read", "room": room, "id": message_id})
    if other:
        receipt = {"type": "receipt", "room": room, "user": caller.user.to_json(), "id": message_id}
        _send(ports, [c.id for c in connections if c.user.id == other], receipt)


def list_rooms(ports: Ports, *, user_id: str) -> list[dict]:
    """The user's rooms, most recently active first: three queries whatever the number of rooms or messages
    (memberships by user; those rooms by name; their last messages by id)."""
    memberships = {m.room: m for m in ports.rooms.memberships_of(user_id=user_id)}
    rooms = ports.rooms.with_last_messages(rooms=ports.rooms.by_names(rooms=list(memberships)))
    rooms.sort(key=lambda r: (r.last_activity_at, r.name), reverse=True)
    return [room_item(r, memberships[r.name]) for r in rooms if r.name in memberships]


def send_rooms(ports: Ports, *, caller: Caller) -> None:
    _send(ports, [caller.connection_id], {"type": "rooms", "rooms": list_rooms(ports, user_id=caller.user.id)})


def public_rooms(ports: Ports, *, limit: int, after: tuple[datetime, str] | None) -> tuple[list[dict], DirectoryPage]:
    """A page of the public directory: two queries (the page; its last messages)."""
    if not 1 <= limit <= MAX_DIRECTORY_PAGE:
        raise InvalidRequest(f"'limit' must be an integer from 1 to {MAX_DIRECTORY_PAGE}")
    page = ports.rooms.public_page(limit=limit, after=after)
    rooms = ports.rooms.with_last_messages(rooms=page.rooms)
    return [directory_item(r) for r in rooms], page


def room_members(
    ports: Ports, *, user_id: str, room: str, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[UserRef], tuple[datetime, str] | None]:
    """A page of a room's members, longest-standing first: two queries whatever the room's size (the caller's
    membership, the page). A private or direct room only for its members (``Forbidden`` otherwise, as history);
    a public room lists those who keep it in their list."""
    if not 1 <= limit <= MAX_MEMBERS_PAGE:
        raise InvalidRequest(f"'limit' must be an integer from 1 to {MAX_MEMBERS_PAGE}")
    room_access(ports.rooms, user_id=user_id, room=room, must_exist=True)
    members, next_after = ports.rooms.members_page(room=room, limit=limit, after=after)
    return [m.user for m in members], next_after


def _user(ports: Ports, username: str) -> StoredUser:
    user = ports.users.by_username(username=username) if ports.users is not None else None
    if user is None:
        raise UserNotFound()
    return user


def directory_cursor(after: tuple[datetime, str] | None) -> str | None:
    """The opaque ``next`` of ``GET /rooms/public``: the last room's activity (ms) and name."""
    if after is None:
        return None
    return f"{int(after[0].timestamp() * 1000)}~{after[1]}"


def parse_directory_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    ms, sep, name = cursor.partition("~")
    if not sep or not ms.isdigit() or len(ms) > 13 or not name or len(name) > 64:
        raise InvalidRequest("'cursor' must be the 'next' of a previous page")
    try:
        return datetime.fromtimestamp(int(ms) / 1000, timezone.utc), name
    except (ValueError, OverflowError, OSError):  # a time no datetime holds (year > 9999)
        raise InvalidRequest("'cursor' must be the 'next' of a previous page") from None
