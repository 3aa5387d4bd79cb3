"""MongoDB adapter (pymongo) for ``parley.ports.RoomStore``: the ``rooms`` and ``memberships`` collections.

``rooms``: ``_id`` (the name), ``kind``, ``createdAt``, ``lastActivityAt``, ``memberCount``, ``ownerId`` and
``ownerUsername`` (private), ``members`` (direct: both users), ``recent`` (the newest message ids and senders,
sorted, at most RECENT), ``messageCount``. ``memberships``: ``_id`` = room + U+001F + user id (so a user is a
member once), ``room``, ``userId``, ``username``, ``kind``, ``joinedAt``, ``readId``. The indexes are made in
``mongo_migrate.INDEXES`` (created at deploy time). Queries stay within what both mongomock and a real server support.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from parley.adapters.mongo import _aware, _call_lock, _guarded, message_from_doc
from parley.model import Message, UserRef
from parley.ports import DirectoryPage, ReadResult, SendState
from parley.rooms import RECENT, Kind, Membership, Recent, Room

SEP = "\x1f"


def _membership_id(room: str, user_id: str) -> str:
    return f"{room}{SEP}{user_id}"


def _room(doc: dict | None) -> Room | None:
    if doc is None:
        return None
    owner = UserRef.of(doc, "ownerId", "ownerUsername", "ownerDisplayName") if doc.get("ownerId") else None
    return Room(
        name=doc["_id"],
        kind=Kind(doc["kind"]),
        created_at=_aware(doc["createdAt"]),
        last_activity_at=_aware(doc.get("lastActivityAt") or doc["createdAt"]),
        owner=owner,
        member_count=int(doc.get("memberCount") or 0),
        direct_members=tuple(UserRef.of(m) for m in doc.get("members") or ()),
        recent=tuple(Recent(id=r["i"], user_id=r["u"], mentions=tuple(r.get("m") or ())) for r in doc.get("recent") or ()),
        message_count=int(doc.get("messageCount") or 0),
        removing=tuple(doc.get("removing") or ()),
    )


def _membership(doc: dict | None) -> Membership | None:
    if doc is None:
        return None
    return Membership(
        room=doc["room"],
        user=UserRef.of(doc, "userId"),
        kind=Kind(doc["kind"]),
        joined_at=_aware(doc["joinedAt"]),
        read_id=doc.get("readId"),
    )


def _membership_doc(m: Membership) -> dict:
    return {
        "_id": _membership_id(m.room, m.user.id),
        "room": m.room,
        "userId": m.user.id,
        "username": m.user.username,
        **({"displayName": m.user.display_name} if m.user.display_name else {}),
        "kind": m.kind.value,
        "joinedAt": m.joined_at,
        "readId": m.read_id,
    }


def _new_room_doc(room: Room) -> dict:
    doc = {
        "_id": room.name,
        "kind": room.kind.value,
        "createdAt": room.created_at,
        "lastActivityAt": room.last_activity_at,
        "memberCount": room.member_count,
        "messageCount": 0,
    }
    if room.owner is not None:
        doc["ownerId"], doc["ownerUsername"] = room.owner.id, room.owner.username
        if room.owner.display_name:
            doc["ownerDisplayName"] = room.owner.display_name
    if room.direct_members:
        doc["members"] = [u.to_json() for u in room.direct_members]
    return doc


def _recent(message: Message) -> dict:
    """A room's record of one of its newest messages: id, sender and, when it mentions anyone, whom (the
    mention counts of room items, like unread counts, are taken from these)."""
    entry = {"i": message.id, "u": message.user.id}
    if message.mentions:
        entry["m"] = [u.id for u in message.mentions]
    return entry


_NO_RECENT = {"recent": 0}  # what a caller that needs no unread count leaves out


@_guarded
class MongoRoomStore:
    def __init__(self, db) -> None:
        self._rooms = db.rooms
        self._members = db.memberships
        self._messages = db.messages
        self._connections = db.connections
        self._call_lock = _call_lock(db)
        self._db = db  # a RenewableDatabase: _guarded renews its client

    # ------------------------------------------------------------ rooms
    def get(self, *, room: str) -> Room | None:
        return _room(self._rooms.find_one({"_id": room}, _NO_RECENT))

    def ensure_public(self, *, room: str, now: datetime) -> Room:
        doc = self._rooms.find_one_and_update(
            {"_id": room},
            {"$setOnInsert": {"kind": Kind.PUBLIC.value, "createdAt": now, "lastActivityAt": now,
                              "memberCount": 0, "messageCount": 0}},
            projection=_NO_RECENT,
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return _room(doc)

    def create(self, *, room: Room) -> bool:
        try:
            self._rooms.insert_one(_new_room_doc(room))
        except DuplicateKeyError:
            return False
        return True

    def used_before_rooms(self, *, room: str) -> bool:
        if self._messages.find_one({"room": room}, {"_id": 1}) is not None:
            return True
        return self._connections.find_one({"rooms": room}, {"_id": 1}) is not None

    def ensure_direct(self, *, room: str, members: tuple[UserRef, UserRef], now: datetime) -> Room:
        doc = self._rooms.find_one_and_update(
            {"_id": room},
            {"$setOnInsert": {"kind": Kind.DIRECT.value, "createdAt": now, "lastActivityAt": now, "memberCount": 2,
                              "messageCount": 0, "members": [u.to_json() for u in members]}},
            projection=_NO_RECENT,
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return _room(doc)

    def record_message(self, *, message: Message) -> None:
        # Kept sorted by id, so the newest stays last even when two sends land out of order; a room used
        # before rooms were recorded (a public one) gets its record here.
        self._rooms.update_one(
            {"_id": message.room},
            {
                "$push": {"recent": {"$each": [_recent(message)], "$sort": {"i": 1},
                                     "$slice": -RECENT}},
                "$inc": {"messageCount": 1},
                "$max": {"lastActivityAt": message.created_at},
                "$setOnInsert": {"kind": Kind.PUBLIC.value, "createdAt": message.created_at, "memberCount": 0},
            },
            upsert=True,
        )

    def send_state(self, *, room: str) -> SendState:
        # $slice beside an inclusion: both MongoDB and mongomock return just these (mongomock reads a lone $slice as one)
        doc = self._rooms.find_one({"_id": room}, {"recent": {"$slice": -1}, "blockedBy": 1}) or {}
        recent = doc.get("recent") or []
        return SendState(newest_id=recent[-1]["i"] if recent else None, blocked_by=frozenset(doc.get("blockedBy") or ()))

    def set_direct_block(self, *, room: str, members: tuple[UserRef, UserRef], by: str, blocked: bool, now: datetime) -> None:
        if not blocked:
            self._rooms.update_one({"_id": room}, {"$pull": {"blockedBy": by}})
            return
        self._rooms.update_one(
            {"_id": room},
            {"$addToSet": {"blockedBy": by},
             "$setOnInsert": {"kind": Kind.DIRECT.value, "createdAt": now, "lastActivityAt": now, "memberCount": 2,
                              "messageCount": 0, "members": [u.to_json() for u in members]}},
            upsert=True,
        )

    def recount_members(self, *, room: str, at: datetime) -> None:
        # Counted, not incremented: a $inc lost to a crash (or applied twice by a retry) would stay wrong for
        # good; a count converges. The guard on memberCountAt keeps a slower, older count from landing last.
        count = self._members.count_documents({"room": room})  # the (room, joinedAt) index
        newer = {"$or": [{"memberCountAt": {"$exists": False}}, {"memberCountAt": {"$lte": at}}]}
        self._rooms.update_one({"_id": room, **newer}, {"$set": {"memberCount": count, "memberCountAt": at}})

    def begin_removal(self, *, room: str, user_id: str) -> None:
        self._rooms.update_one({"_id": room}, {"$addToSet": {"removing": user_id}})

    def end_removal(self, *, room: str, user_id: str) -> None:
        self._rooms.update_one({"_id": room}, {"$pull": {"removing": user_id}})

    def set_owner(self, *, room: str, owner: UserRef | None) -> None:
        if owner is None:
            self._rooms.update_one({"_id": room}, {"$unset": {"ownerId": "", "ownerUsername": "", "ownerDisplayName": ""}})
        elif owner.display_name:
            self._rooms.update_one({"_id": room}, {"$set": {"ownerId": owner.id, "ownerUsername": owner.username,
                                                            "ownerDisplayName": owner.display_name}})
        else:
            self._rooms.update_one({"_id": room}, {"$set": {"ownerId": owner.id, "ownerUsername": owner.username},
                                                   "$unset": {"ownerDisplayName": ""}})

    def by_names(self, *, rooms: list[str]) -> list[Room]:
        if not rooms:
            return []
        return [_room(d) for d in self._rooms.find({"_id": {"$in": rooms}})]

    def kinds(self, *, rooms: list[str]) -> dict[str, Kind]:
        if not rooms:
            return {}
        return {d["_id"]: Kind(d["kind"]) for d in self._rooms.find({"_id": {"$in": rooms}}, {"kind": 1})}

    def with_last_messages(self, *, rooms: list[Room]) -> list[Room]:
        ids = [r.recent[-1].id for r in rooms if r.recent]
        if not ids:
            return rooms
        found = {d["_id"]: d for d in self._messages.find({"_id": {"$in": ids}})}
        out = []
        for r in rooms:
            doc = found.get(r.recent[-1].id) if r.recent else None
            if doc is None:
                out.append(r)
                continue
            out.append(replace(r, last_message=message_from_doc(doc)))
        return out

    def public_page(self, *, limit: int, after: tuple[datetime, str] | None) -> DirectoryPage:
        query: dict = {"kind": Kind.PUBLIC.value}
        if after is not None:
            when, name = after
            query["$or"] = [{"lastActivityAt": {"$lt": when}}, {"lastActivityAt": when, "_id": {"$gt": name}}]
        cursor = self._rooms.find(query).sort([("lastActivityAt", pymongo.DESCENDING), ("_id", pymongo.ASCENDING)])
        docs = list(cursor.limit(limit + 1))
        rooms = [_room(d) for d in docs[:limit]]
        next_after = (rooms[-1].last_activity_at, rooms[-1].name) if len(docs) > limit and rooms else None
        return DirectoryPage(rooms=rooms, next_after=next_after)

    # ------------------------------------------------------------ memberships
    def membership(self, *, room: str, user_id: str) -> Membership | None:
        return _membership(self._members.find_one({"_id": _membership_id(room, user_id)}))

    def add_membership(self, *, membership: Membership) -> bool:
        try:
            self._members.insert_one(_membership_doc(membership))
        except DuplicateKeyError:
            return False
        return True

    def add_memberships(self, *, memberships: list[Membership]) -> None:
        try:
            self._members.insert_many([_membership_doc(m) for m in memberships], ordered=False)
        except (BulkWriteError, DuplicateKeyError) as exc:  # those that existed stay as they are
            errors = getattr(exc, "details", {}).get("writeErrors", []) if isinstance(exc, BulkWriteError) else []
            if any(e.get("code") != 11000 for e in errors):
                raise

    def remove_membership(self, *, room: str, user_id: str) -> Membership | None:
        return _membership(self._members.find_one_and_delete({"_id": _membership_id(room, user_id)}))

    def members(self, *, room: str) -> list[Membership]:
        return [_membership(d) for d in self._members.find({"room": room}).sort("joinedAt", pymongo.ASCENDING)]

    def memberships_among(self, *, room: str, user_ids: list[str]) -> dict[str, Membership]:
        if not user_ids:
            return {}
        ids = [_membership_id(room, u) for u in dict.fromkeys(user_ids)]
        return {d["userId"]: _membership(d) for d in self._members.find({"_id": {"$in": ids}})}

    def members_page(
        self, *, room: str, limit: int, after: tuple[datetime, str] | None
    ) -> tuple[list[Membership], tuple[datetime, str] | None]:
        query: dict = {"room": room}
        if after is not None:
            when, user_id = after
            query["$or"] = [{"joinedAt": {"$gt": when}}, {"joinedAt": when, "userId": {"$gt": user_id}}]
        cursor = self._members.find(query).sort([("joinedAt", pymongo.ASCENDING), ("userId", pymongo.ASCENDING)])
        docs = list(cursor.limit(limit + 1))
        members = [_membership(d) for d in docs[:limit]]
        next_after = (members[-1].joined_at, members[-1].user.id) if len(docs) > limit and members else None
        return members, next_after

    def members_among(self, *, room: str, user_ids: list[str]) -> set[str]:
        if not user_ids:
            return set()
        ids = [_membership_id(room, u) for u in set(user_ids)]
        return {d["userId"] for d in self._members.find({"_id": {"$in": ids}}, {"userId": 1})}

    def eldest_member(self, *, room: str) -> Membership | None:
        docs = list(self._members.find({"room": room}).sort("joinedAt", pymongo.ASCENDING).limit(1))
        return _membership(docs[0]) if docs else None

    def memberships_of(self, *, user_id: str) -> list[Membership]:
        return [_membership(d) for d in self._members.find({"userId": user_id})]

    def show_display_name(self, *, user: UserRef) -> None:
        # one write for all of the user's memberships (the userId index): member lists show the new name at once
        if user.display_name:
            self._members.update_many({"userId": user.id}, {"$set": {"displayName": user.display_name}})
        else:
            self._members.update_many({"userId": user.id}, {"$unset": {"displayName": ""}})

    def advance_read(self, *, room: str, user_id: str, message_id: str) -> tuple[ReadResult, Membership | None]:
        key = {"_id": _membership_id(room, user_id)}
        behind = {"$or": [{"readId": None}, {"readId": {"$lt": message_id}}]}
        before = self._members.find_one_and_update({**key, **behind}, {"$set": {"readId": message_id}})
        if before is not None:
            return ReadResult.ADVANCED, _membership(before)
        existing = _membership(self._members.find_one(key))
        return (ReadResult.NOT_FORWARD if existing else ReadResult.NOT_MEMBER), existing


