"""The local API Gateway: one port serves the HTTP API, the WebSocket API and its @connections API.

It reads the template (template.py), runs the handlers in this process (lambda_runtime.py) and
hands them events built like API Gateway's (events.py). It knows API Gateway, never the app.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import WSCloseCode, WSMsgType, web

from . import events as ev
from . import frame_limit
from .cors import CorsConfig
from .lambda_runtime import (
    LOCAL_ACCESS_KEY_ID,
    LOCAL_SECRET_ACCESS_KEY,
    LOCAL_SESSION_TOKEN,
    PER_FUNCTION_VARS,
    FunctionHost,
    InvocationError,
    apply_environment,
    lambda_environment,
    restore_environment,
)
from .sigv4 import SignatureRefused, StackCredentials, verify
from .template import ACCOUNT_ID, REGION, LocalStack, TemplateError, WebSocketApiSpec, read_stack, rewrite_urls

log = logging.getLogger("parley_local")

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway WebSocket message payload limit
MAX_HTTP_BODY_BYTES = 10 * 1024 * 1024  # HTTP API request payload limit
MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit
INVOKE_PREFIX, INVOKE_SUFFIX = "/2015-03-31/functions/", "/invocations"
IDLE_TIMEOUT_S = 10 * 60
MAX_CONNECTION_S = 2 * 60 * 60
# A client must finish sending a request's line and headers within this many seconds of connecting (or of the
# previous response on a kept-alive connection), else the socket is closed: slow-header clients cannot hold
# sockets open. aiohttp's keepalive_timeout is exactly that timer (it starts when the connection is made and is
# not extended by incoming bytes); it also closes keep-alive connections idle that long.
HEADER_TIMEOUT_S = 10.0
GOING_AWAY = (1001, "Going away")

_running_lock = threading.Lock()
_running: list[LocalGateway] = []


def _json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=headers,
    )


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


@dataclass
class Connection:
    info: ev.ConnectionInfo
    state: str = "connecting"  # connecting -> open -> closing -> closed
    ws: web.WebSocketResponse | None = None
    last_active: int = 0
    server_close: tuple[int, str] | None = None
    queue: asyncio.Queue[str | bytes | None] = field(default_factory=asyncio.Queue)

    @property
    def id(self) -> str:
        return self.info.connection_id


class LocalGateway:
    """API Gateway (WebSocket + HTTP API) and Lambda for one SAM template, on one local port.

    ``env_vars`` uses SAM's ``--env-vars`` shape: ``{"Parameters": {...}, "<LogicalId>": {...}}``.
    Use ``async with LocalGateway(...) as gw`` or ``await gw.start()`` / ``await gw.stop()``;
    ``GatewayThread`` runs one in a background thread for synchronous code.
    """

    def __init__(
        self,
        template_path: str | Path = "template.yaml",
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        env_vars: dict[str, dict[str, Any]] | None = None,
        parameter_overrides: dict[str, str] | None = None,
        stack_name: str = "local-stack",
        idle_timeout: float = IDLE_TIMEOUT_S,
        max_connection_duration: float = MAX_CONNECTION_S,
        max_workers: int = 32,
        shutdown_timeout: float = 10.0,
        header_timeout: float = HEADER_TIMEOUT_S,
    ) -> None:
        self.template_path = Path(template_path)
        self.host = host
        self.requested_port = port
        self.env_vars = env_vars or {}
        self.parameter_overrides = parameter_overrides or {}
        self.stack_name = stack_name
        self.idle_timeout = idle_timeout
        self.max_connection_duration = max_connection_duration
        self.max_workers = max_workers
        self.shutdown_timeout = shutdown_timeout
        self.header_timeout = header_timeout
        self.port: int | None = None
        self.warnings: list[str] = []
        self.function_env: dict[str, dict[str, str]] = {}
        self.stack: LocalStack | None = None
        self.connections: dict[str, Connection] = {}
        self._host: FunctionHost | None = None
        self._runner: web.AppRunner | None = None
        self._previous_env: dict[str, str | None] = {}
        self._connection_tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.credentials = StackCredentials(LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY, LOCAL_SESSION_TOKEN)
        self._known_credentials: dict[str, StackCredentials] = {}

    # ------------------------------------------------------------------ URLs
    @property
    def public_host(self) -> str:
        return "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host

    @property
    def http_url(self) -> str:
        return f"http://{self._netloc}"

    @property
    def stage(self) -> str | None:
        api = self.stack.websocket_api if self.stack else None
        return api.stage if api else None

    @property
    def ws_url(self) -> str:
        return f"ws://{self._netloc}{self._stage_path}"

    @property
    def management_url(self) -> str:
        """The endpoint_url for boto3's apigatewaymanagementapi client."""
        return f"http://{self._netloc}{self._stage_path}"

    @property
    def _netloc(self) -> str:
        if self.port is None:
            raise RuntimeError("the gateway is not started")
        host = f"[{self.public_host}]" if ":" in self.public_host else self.public_host
        return f"{host}:{self.port}"

    @property
    def _stage_path(self) -> str:
        stage = self.stage
        return "" if stage in (None, "$default") else f"/{stage}"

    # ------------------------------------------------------------------ life cycle
    async def __aenter__(self) -> LocalGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        with _running_lock:
            if _running:
                raise RuntimeError(
                    "another LocalGateway is running in this process; handlers share os.environ and "
                    "sys.modules, so stop it first"
                )
            _running.append(self)
        try:
            await self._start()
        except BaseException:
            await self._teardown()
            raise

    async def _start(self) -> None:
        self.stack = read_stack(self.template_path, self.parameter_overrides, stack_name=self.stack_name)
        self.warnings = list(self.stack.warnings)
        unknown = sorted(set(self.env_vars) - {"Parameters"} - set(self.stack.functions))
        if unknown:
            raise TemplateError(f"env vars given for unknown function(s): {', '.join(unknown)}")
        sock = self._bind()
        self.port = sock.getsockname()[1]
        self._build_environment()
        self._host = FunctionHost(self.stack.functions, max_workers=self.max_workers, instance=f"{id(self):x}")
        self._host.load_all(before_each=lambda spec: os.environ.update(self.function_env[spec.logical_id]))
        apply_environment(self._union_env)  # the values the whole process runs with
        app = web.Application(client_max_size=MAX_HTTP_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0, keepalive_timeout=self.header_timeout
        )
        await self._runner.setup()
        site = web.SockSite(self._runner, sock)
        await site.start()
        for warning in self.warnings:
            log.warning("%s", warning)

    def _bind(self) -> socket.socket:
        infos = socket.getaddrinfo(self.host or None, self.requested_port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, type_, proto, _, address = infos[0]
        sock = socket.socket(family, type_, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}") from None
        sock.listen(256)
        sock.setblocking(False)
        return sock

    def _build_environment(self) -> None:
        assert self.stack is not None
        ws_api = self.stack.websocket_api
        rewrite = dict(
            websocket_api_id=ws_api.api_id if ws_api else None,
            http_api_ids=list(self.stack.http_api_ids.values()),
            base=self.http_url,
            ws_base=f"ws://{self._netloc}",
        )
        shared = {str(k): str(v) for k, v in (self.env_vars.get("Parameters") or {}).items()}
        for logical_id, spec in self.stack.functions.items():
            env = lambda_environment(spec)
            # boto3's lambda client (botocore honours service-specific endpoint variables) invokes the
            # template's functions through this gateway's Invoke API
            env["AWS_ENDPOINT_URL_LAMBDA"] = self.http_url
            env.update({k: rewrite_urls(v, **rewrite) for k, v in spec.environment.items()})
            env.update(shared)
            env.update({str(k): str(v) for k, v in (self.env_vars.get(logical_id) or {}).items()})
            self.function_env[logical_id] = env
        union: dict[str, str] = {}
        owners: dict[str, list[str]] = {}
        for logical_id, env in self.function_env.items():
            for key, value in env.items():
                if key not in union:
                    union[key] = value
                    owners[key] = [logical_id]
                elif union[key] != value and key not in PER_FUNCTION_VARS:
                    owners[key].append(logical_id)
        for key, functions in owners.items():
            if len(functions) > 1:
                self.warnings.append(
                    f"environment variable {key} differs between functions ({', '.join(functions)}); "
                    f"all functions share one process, so it is {functions[0]}'s value after start-up"
                )
        self._union_env = union
        # the access keys the functions sign with (the lambda defaults, or what env_vars set): the only ones accepted
        for env in self.function_env.values():
            if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
                found = StackCredentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN") or None)
                self._known_credentials.setdefault(found.access_key, found)
        if self._known_credentials and self.credentials.access_key not in self._known_credentials:
            self.credentials = next(iter(self._known_credentials.values()))  # env_vars replaced the defaults
        every_key = {k for env in self.function_env.values() for k in env}
        self._previous_env = {k: os.environ.get(k) for k in every_key}

    async def stop(self) -> None:
        """Close every connection (each gets its $disconnect), then stop serving."""
        if self._stopping:
            return
        self._stopping = True
        try:
            for conn in list(self.connections.values()):
                if conn.state == "open":
                    await self._close_connection(conn, *GOING_AWAY)
            pending = [t for t in self._connection_tasks if not t.done()]
            if pending:
                await asyncio.wait(pending, timeout=self.shutdown_timeout)
        finally:
            await self._teardown()

    async def _teardown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._host is not None:
            self._host.shutdown()
            self._host.unload()
            self._host = None
        restore_environment(self._previous_env)
        self._previous_env = {}
        with _running_lock:
            if self in _running:
                _running.remove(self)

    # ------------------------------------------------------------------ dispatch
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        if raw_path.startswith(INVOKE_PREFIX) and raw_path.endswith(INVOKE_SUFFIX):
            return await self._lambda_invoke(request, unquote(raw_path[len(INVOKE_PREFIX):-len(INVOKE_SUFFIX)]))
        api = self.stack.websocket_api if self.stack else None
        if api is not None:
            stage_path = self._stage_path
            if raw_path.startswith(f"{stage_path}/@connections/"):
                return await self._management(request, unquote(raw_path[len(stage_path) + len("/@connections/"):]))
            is_upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
            if is_upgrade and raw_path in (stage_path or "/", f"{stage_path}/"):
                return await self._websocket(request, api)
            if is_upgrade:
                return _json_response(404, {"message": "Not Found"})
        return await self._http_api(request)

    # ------------------------------------------------------------------ WebSocket API
    def _api_info(self, api: WebSocketApiSpec) -> ev.WebSocketApiInfo:
        return ev.WebSocketApiInfo(api_id=api.api_id, stage=api.stage)

    async def _websocket(self, request: web.Request, api: WebSocketApiSpec) -> web.StreamResponse:
        if self._stopping:
            return _json_response(503, {"message": "Service Unavailable"})
        assert self._host is not None
        info = ev.ConnectionInfo(
            connection_id=ev.api_gateway_id(),
            connected_at=ev.now_ms(),
            source_ip=request.remote or "127.0.0.1",
            user_agent=request.headers.get("User-Agent"),
            domain_name=request.host,
            headers=ev.with_proxy_headers(
                list(request.headers.items()), source_ip=request.remote or "127.0.0.1", port=self.port or 0, proto="http"
            ),
            raw_query=request.rel_url.raw_query_string,
        )
        conn = Connection(info=info)
        api_info = self._api_info(api)
        self.connections[conn.id] = conn
        task = asyncio.current_task()
        if task is not None:
            self._connection_tasks.add(task)
            task.add_done_callback(self._connection_tasks.discard)
        try:
            refusal, protocol = await self._run_connect(api, api_info, conn)
            if refusal is not None:
                self.connections.pop(conn.id, None)
                return refusal
            ws = web.WebSocketResponse(
                # aiohttp refuses a fragmented message of exactly max_msg_size (its check is >=): +1 accepts 128 KB.
                max_msg_size=MAX_MESSAGE_BYTES + 1,
                protocols=(protocol,) if protocol else (),
                autoping=True,
            )
            await ws.prepare(request)
            frame_limit.install(ws, request)  # frames over 32 KB close the connection with 1009, as in AWS
        except BaseException:
            self.connections.pop(conn.id, None)
            raise
        conn.ws = ws
        conn.state = "open"
        conn.last_active = ev.now_ms()
        log.info("connection %s open", conn.id)
        worker = asyncio.create_task(self._frame_worker(api, api_info, conn))
        code, reason = 1006, ""
        try:
            code, reason = await self._read_frames(conn, ws)
        finally:
            conn.state = "closing"
            if not ws.closed:
                await ws.close(code=code if 1000 <= code < 5000 and code not in (1005, 1006) else 1000)
            conn.queue.put_nowait(None)
            await worker
            if conn.server_close is not None:
                code, reason = conn.server_close
            conn.state = "closed"
            self.connections.pop(conn.id, None)
            await self._run_disconnect(api, api_info, conn, code, reason)
            log.info("connection %s closed (%s)", conn.id, code)
        return ws

    async def _run_connect(
        self, api: WebSocketApiSpec, api_info: ev.WebSocketApiInfo, conn: Connection
    ) -> tuple[web.Response | None, str | None]:
        """Authorize and run $connect; return (a refusal response or None, the subprotocol to accept)."""
        assert self._host is not None
        route = api.routes.get("$connect")
        if route is not None and route.authorizer is not None:
            refusal = await self._authorize(route.authorizer, api_info, conn)
            if refusal is not None:
                return refusal, None
        if route is None:
            return None, None
        event = ev.connect_event(api_info, conn.info)
        try:
            result = await self._host.invoke(route.function_id, event)
        except InvocationError:
            return _json_response(500, {"message": "Internal server error"}), None
        status = result.get("statusCode", 200) if isinstance(result, dict) else 200
        try:
            status = int(status)
        except (TypeError, ValueError):
            log.error("$connect returned a statusCode that is not a number")
            return _json_response(502, {"message": "Internal server error"}), None
        if not 200 <= status < 300:
            body = result.get("body") if isinstance(result, dict) else None
            return web.Response(status=status, text=body if isinstance(body, str) else None), None
        headers = (result.get("headers") or {}) if isinstance(result, dict) else {}
        protocol = next((str(v) for k, v in headers.items() if k.lower() == "sec-websocket-protocol"), None)
        return None, protocol

    async def _authorize(self, authorizer: Any, api_info: ev.WebSocketApiInfo, conn: Connection) -> web.Response | None:
        assert self._host is not None
        if not self._identity_present(authorizer.identity_sources, conn.info):
            return _json_response(401, {"message": "Unauthorized"})
        event = ev.authorizer_event(api_info, conn.info)
        started = time.monotonic()
        try:
            result = await self._host.invoke(authorizer.function_id, event)
        except InvocationError as exc:
            if exc.error_message == "Unauthorized":
                return _json_response(401, {"message": "Unauthorized"})
            return _json_response(500, {"message": None})
        latency = int((time.monotonic() - started) * 1000)
        decision = _policy_decision(result, event["methodArn"])
        if decision == "invalid":
            log.error("authorizer %s returned an invalid policy", authorizer.logical_id)
            return _json_response(500, {"message": None})
        if decision != "Allow":
            return _json_response(403, {"message": "Forbidden"})
        context = result.get("context") or {}
        if not isinstance(context, dict) or any(isinstance(v, (dict, list)) for v in context.values()):
            log.error("authorizer %s returned a context that is not a flat map", authorizer.logical_id)
            return _json_response(500, {"message": None})
        values = {str(k): _stringify(v) for k, v in context.items() if v is not None}
        # The authorizer's latency rides in every later event's context (events/send-message.json, disconnect.json).
        conn.info.authorizer = {"principalId": str(result.get("principalId", "")), **values, "integrationLatency": latency}
        return None

    @staticmethod
    def _identity_present(sources: list[str], info: ev.ConnectionInfo) -> bool:
        headers = {k.lower(): v for k, v in info.headers}
        query = dict(ev.query_pairs(info.raw_query))
        for source in sources:
            prefix, _, name = source.rpartition(".")
            if prefix == "route.request.querystring" and not query.get(name):
                return False
            if prefix == "route.request.header" and not headers.get(name.lower()):
                return False
        return True

    async def _read_frames(self, conn: Connection, ws: web.WebSocketResponse) -> tuple[int, str]:
        """Read frames until the connection ends; return the close code and reason for $disconnect."""
        connected = time.monotonic()
        while True:
            idle_left = self.idle_timeout - (ev.now_ms() - conn.last_active) / 1000
            life_left = self.max_connection_duration - (time.monotonic() - connected)
            wait = min(idle_left, life_left)
            if wait <= 0:
                await self._close_connection(conn, *GOING_AWAY)
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

    async def _frame_worker(self, api: WebSocketApiSpec, api_info: ev.WebSocketApiInfo, conn: Connection) -> None:
        """Handle one connection's frames in the order they came, one at a time."""
        while True:
            data = await conn.queue.get()
            if data is None:
                return
            try:
                await self._handle_frame(api, api_info, conn, data)
            except Exception:  # never let one frame end the connection's worker
                log.exception("connection %s: frame handling failed", conn.id)

    def _select_route(self, api: WebSocketApiSpec, data: str | bytes) -> str:
        expression = api.route_selection_expression
        if not expression.startswith("$request.body.") or isinstance(data, bytes):
            return "$default"
        try:
            value: Any = json.loads(data)
        except ValueError:
            return "$default"
        except RecursionError:  # nested deeper than the parser goes: no selection expression can be read
            log.warning("a frame nested too deeply for route selection (%d bytes) goes to $default", len(data))
            return "$default"
        for part in expression[len("$request.body."):].split("."):
            if not isinstance(value, dict) or part not in value:
                return "$default"
            value = value[part]
        if isinstance(value, str) and value in api.routes and not value.startswith("$"):
            return value
        return "$default"

    async def _handle_frame(
        self, api: WebSocketApiSpec, api_info: ev.WebSocketApiInfo, conn: Connection, data: str | bytes
    ) -> None:
        assert self._host is not None
        route_key = self._select_route(api, data)
        route = api.routes.get(route_key)
        if route is None:
            await self._send_to(conn, {"message": "Forbidden", "connectionId": conn.id, "requestId": ev.api_gateway_id()})
            return
        event = ev.message_event(api_info, conn.info, route_key, data)
        try:
            result = await self._host.invoke(route.function_id, event)
        except InvocationError:
            await self._send_to(
                conn,
                {
                    "message": "Internal server error",
                    "connectionId": conn.id,
                    "requestId": event["requestContext"]["requestId"],
                },
            )
            return
        # Without a route response API Gateway drops what the integration returns.
        if route.has_route_response and isinstance(result, dict) and isinstance(result.get("body"), str):
            await self._send_to(conn, result["body"])

    async def _send_to(self, conn: Connection, payload: dict[str, Any] | str | bytes) -> bool:
        ws = conn.ws
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

    async def _run_disconnect(
        self, api: WebSocketApiSpec, api_info: ev.WebSocketApiInfo, conn: Connection, code: int, reason: str
    ) -> None:
        assert self._host is not None
        route = api.routes.get("$disconnect")
        if route is None:
            return
        try:
            await self._host.invoke(route.function_id, ev.disconnect_event(api_info, conn.info, code, reason))
        except InvocationError:
            pass  # already logged; API Gateway ignores $disconnect failures too

    async def _close_connection(self, conn: Connection, code: int, reason: str) -> None:
        if conn.ws is None or conn.state != "open":
            return
        conn.state = "closing"
        conn.server_close = (code, reason)
        await conn.ws.close(code=code, message=reason.encode())

    # ------------------------------------------------------------------ @connections API
    async def _management(self, request: web.Request, connection_id: str) -> web.Response:
        data = await request.read()
        refused = self._refuse_signature(request, data, "execute-api", "ForbiddenException")
        if refused is not None:
            return refused
        conn = self.connections.get(connection_id)
        alive = conn is not None and conn.state == "open" and conn.ws is not None and not conn.ws.closed
        if request.method == "POST":
            if len(data) > MAX_MESSAGE_BYTES:
                return _error(413, "PayloadTooLargeException", "Request Entity Too Large")
            if not alive:
                return _error(410, "GoneException", None)
            assert conn is not None
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                delivered = await self._send_to(conn, data)
            else:
                delivered = await self._send_to(conn, text)
            if not delivered:
                return _error(410, "GoneException", None)
            return web.Response(status=200)
        if request.method == "GET":
            if not alive:
                return _error(410, "GoneException", None)
            assert conn is not None
            return _json_response(
                200,
                {
                    "connectedAt": _iso(conn.info.connected_at),
                    "identity": {"sourceIp": conn.info.source_ip, "userAgent": conn.info.user_agent or ""},
                    "lastActiveAt": _iso(conn.last_active),
                },
            )
        if request.method == "DELETE":
            if not alive:
                return _error(410, "GoneException", None)
            assert conn is not None
            conn.state = "closing"
            conn.server_close = (1000, "")
            assert conn.ws is not None
            ws = conn.ws
            asyncio.get_running_loop().create_task(ws.close(code=1000))
            return web.Response(status=204)
        return _error(403, "ForbiddenException", "Missing Authentication Token")

    def _refuse_signature(self, request: web.Request, body: bytes, service: str, missing_type: str) -> web.Response | None:
        """None when the request is signed (SigV4) with the stack's credentials; else AWS's 403 answer."""
        try:
            verify(method=request.method, url=f"http://{request.host}{request.raw_path}", headers=request.headers,
                   body=body, service=service, region=REGION, known=self._known_credentials, missing_type=missing_type)
        except SignatureRefused as exc:
            log.warning("refused a %s request to %s: %s", service, request.path, exc.error_type)
            return _error(exc.status, exc.error_type, exc.message)
        return None

    # ------------------------------------------------------------------ Lambda Invoke API
    def _function_id(self, name: str) -> str | None:
        """The logical id for a function name, or its ARN (unqualified or $LATEST)."""
        assert self.stack is not None
        for logical_id, spec in self.stack.functions.items():
            if name in (spec.function_name, spec.arn, f"{spec.arn}:$LATEST", f"{spec.function_name}:$LATEST"):
                return logical_id
        return None

    async def _lambda_invoke(self, request: web.Request, name: str) -> web.Response:
        """Lambda's Invoke (RequestResponse only) for the template's functions, run like any other invocation."""
        assert self._host is not None
        if request.method != "POST":
            return _error(403, "ForbiddenException", "Missing Authentication Token")
        data = await request.read()
        refused = self._refuse_signature(request, data, "lambda", "MissingAuthenticationTokenException")
        if refused is not None:
            return refused
        qualifier = request.rel_url.query.get("Qualifier")
        logical_id = self._function_id(name)
        if logical_id is None or qualifier not in (None, "$LATEST"):
            return _error(404, "ResourceNotFoundException", f"Function not found: {name}")
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type != "RequestResponse":
            return _error(400, "InvalidParameterValueException", "the local gateway runs RequestResponse invokes only")
        if len(data) > MAX_INVOKE_PAYLOAD_BYTES:
            return _error(413, "RequestTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
        try:
            event = json.loads(data) if data else {}
        except ValueError:
            return _error(400, "InvalidRequestContentException", "Could not parse request body into json")
        version = {"X-Amz-Executed-Version": "$LATEST"}
        try:
            result = await self._host.invoke(logical_id, event, invoked=True)
        except InvocationError as exc:
            body = {"errorMessage": exc.error_message, "errorType": exc.error_type}
            return _json_response(200, body, {**version, "X-Amz-Function-Error": "Unhandled"})
        return web.Response(status=200, body=json.dumps(result).encode(), content_type="application/json", headers=version)

    # ------------------------------------------------------------------ HTTP API
    async def _http_api(self, request: web.Request) -> web.StreamResponse:
        assert self.stack is not None and self._host is not None
        raw_path = request.rel_url.raw_path
        cors = self._http_cors(request, unquote(raw_path))
        if cors is not None and cors.is_preflight(request):  # API Gateway answers these itself
            return cors.preflight(request)
        match = match_http_route(self.stack.http_routes, request.method, unquote(raw_path))
        if match is None:
            return _json_response(404, {"message": "Not Found"})
        response = await self._http_integration(request, raw_path, *match)
        if cors is not None:
            cors.apply(request, response)
        return response

    def _http_cors(self, request: web.Request, path: str) -> CorsConfig | None:
        """The CorsConfiguration of the HTTP API the request is for (the one a preflight's method routes to)."""
        assert self.stack is not None
        if not self.stack.http_cors:
            return None
        method = request.headers.get("Access-Control-Request-Method", "") if request.method == "OPTIONS" else ""
        match = match_http_route(self.stack.http_routes, method or request.method, path)
        if match is not None:
            return self.stack.http_cors.get(match[0].api_logical_id)
        configs = list(self.stack.http_cors.values())
        return configs[0] if len(self.stack.http_api_ids) == 1 and configs else None

    async def _http_integration(
        self, request: web.Request, raw_path: str, route: Any, path_parameters: dict[str, str] | None
    ) -> web.StreamResponse:
        assert self.stack is not None and self._host is not None
        body = await request.read()
        event = ev.http_api_event(
            api_id=self.stack.http_api_ids.get(route.api_logical_id, "local"),
            account_id=ACCOUNT_ID,
            method=request.method,
            raw_path=raw_path,
            raw_query=request.rel_url.raw_query_string,
            headers=ev.with_proxy_headers(
                list(request.headers.items()), source_ip=request.remote or "127.0.0.1", port=self.port or 0, proto="http"
            ),
            body=body,
            source_ip=request.remote or "127.0.0.1",
            route_key=route.route_key,
            path_parameters=path_parameters,
            domain_name=request.host,
        )
        request_id = event["requestContext"]["requestId"]
        try:
            result = await self._host.invoke(route.function_id, event)
        except InvocationError:
            return _json_response(500, {"message": "Internal Server Error"}, {"Apigw-Requestid": request_id})
        try:
            response = http_response_from_result(result)
        except ValueError as exc:
            log.error("%s returned a response API Gateway cannot map: %s", route.function_id, exc)
            return _json_response(500, {"message": "Internal Server Error"}, {"Apigw-Requestid": request_id})
        response.headers["Apigw-Requestid"] = request_id
        return response


# ---------------------------------------------------------------------- helpers


def _error(status: int, error_type: str, message: str | None) -> web.Response:
    return _json_response(status, {"message": message}, {"x-amzn-ErrorType": error_type})


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _policy_decision(result: Any, method_arn: str) -> str:
    """'Allow', 'Deny' or 'invalid' for an authorizer's IAM policy answer about method_arn."""
    if not isinstance(result, dict) or not isinstance(result.get("policyDocument"), dict):
        return "invalid"
    statements = result["policyDocument"].get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return "invalid"
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            return "invalid"
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", str(a)) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(method_arn, str(r)) for r in resources):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return "Deny"
        if effect == "Allow":
            allowed = True
    return "Allow" if allowed else "Deny"


def match_http_route(routes: list[Any], method: str, path: str) -> tuple[Any, dict[str, str] | None] | None:
    """Pick the route API Gateway would: exact paths before parameters before greedy ones; a method before ANY.

    Returns (route, pathParameters or None) or None for no match.
    """
    best: tuple[tuple[int, ...], Any, dict[str, str]] | None = None
    segments = path.strip("/").split("/") if path.strip("/") else []
    for route in routes:
        if route.method not in ("ANY", method):
            continue
        if route.path == "$default":
            rank: tuple[int, ...] = (3, 0, 0 if route.method != "ANY" else 1)
            params: dict[str, str] | None = {}
        else:
            params = _match_path(route.path, segments)
            if params is None:
                continue
            template = route.path.strip("/").split("/") if route.path.strip("/") else []
            greedy = 1 if template and template[-1].endswith("+}") else 0
            variables = sum(1 for t in template if t.startswith("{"))
            rank = (greedy, -len(template), variables, 0 if route.method != "ANY" else 1)
        if best is None or rank < best[0]:
            best = (rank, route, params)
    if best is None:
        return None
    return best[1], (best[2] or None)


def _match_path(template_path: str, segments: list[str]) -> dict[str, str] | None:
    template = template_path.strip("/").split("/") if template_path.strip("/") else []
    params: dict[str, str] = {}
    for i, part in enumerate(template):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[i:]
            if not rest or not "/".join(rest):
                return None
            params[part[1:-2]] = "/".join(rest)
            return params
        if i >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            if not segments[i]:
                return None
            params[part[1:-1]] = segments[i]
        elif part != segments[i]:
            return None
    return params if len(segments) == len(template) else None


def http_response_from_result(result: Any) -> web.Response:
    """Map a payload-2.0 Lambda result to an HTTP response, as HTTP API does.

    A dict with ``statusCode`` is a full response (headers, multiValueHeaders, cookies, body,
    isBase64Encoded); anything else is JSON with status 200.
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        body = result if isinstance(result, str) else json.dumps(result)
        return web.Response(status=200, body=body.encode(), headers={"Content-Type": "application/json"})
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        raise ValueError("statusCode is not a number") from None
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif result.get("isBase64Encoded"):
        try:
            body = base64.b64decode(str(raw_body), validate=True)
        except ValueError:
            raise ValueError("isBase64Encoded is true but body is not base64") from None
    else:
        body = str(raw_body).encode()
    response = web.Response(status=status, body=body)
    response.headers.pop("Content-Type", None)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            response.headers.add(str(name), str(value))
    for name, value in (result.get("headers") or {}).items():
        response.headers[str(name)] = str(value)
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", str(cookie))
    if "Content-Type" not in response.headers and body:
        response.headers["Content-Type"] = "application/json"
    return response


# ---------------------------------------------------------------------- thread helper


class GatewayThread:
    """Run a LocalGateway in a background thread (for synchronous tests and tools).

    >>> with GatewayThread("template.yaml", port=0) as gw:
    ...     requests.get(gw.http_url + "/health")
    """

    def __init__(self, template_path: str | Path = "template.yaml", **kwargs: Any) -> None:
        self.gateway = LocalGateway(template_path, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> LocalGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> LocalGateway:
        self._thread = threading.Thread(target=self._run, name="local-gateway", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the local gateway did not start in time")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self.gateway

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.gateway.start()
        except BaseException as exc:  # handed to the thread that called start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.gateway.stop()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run a coroutine function on the gateway's loop and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result()

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
