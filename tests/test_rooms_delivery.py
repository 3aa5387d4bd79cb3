"""Delivery to a big private room goes through the one broadcaster port in a single call, like a public room's,
so ``SlicedBroadcaster`` (wired by the runtime when FANOUT_FUNCTION is set) cuts it into slices the same way.
Real stores (mongomock, or MONGODB_URI); the broadcaster port records what the chat hands it."""

from __future__ import annotations

import json
from datetime import timedelta

from parley.adapters import mongo, mongo_migrate, mongo_accounts, mongo_rooms
from parley.chat import rooms, service
from parley.ports import Caller, Ports
from parley.model import Connection, utcnow
from parley.ports import DeliveryReport
from parley.wire import Frame

MEMBERS = 300


class Recording:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict]] = []

    def send(self, *, connection_ids, frame: Frame) -> DeliveryReport:
        self.calls.append((list(connection_ids), json.loads(frame.body)))
        return DeliveryReport(delivered=len(connection_ids))


def test_a_private_room_of_300_is_one_broadcast_to_every_members_connection(local_env):
    db = mongo.database(local_env["uri"], local_env["db"])  # mongomock, or MONGODB_URI's server
    mongo_migrate.migrate(db)
    users = mongo_accounts.MongoUserStore(db)
    people = [users.create(username=f"user{i:03d}", password_hash="x").ref for i in range(MEMBERS)]
    connections = mongo.MongoConnectionStore(db)
    now = utcnow()
    for i, user in enumerate(people):
        connections.add(connection=Connection(id=f"C{i:05d}", user=user, connected_at=now,
                                              expires_at=now + timedelta(hours=2)))
    recording = Recording()
    ports = Ports(connections=connections, messages=mongo.MongoMessageStore(db), broadcaster=recording,
                  rooms=mongo_rooms.MongoRoomStore(db), users=users)
    owner = Caller("C00000", people[0], now)
    rooms.create_room(ports, caller=owner, room="big", kind="private")
    for user in people[1:]:
        rooms.add_member(ports, caller=owner, room="big", username=user.username)
    recording.calls.clear()

    service.send_message(ports, caller=owner, room="big", text="to everyone", client_msg_id=None)

    (ids, payload), = recording.calls  # one call: the broadcaster decides how to slice it
    assert payload["type"] == "message" and payload["message"]["room"] == "big"
    assert sorted(ids) == [f"C{i:05d}" for i in range(MEMBERS)]  # nobody joined: every member's connection

