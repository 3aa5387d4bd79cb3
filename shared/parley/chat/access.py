"""Who may use a room: the one membership check every path that reads or writes a room goes through, and the
blocking rules (parley.chat.blocks) the actions that reach someone apply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parley.errors import Forbidden, InvalidRequest
from parley.ports import RoomStore, SendState, StoredUser
from parley.rooms import Kind, Membership, Room, is_direct_name


@dataclass(frozen=True, slots=True)
class Access:
    kind: Kind
    membership: Membership | None = None  # None in a public room the caller never joined (or left the list of)
    room: Room | None = None  # read only when the membership did not tell the kind
    others: tuple[Membership, ...] = ()  # the memberships of ``with_members`` that exist, read with the caller's


def room_access(
    rooms: RoomStore | None, *, user_id: str, room: str, create_public_at: datetime | None = None, must_exist: bool = False,
    with_members: tuple[str, ...] = (),
) -> Access:
    """The room's kind and the caller's membership. Raises ``Forbidden`` for a private or direct room the caller
    is not a member of, and for a ``dm-`` name that is not one of the caller's rooms, whether or not it exists.

    A member: one round trip (the membership holds the kind). Otherwise a second reads the room; with
    ``create_public_at`` (join) that read is the upsert that creates a public room of a new name, so a
    concurrent ``createRoom`` and ``join`` of one name cannot both win.

    With ``must_exist`` (the reads: history, presence) a name no room has is refused as a private room is, so an
    outsider cannot tell a private room's name from an unused one.

    ``with_members`` (sendMessage's mentions): the memberships of these users are read in the same query as the
    caller's, at no extra round trip, and come back in ``others``.
    """
    if rooms is None:
        raise RuntimeError("the rooms store is not wired into these ports")
    others: tuple[Membership, ...] = ()
    if with_members:
        found_members = rooms.memberships_among(room=room, user_ids=[user_id, *with_members])
        membership = found_members.pop(user_id, None)
        others = tuple(found_members[u] for u in with_members if u in found_members)
    else:
        membership = rooms.membership(room=room, user_id=user_id)
    if membership is not None:
        return Access(kind=membership.kind, membership=membership, others=others)
    if is_direct_name(room):
        raise Forbidden()
    found = rooms.ensure_public(room=room, now=create_public_at) if create_public_at else rooms.get(room=room)
    if (found is None and not must_exist) or (found is not None and found.kind is Kind.PUBLIC):
        return Access(kind=Kind.PUBLIC, room=found, others=others)
    raise Forbidden()


def refuse_if_blocked(target: StoredUser, *, by_user_id: str) -> None:
    """``Forbidden`` when ``target`` has blocked the user ``by_user_id`` (openDirect, addMember)."""
    if target.has_blocked(by_user_id):
        raise Forbidden()


def refuse_blocked_send(state: SendState, *, sender_id: str) -> None:
    """In a direct room: the one who was blocked gets ``forbidden``; the one who blocked is told to unblock."""
    if not state.blocked_by:
        return
    if sender_id in state.blocked_by:
        raise InvalidRequest("you blocked this person; unblock them to send them messages")
    raise Forbidden()
