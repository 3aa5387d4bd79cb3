"""Wiring: adapters built once per container (module scope of a handler) and the ports per invocation."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from parley.adapters import apigw, fanout, mongo, mongo_accounts, mongo_rooms
from parley.adapters.secrets import mongodb_database
from parley.config import Settings
from parley.events import WebSocketEvent
from parley.model import utcnow
from parley.ports import Caller, Ports


@dataclass(frozen=True)
class ChatRuntime:
    settings: Settings
    connections: mongo.MongoConnectionStore
    messages: mongo.MongoMessageStore
    db: object
    pool: ThreadPoolExecutor
    clock: Callable[[], datetime] = utcnow
    rooms: mongo_rooms.MongoRoomStore | None = None  # always set by from_settings
    users: mongo_accounts.MongoUserStore | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatRuntime:
        db = mongodb_database(settings)  # in AWS, renewed when the secret's URI changes
        return cls(
            settings=settings,
            connections=mongo.MongoConnectionStore(db),
            messages=mongo.MongoMessageStore(db),
            db=db,
            pool=ThreadPoolExecutor(max_workers=settings.broadcast_concurrency, thread_name_prefix="broadcast"),
            rooms=mongo_rooms.MongoRoomStore(db),
            users=mongo_accounts.MongoUserStore(db),
        )

    def deadline(self, context):
        """The block in which every database call of this invocation ends before the function does: the time
        ``context`` says is left, less a margin to answer (``mongo.request_deadline``)."""
        return mongo.request_deadline(context)

    def ports(self, event: WebSocketEvent, metric: Callable[[str, float], None]) -> Ports:
        """The chat's ports for one invocation; needs no database round trip (replies can always be sent)."""
        endpoint = apigw.endpoint_from_event(event.request_context, self.settings.management_api_endpoint)
        management_api = apigw.ManagementApiBroadcaster(endpoint=endpoint, concurrency=self.settings.broadcast_concurrency)
        broadcaster = management_api
        if self.settings.fanout_function:
            broadcaster = fanout.SlicedBroadcaster(
                management_api,
                function_name=self.settings.fanout_function,
                endpoint=endpoint,
                pool=self.pool,
                slice_size=self.settings.fanout_slice,
                pool_size=self.settings.broadcast_concurrency,
                metric=metric,
            )
        return Ports(
            connections=self.connections,
            messages=self.messages,
            broadcaster=broadcaster,
            metric=metric,
            clock=self.clock,
            limits=self.settings.limits,
            rooms=self.rooms,
            users=self.users,
            probe=management_api,
        )

    def caller(self, event: WebSocketEvent) -> Caller | None:
        """Identity from the authorizer context, else from the stored connection; never from the frame."""
        if event.caller is not None:
            return event.caller
        stored = self.connections.get(connection_id=event.connection_id)
        if stored is None:
            return None
        return Caller(
            event.connection_id,
            stored.user,
            stored.connected_at,
            session_id=stored.session_id,
            token_expires_at=stored.token_expires_at,
        )

    def close(self, event: WebSocketEvent, connection_ids: list[str]) -> None:
        """Close connections through the Management API (``DELETE @connections/{id}``); best effort."""
        endpoint = apigw.endpoint_from_event(event.request_context, self.settings.management_api_endpoint)
        apigw.ManagementApiBroadcaster(endpoint=endpoint).close(connection_ids=connection_ids)
