"""Changes to stored messages (edit, delete, react, unreact) and catch-up (``sync``). Plain functions over the
ports, like ``parley.chat.service``, whose access checks and broadcaster they reuse.

Every change is one atomic update of the message that adds 1 to its ``version`` and stamps ``updatedAt``; the
room's audience (the same as for its ``message`` frames) then gets ``messageUpdated`` with the whole message.
Who may: the same as for sending (``_count_send``: a member of a private or direct room, a connection that
joined a public one; the rate limit of sendMessage counts every change too), and in a direct room not someone
the other member blocked. An outsider is refused before any message is read, so a refusal tells nothing of the
room's messages.

``sync`` returns the changes after a cursor in (updatedAt, id) order and never misses one: docs/protocol.md,
"Delivery and order", has the proof.
"""

from __future__ import annotations

from parley import wire
from parley.chat.access import Access, refuse_blocked_send, room_access
from parley.chat.service import _count_send, _recipients, _send
from parley.errors import Forbidden, InvalidRequest, MessageNotFound
from parley.model import MAX_REACTIONS, Message, SyncCursor, SyncPage
from parley.ports import Caller, Ports
from parley.rooms import Kind


def _may_change(ports: Ports, caller: Caller, room: str) -> Access:
    """The right to change messages of ``room`` is the right to send there (and the send rate limit counts it)."""
    access = _count_send(ports, caller, room)
    if access.kind is Kind.DIRECT:  # someone the other blocked reaches them with no change either
        refuse_blocked_send(ports.rooms.send_state(room=room), sender_id=caller.user.id)
    return access


def _existing(ports: Ports, room: str, message_id: str) -> Message:
    found = ports.messages.get(room=room, message_id=message_id)
    if found is None:
        raise MessageNotFound()
    return found


def _updated(ports: Ports, caller: Caller, access: Access, message: Message) -> None:
    """``messageUpdated`` to the room's audience (read after the change was stored) and the caller's connection."""
    recipients = [c.id for c in _recipients(ports, message.room, access.kind)]
    if caller.connection_id not in recipients:
        recipients.append(caller.connection_id)
    _send(ports, recipients, {"type": "messageUpdated", "message": message.to_json()})
    ports.metric("MessagesChanged", 1)


def _unchanged(ports: Ports, caller: Caller, message: Message) -> None:
    """A change that changes nothing (a second react, an unreact of nothing, deleting a tombstone): only the
    caller hears the message as it is, so every request gets its reply; the version does not move."""
    _send(ports, [caller.connection_id], {"type": "messageUpdated", "message": message.to_json()})


def edit_message(ports: Ports, *, caller: Caller, room: str, message_id: str, text: str) -> Message:
    access = _may_change(ports, caller, room)
    changed = ports.messages.edit(room=room, message_id=message_id, author_id=caller.user.id, text=text,
                                  now=ports.clock())
    if changed is None:  # only when refused: say why
        found = _existing(ports, room, message_id)
        if found.user.id != caller.user.id:
            raise Forbidden()
        if found.deleted:
            raise InvalidRequest("a deleted message cannot be edited")
        raise MessageNotFound()  # pragma: no cover - gone between the update and the read (retention)
    _updated(ports, caller, access, changed)
    return changed


def delete_message(ports: Ports, *, caller: Caller, room: str, message_id: str) -> Message:
    """The author may delete, and so may the owner of a private room. The message becomes a tombstone, and the
    excerpt every reply kept of it is emptied."""
    access = _may_change(ports, caller, room)
    now = ports.clock()
    changed = ports.messages.delete(room=room, message_id=message_id, by=caller.user, author_id=caller.user.id, now=now)
    if changed is None:
        found = _existing(ports, room, message_id)
        if found.deleted:
            _unchanged(ports, caller, found)
            return found
        if not _owns(ports, caller, room, access):
            raise Forbidden()
        changed = ports.messages.delete(room=room, message_id=message_id, by=caller.user, author_id=None, now=now)
        if changed is None:  # deleted meanwhile by its author
            found = _existing(ports, room, message_id)
            _unchanged(ports, caller, found)
            return found
    ports.messages.forget_excerpts(room=room, message_id=message_id, now=now)
    _updated(ports, caller, access, changed)
    return changed


def _owns(ports: Ports, caller: Caller, room: str, access: Access) -> bool:
    if access.kind is not Kind.PRIVATE:
        return False
    found = ports.rooms.get(room=room)
    return found is not None and found.owner is not None and found.owner.id == caller.user.id


def react(ports: Ports, *, caller: Caller, room: str, message_id: str, emoji: str) -> Message:
    access = _may_change(ports, caller, room)
    changed = ports.messages.react(room=room, message_id=message_id, user=caller.user, emoji=emoji,
                                   now=ports.clock(), max_emoji=MAX_REACTIONS)
    if changed is None:
        found = _existing(ports, room, message_id)
        if found.deleted:
            raise InvalidRequest("a deleted message takes no reactions")
        if any(r.emoji == emoji and any(u.id == caller.user.id for u in r.users) for r in found.reactions):
            _unchanged(ports, caller, found)  # reacting twice counts once
            return found
        raise InvalidRequest(f"a message takes at most {MAX_REACTIONS} different emoji")
    _updated(ports, caller, access, changed)
    return changed


def unreact(ports: Ports, *, caller: Caller, room: str, message_id: str, emoji: str) -> Message:
    access = _may_change(ports, caller, room)
    changed = ports.messages.unreact(room=room, message_id=message_id, user_id=caller.user.id, emoji=emoji,
                                     now=ports.clock())
    if changed is None:
        found = _existing(ports, room, message_id)
        if found.deleted:
            raise InvalidRequest("a deleted message has no reactions")
        _unchanged(ports, caller, found)  # you did not hold it: nothing to take back
        return found
    _updated(ports, caller, access, changed)
    return changed


# ---------------------------------------------------------------- sync
def sync(ports: Ports, *, user_id: str, room: str, since: SyncCursor | None, limit: int) -> SyncPage:
    """The changes after ``since``, oldest first, with the cursor to go on from.

    The time is read *before* the messages: a change not in this read was stored after it, so it is stamped
    later than that time less SYNC_OVERLAP, and the round's floor (that time less the overlap, kept in the
    cursor while the client pages) is where the next round starts. Without ``since``: the room's newest page
    (as ``history`` without a cursor) and a cursor from which the next sync misses nothing after it."""
    room_access(ports.rooms, user_id=user_id, room=room, must_exist=True)
    now = ports.clock()
    if since is None:
        page = ports.messages.page(room=room, limit=limit)
        return SyncPage(room=room, messages=page.messages, cursor=SyncCursor.since(now), has_more=False)
    floor = since.floor if since.floor is not None else SyncCursor.since(now).after
    messages, more = ports.messages.changed_since(room=room, cursor=since, limit=limit)
    return SyncPage(room=room, messages=messages, cursor=_next(messages, more, since, floor), has_more=more,
                    floor=floor)


def _next(messages: list[Message], more: bool, since: SyncCursor, floor) -> SyncCursor:
    """While more follow: after the last message of the page, the round's floor kept. At the round's end: a new
    round from the floor (all that was stored when the round began has been read; anything stored later is
    stamped after the floor)."""
    if more and messages:
        last = messages[-1]
        return SyncCursor(after=last.changed_at, after_id=last.id, floor=floor)
    return SyncCursor(after=floor)


def sync_frame(page: SyncPage, *, newest_first: bool) -> dict:
    """The ``sync`` reply, cut to fit one WebSocket message like a history page: a cut page ends early, with
    ``hasMore`` and a cursor after its last message (the round's floor kept), so the next sync goes on there."""
    messages = [m.to_json() for m in page.messages]
    frame = {"type": "sync", "room": page.room, "messages": messages, "cursor": page.cursor.encode(),
             "hasMore": page.has_more}
    keep = wire.fitting(frame, "messages", messages, from_end=newest_first)
    if keep >= len(messages):
        return frame
    keep = max(keep, 1)
    if newest_first:  # the newest page without a cursor: the older ones are history's (``before``)
        frame["messages"] = messages[len(messages) - keep:]
        return frame
    frame["messages"] = messages[:keep]
    last = page.messages[keep - 1]
    frame["cursor"] = SyncCursor(after=last.changed_at, after_id=last.id, floor=page.floor).encode()
    frame["hasMore"] = True
    return frame


def send_sync(ports: Ports, *, caller: Caller, room: str, since: SyncCursor | None, limit: int) -> None:
    page = sync(ports, user_id=caller.user.id, room=room, since=since, limit=limit)
    _send(ports, [caller.connection_id], sync_frame(page, newest_first=since is None))
