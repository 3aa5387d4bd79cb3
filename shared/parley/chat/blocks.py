"""Blocking: someone you blocked cannot open a direct conversation with you, send in yours, or add you to a
private room; each is refused as ``forbidden``, which never says that you blocked them (docs/protocol.md).

The rule (``parley.chat.access.refuse_if_blocked`` and ``refuse_blocked_send``) is kept where the refusing actions read anyway, so no action pays a round trip for it: the user record
(``blocked``), which ``openDirect`` and ``addMember`` read to find the person named; and the direct room's record
(``blockedBy``), which ``sendMessage`` reads for the newest message id.
"""

from __future__ import annotations

from parley.chat.rooms import _user
from parley.chat.service import _send
from parley.errors import InvalidRequest
from parley.ports import Caller, Ports
from parley.rooms import direct_room_name

MAX_BLOCKED = 1000


def block(ports: Ports, *, caller: Caller, username: str, blocked: bool) -> None:
    """Block (or unblock) ``username``; the caller's connection gets ``blocked`` (or ``unblocked``)."""
    other = _user(ports, username).ref
    if other.id == caller.user.id:
        raise InvalidRequest("you cannot block yourself")
    if blocked:
        if not ports.users.block(user_id=caller.user.id, other=other, limit=MAX_BLOCKED):
            raise InvalidRequest(f"you can block at most {MAX_BLOCKED} people; unblock someone first")
    else:
        ports.users.unblock(user_id=caller.user.id, other_id=other.id)
    ports.rooms.set_direct_block(room=direct_room_name(caller.user.id, other.id), members=(caller.user, other),
                                 by=caller.user.id, blocked=blocked, now=ports.clock())
    _send(ports, [caller.connection_id], {"type": "blocked" if blocked else "unblocked", "user": other.to_json()})
