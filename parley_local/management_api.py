"""The API Gateway Management API (``@connections``) of the WebSocket API: post to, read and close a connection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import unquote

from aiohttp import web

from .answers import aws_error, json_response, signature_refusal
from .sigv4 import StackCredentials
from .websocket_api import MAX_MESSAGE_BYTES, ConnectionState, WebSocketApi


class ManagementApi:
    def __init__(self, websocket: WebSocketApi, *, stage_path: str, credentials: dict[str, StackCredentials]) -> None:
        self.websocket = websocket
        self.prefix = f"{stage_path}/@connections/"
        self.route = self.prefix + "{connection_id:.+}"
        self.credentials = credentials

    async def handle(self, request: web.Request) -> web.Response:
        connection_id = unquote(request.rel_url.raw_path[len(self.prefix):])
        data = await request.read()
        refused = signature_refusal(
            request, data, service="execute-api", missing_type="ForbiddenException", known=self.credentials
        )
        if refused is not None:
            return refused
        conn = self.websocket.connections.get(connection_id)
        if request.method not in ("POST", "GET", "DELETE"):
            return aws_error(403, "ForbiddenException", "Missing Authentication Token")
        if request.method == "POST" and len(data) > MAX_MESSAGE_BYTES:
            return aws_error(413, "PayloadTooLargeException", "Request Entity Too Large")
        if conn is None or not conn.reachable:
            return aws_error(410, "GoneException", None)
        if request.method == "POST":
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                delivered = await conn.send(data)
            else:
                delivered = await conn.send(text)
            return web.Response(status=200) if delivered else aws_error(410, "GoneException", None)
        if request.method == "GET":
            return json_response(
                200,
                {
                    "connectedAt": _iso(conn.info.connected_at),
                    "identity": {"sourceIp": conn.info.source_ip, "userAgent": conn.info.user_agent or ""},
                    "lastActiveAt": _iso(conn.last_active),
                },
            )
        # DELETE: the close happens after the answer, and $disconnect reports code 1000
        conn.state = ConnectionState.CLOSING
        conn.server_close = (1000, "")
        assert conn.ws is not None
        asyncio.get_running_loop().create_task(conn.ws.close(code=1000))
        return web.Response(status=204)


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"
