"""The WebSocket API: the upgrade, the REQUEST authorizer, $connect, route selection, $disconnect, limits.

Each connection's frames are handled one at a time, in the order they came; a connection's life is
``ConnectionState``: CONNECTING -> OPEN -> CLOSING -> CLOSED.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from . import events as ev
from . import frame_limit
from .answers import json_response
from .iam import Decision, policy_decision
from .lambda_runtime import InvocationError, Invoker
from .routing import select_websocket_route
from .template import AuthorizerSpec, WebSocketApiSpec

log = logging.getLogger("parley_local")

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway WebSocket message payload limit
IDLE_TIMEOUT_S = 10 * 60
MAX_CONNECTION_S = 2 * 60 * 60
GOING_AWAY = (1001, "Going away")


class ConnectionState(StrEnum):
    CONNECTING = "connecting"  # the authorizer and $connect run
    OPEN = "open"  # frames flow; @connections reaches it
    CLOSING = "closing"  # a close was sent or received; $disconnect is next
    CLOSED = "closed"


@dataclass
class Connection:
    info: ev.ConnectionInfo
    state: ConnectionState = ConnectionState.CONNECTING
    ws: web.WebSocketResponse | None = None
    last_active: int = 0
    server_close: tuple[int, str] | None = None
    queue: asyncio.Queue[str | bytes | None] = field(default_factory=asyncio.Queue)

    @property
    def id(self) -> str:
        return self.info.connection_id

    @property
    def reachable(self) -> bool:
        """Open, with a socket that is not closed: what @connections can post to."""
        return self.state is ConnectionState.OPEN and self.ws is not None and not self.ws.closed

    async def send(self, payload: dict[str, Any] | str | bytes) -> bool:
        """Send one frame; False when the socket is gone."""
        ws = self.ws
        if ws is None or ws.closed:
            return False
        try:
            if isinstance(payload, dict):
                await ws.send_str(json.dumps(payload))
            elif isinstance(payload, bytes):
                await ws.send_bytes(payload)
            else:
                await ws.send_str(payload)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def close(self, code: int, reason: str) -> None:
        """Close from the server side (its code and reason go to $disconnect)."""
        if self.ws is None or self.state is not ConnectionState.OPEN:
            return
        self.state = ConnectionState.CLOSING
        self.server_close = (code, reason)
        await self.ws.close(code=code, message=reason.encode())


class WebSocketApi:
    """One WebSocket API stage; ``connections`` holds the live connections by id."""

    def __init__(
        self,
        spec: WebSocketApiSpec,
        host: Invoker,
        *,
        port: int,
        idle_timeout: float = IDLE_TIMEOUT_S,
        max_connection_duration: float = MAX_CONNECTION_S,
    ) -> None:
        self.spec = spec
        self.info = ev.WebSocketApiInfo(api_id=spec.api_id, stage=spec.stage)
        self.host = host
        self.port = port
        self.idle_timeout = idle_timeout
        self.max_connection_duration = max_connection_duration
        self.connections: dict[str, Connection] = {}
        self.accepting = True
        self._tasks: set[asyncio.Task[Any]] = set()

    async def close_all(self, timeout: float) -> None:
        """Refuse new connections, close every open one (each gets its $disconnect) and wait for them."""
        self.accepting = False
        for conn in list(self.connections.values()):
            if conn.state is ConnectionState.OPEN:
                await conn.close(*GOING_AWAY)
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The upgrade on the stage's path: authorize, run $connect, then serve frames until the close."""
        if not self.accepting:
            return json_response(503, {"message": "Service Unavailable"})
        source_ip = request.remote or "127.0.0.1"
        info = ev.ConnectionInfo(
            connection_id=ev.api_gateway_id(),
            connected_at=ev.now_ms(),
            source_ip=source_ip,
            user_agent=request.headers.get("User-Agent"),
            domain_name=request.host,
            headers=ev.with_proxy_headers(list(request.headers.items()), source_ip=source_ip, port=self.port, proto="http"),
            raw_query=request.rel_url.raw_query_string,
        )
        conn = Connection(info=info)
        self.connections[conn.id] = conn
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            refusal, protocol = await self._run_connect(conn)
            if refusal is not None:
                self.connections.pop(conn.id, None)
                return refusal
            ws = web.WebSocketResponse(
                # aiohttp refuses a fragmented message of exactly max_msg_size (its check is >=): +1 accepts 128 KB.
                max_msg_size=MAX_MESSAGE_BYTES + 1,
                protocols=(protocol,) if protocol else (),
                autoping=True,
                # API Gateway does not negotiate permessage-deflate, and deflating every frame on the loop
                # cost CPU on each delivery (docs/benchmarks.md)
                compress=False,
            )
            await ws.prepare(request)
            frame_limit.install(ws, request)  # frames over 32 KB close the connection with 1009, as in AWS
        except BaseException:
            self.connections.pop(conn.id, None)
            raise
        conn.ws = ws
        conn.state = ConnectionState.OPEN
        conn.last_active = ev.now_ms()
        log.info("connection %s open", conn.id)
        worker = asyncio.create_task(self._frame_worker(conn))
        code, reason = 1006, ""
        try:
            code, reason = await self._read_frames(conn, ws)
        finally:
            conn.state = ConnectionState.CLOSING
            if not ws.closed:
                await ws.close(code=code if 1000 <= code < 5000 and code not in (1005, 1006) else 1000)
            conn.queue.put_nowait(None)
            await worker
            if conn.server_close is not None:
                code, reason = conn.server_close
            conn.state = ConnectionState.CLOSED
            self.connections.pop(conn.id, None)
            await self._run_disconnect(conn, code, reason)
            log.info("connection %s closed (%s)", conn.id, code)
        return ws

    async def _run_connect(self, conn: Connection) -> tuple[web.Response | None, str | None]:
        """Authorize and run $connect; return (a refusal response or None, the subprotocol to accept)."""
        route = self.spec.routes.get("$connect")
        if route is not None and route.authorizer is not None:
            refusal = await self._authorize(route.authorizer, conn)
            if refusal is not None:
                return refusal, None
        if route is None:
            return None, None
        event = ev.connect_event(self.info, conn.info)
        try:
            result = await self.host.invoke(route.function_id, event)
        except InvocationError:
            return json_response(500, {"message": "Internal server error"}), None
        status = result.get("statusCode", 200) if isinstance(result, dict) else 200
        try:
            status = int(status)
        except (TypeError, ValueError):
            log.error("$connect returned a statusCode that is not a number")
            return json_response(502, {"message": "Internal server error"}), None
        if not 200 <= status < 300:
            body = result.get("body") if isinstance(result, dict) else None
            return web.Response(status=status, text=body if isinstance(body, str) else None), None
        headers = (result.get("headers") or {}) if isinstance(result, dict) else {}
        protocol = next((str(v) for k, v in headers.items() if k.lower() == "sec-websocket-protocol"), None)
        return None, protocol

    async def _authorize(self, authorizer: AuthorizerSpec, conn: Connection) -> web.Response | None:
        if not _identity_present(authorizer.identity_sources, conn.info):
            return json_response(401, {"message": "Unauthorized"})
        event = ev.authorizer_event(self.info, conn.info)
        started = time.monotonic()
        try:
            result = await self.host.invoke(authorizer.function_id, event)
        except InvocationError as exc:
            if exc.error_message == "Unauthorized":  # the documented way for an authorizer to answer 401
                return json_response(401, {"message": "Unauthorized"})
            return json_response(500, {"message": None})
        latency = int((time.monotonic() - started) * 1000)
        decision = policy_decision(result, event["methodArn"])
        if decision is Decision.INVALID:
            log.error("authorizer %s returned an invalid policy", authorizer.logical_id)
            return json_response(500, {"message": None})
        if decision is not Decision.ALLOW:
            return json_response(403, {"message": "Forbidden"})
        context = result.get("context") or {}
        if not isinstance(context, dict) or any(isinstance(v, (dict, list)) for v in context.values()):
            log.error("authorizer %s returned a context that is not a flat map", authorizer.logical_id)
            return json_response(500, {"message": None})
        values = {str(k): _stringify(v) for k, v in context.items() if v is not None}
        # The authorizer's latency rides in every later event's context (events/send-message.json, disconnect.json).
        conn.info.authorizer = {"principalId": str(result.get("principalId", "")), **values, "integrationLatency": latency}
        return None

    async def _read_frames(self, conn: Connection, ws: web.WebSocketResponse) -> tuple[int, str]:
        """Read frames until the connection ends; return the close code and reason for $disconnect."""
        connected = time.monotonic()
        while True:
            idle_left = self.idle_timeout - (ev.now_ms() - conn.last_active) / 1000
            life_left = self.max_connection_duration - (time.monotonic() - connected)
            wait = min(idle_left, life_left)
            if wait <= 0:
                await conn.close(*GOING_AWAY)
                return conn.server_close or GOING_AWAY
            try:
                msg = await ws.receive(timeout=max(wait, 0.001))
            except TimeoutError:
                continue
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                conn.last_active = ev.now_ms()
                conn.queue.put_nowait(msg.data)
                continue
            if msg.type == WSMsgType.CLOSE:
                code = int(msg.data or 0)
                if code == 0:
                    return 1005, "Client-side close frame status not set"
                return code, msg.extra or ""
            if msg.type == WSMsgType.ERROR:
                exc_code = getattr(msg.data, "code", None)
                if exc_code == WSCloseCode.MESSAGE_TOO_BIG:
                    return 1009, "Message too big"
                return 1006, "Connection was closed abnormally"
            # CLOSING (we closed it) or CLOSED (transport gone)
            if conn.server_close is not None:
                return conn.server_close
            return (ws.close_code or 1006), ""

    async def _frame_worker(self, conn: Connection) -> None:
        """Handle one connection's frames in the order they came, one at a time."""
        while True:
            data = await conn.queue.get()
            if data is None:
                return
            try:
                await self._handle_frame(conn, data)
            except Exception:  # never let one frame end the connection's worker
                log.exception("connection %s: frame handling failed", conn.id)

    async def _handle_frame(self, conn: Connection, data: str | bytes) -> None:
        route_key = select_websocket_route(self.spec, data)
        route = self.spec.routes.get(route_key)
        if route is None:
            await conn.send({"message": "Forbidden", "connectionId": conn.id, "requestId": ev.api_gateway_id()})
            return
        event = ev.message_event(self.info, conn.info, route_key, data)
        try:
            result = await self.host.invoke(route.function_id, event)
        except InvocationError:
            request_id = event["requestContext"]["requestId"]
            await conn.send({"message": "Internal server error", "connectionId": conn.id, "requestId": request_id})
            return
        # Without a route response API Gateway drops what the integration returns.
        if route.has_route_response and isinstance(result, dict) and isinstance(result.get("body"), str):
            await conn.send(result["body"])

    async def _run_disconnect(self, conn: Connection, code: int, reason: str) -> None:
        route = self.spec.routes.get("$disconnect")
        if route is None:
            return
        try:
            await self.host.invoke(route.function_id, ev.disconnect_event(self.info, conn.info, code, reason))
        except InvocationError:
            pass  # already logged; API Gateway ignores $disconnect failures too


def _identity_present(sources: list[str], info: ev.ConnectionInfo) -> bool:
    """Whether every identity source is in the request (else API Gateway answers 401 without the authorizer)."""
    headers = {k.lower(): v for k, v in info.headers}
    query = dict(ev.query_pairs(info.raw_query))
    for source in sources:
        prefix, _, name = source.rpartition(".")
        if prefix == "route.request.querystring" and not query.get(name):
            return False
        if prefix == "route.request.header" and not headers.get(name.lower()):
            return False
    return True


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
