"""The local API Gateway: one port serves the HTTP API, the WebSocket API, its @connections API and Lambda Invoke,
and the CloudFront distribution in front of the HTTP API and the page's bucket when the template has one.

It reads the template (template.py), runs the handlers in this process (lambda_runtime.py) and puts one
module per emulated API on aiohttp's router: http_api.py, websocket_api.py, management_api.py, lambda_api.py,
cloudfront.py. It knows API Gateway and CloudFront, never the app.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import secrets
import socket
import sys
import threading
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

from aiohttp import web

from .answers import json_response
from .cloudfront import Distribution
from .http_api import HttpApi
from .lambda_api import ROUTE as INVOKE_ROUTE
from .lambda_api import LambdaApi
from .lambda_runtime import (
    PER_FUNCTION_VARS,
    FunctionHost,
    InvocationError,
    Invoker,
    apply_environment,
    fresh_credentials,
    lambda_environment,
    restore_environment,
)
from .lambda_process import FunctionProcess, Setup
from .management_api import ManagementApi
from .sigv4 import StackCredentials
from .cloudformation import ACCOUNT_ID, REGION, TemplateError
from .template import LocalStack, read_stack, rewrite_urls
from .websocket_api import IDLE_TIMEOUT_S, MAX_CONNECTION_S, Connection, WebSocketApi

log = logging.getLogger("parley_local")

MAX_HTTP_BODY_BYTES = 10 * 1024 * 1024  # HTTP API request payload limit
# A client must finish sending a request's line and headers within this many seconds of connecting (or of the
# previous response on a kept-alive connection), else the socket is closed: slow-header clients cannot hold
# sockets open. aiohttp's keepalive_timeout is exactly that timer (it starts when the connection is made and is
# not extended by incoming bytes); it also closes keep-alive connections idle that long.
HEADER_TIMEOUT_S = 10.0
# And a request's body within this many seconds of its headers, else it is answered 408 and the socket closed:
# a body sent a byte a second cannot hold a socket (and the handler waiting for it) either (issue 22, section 6).
BODY_TIMEOUT_S = 10.0
# What aiohttp still reads (and ignores) of a request its handler did not read to the end, before it closes the
# socket: 10 s by default, with no care for how slowly it comes, so a 408'd slow body kept its socket that long.
LINGERING_S = 1.0
# The event loop releases the GIL at every select() and then waits for it behind the handler threads: up to
# Python's switch interval (5 ms) each time, so every @connections post paid it (the convoy effect). A shorter
# interval while the gateway runs halved p50 latency at K = 10 in `python -m bench e2e` (docs/benchmarks.md).
GIL_SWITCH_INTERVAL_S = 0.0005


class FunctionsIn(Enum):
    """Where the functions run: on threads of the gateway's own process (fast to start: the tests), or in a
    process of their own, apart from API Gateway as on AWS, so the two use two cores (``parley-local``)."""

    THREADS = "threads"
    PROCESS = "process"


_running_lock = threading.Lock()
_running: list[LocalGateway] = []


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
        body_timeout: float = BODY_TIMEOUT_S,
        functions_in: FunctionsIn = FunctionsIn.THREADS,
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
        self.body_timeout = body_timeout
        self.functions_in = functions_in
        self.port: int | None = None
        self.warnings: list[str] = []
        self.function_env: dict[str, dict[str, str]] = {}
        self.stack: LocalStack | None = None
        self._host: FunctionHost | FunctionProcess | None = None
        self._runner: web.AppRunner | None = None
        self._previous_env: dict[str, str | None] = {}
        self._previous_switch_interval: float | None = None
        self._stopping = False
        self.websocket_api: WebSocketApi | None = None
        # this run's keys: the only ones the Invoke and @connections APIs accept (unless env_vars sets others)
        self.credentials = fresh_credentials()
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

    @property
    def connections(self) -> dict[str, Connection]:
        """The WebSocket API's open connections by id (empty without a WebSocket API)."""
        return self.websocket_api.connections if self.websocket_api is not None else {}

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
        if self.functions_in is FunctionsIn.PROCESS:
            self._host = FunctionProcess(self._process_setup())
            await self._host.start()
        else:
            self._host = FunctionHost(self.stack.functions, max_workers=self.max_workers, instance=f"{id(self):x}")
            self._host.load_all(before_each=lambda spec: os.environ.update(self.function_env[spec.logical_id]))
            apply_environment(self._union_env)  # the values the whole process runs with
            self._previous_switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        await self._run_custom_resources()
        app = self._application(self.stack, self._host)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0, keepalive_timeout=self.header_timeout,
            lingering_time=LINGERING_S,
        )
        await self._runner.setup()
        site = web.SockSite(self._runner, sock)
        await site.start()
        for warning in self.warnings:
            log.warning("%s", warning)

    async def _run_custom_resources(self) -> None:
        """Send each RunAtStart custom resource's function a Create, as CloudFormation does at deploy time, and wait
        for its answer (a PUT to the event's ResponseURL, here a throwaway local server); FAILED, no answer or a
        crash stops the start with TemplateError. Parley's DatabaseMigration: indexes before any request."""
        import json
        import uuid
        from http.server import BaseHTTPRequestHandler

        from .fakes import serve_http

        assert self.stack is not None and self._host is not None
        for resource_id, provider, properties in self.stack.run_at_start:
            answers: list[dict[str, Any]] = []

            class Capture(BaseHTTPRequestHandler):
                def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                    answers.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0))))
                    self.send_response(200)
                    self.end_headers()

                def log_message(self, *args: Any) -> None:
                    pass

            with serve_http(Capture) as url:
                event = {
                    "RequestType": "Create",
                    "ServiceToken": self.stack.functions[provider].arn,
                    "ResponseURL": f"{url}/{resource_id}",
                    "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{self.stack_name}/local",
                    "RequestId": str(uuid.uuid4()),
                    "LogicalResourceId": resource_id,
                    "ResourceType": "Custom::Local",
                    "ResourceProperties": properties,
                }
                try:
                    await self._host.invoke(provider, event)
                except InvocationError as exc:
                    raise TemplateError(f"{resource_id}: its function {provider} failed: {exc}") from exc
            answer = answers[-1] if answers else {"Status": "FAILED", "Reason": "the function sent no answer"}
            if answer.get("Status") != "SUCCESS":
                raise TemplateError(f"{resource_id}: {answer.get('Reason')}")
            log.info("%s: %s %s", resource_id, answer.get("Reason"), answer.get("Data") or "")

    def _process_setup(self) -> Setup:
        return Setup(
            template=str(self.template_path.resolve()),
            parameter_overrides=dict(self.parameter_overrides),
            stack_name=self.stack_name,
            function_env=self.function_env,
            process_env=self._union_env,
            max_workers=self.max_workers,
            log_level=logging.getLogger().getEffectiveLevel(),
        )

    def _application(self, stack: LocalStack, host: Invoker) -> web.Application:
        """One route per emulated API; whatever none of them claims is the HTTP API's."""
        assert self.port is not None
        app = web.Application(client_max_size=MAX_HTTP_BODY_BYTES, middlewares=[_body_deadline(self.body_timeout)])
        http_api = HttpApi(stack, host, port=self.port)
        app.router.add_route("*", INVOKE_ROUTE, LambdaApi(stack, host, self._known_credentials).handle)
        # with a CloudFront distribution in the template, what no other API claims is the distribution's: its
        # behaviors send the API's paths to the HTTP API and the rest to the page's bucket
        rest = (
            Distribution(stack.page, http_api.handle, lambda v: rewrite_urls(v, **self._url_rewrite()),
                         self._local_secrets(stack)).handle
            if stack.page is not None
            else http_api.handle
        )
        if stack.websocket_api is not None:
            self.websocket_api = WebSocketApi(
                stack.websocket_api,
                host,
                port=self.port,
                idle_timeout=self.idle_timeout,
                max_connection_duration=self.max_connection_duration,
            )
            management = ManagementApi(self.websocket_api, stage_path=self._stage_path, credentials=self._known_credentials)
            app.router.add_route("*", management.route, management.handle)
            upgrade = _upgrade_or(self.websocket_api.handle, rest)
            for path in {self._stage_path or "/", f"{self._stage_path}/"}:
                app.router.add_route("*", path, upgrade)
        app.router.add_route("*", "/{tail:.*}", rest)
        return app

    def _bind(self) -> socket.socket:
        family, type_, proto, address = _bind_address(self.host, self.requested_port)
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

    def _url_rewrite(self) -> dict[str, Any]:
        """rewrite_urls' arguments: the stack's API and distribution URLs become this gateway's."""
        assert self.stack is not None
        ws_api = self.stack.websocket_api
        return dict(
            websocket_api_id=ws_api.api_id if ws_api else None,
            http_api_ids=list(self.stack.http_api_ids.values()),
            base=self.http_url,
            ws_base=f"ws://{self._netloc}",
            cloudfront_domains=[self.stack.page.domain] if self.stack.page else [],
        )

    def _local_secrets(self, stack: LocalStack) -> dict[str, str]:
        """The local value of each secret the distribution may resolve: the functions' environment variable its
        Metadata names (the local profile's), else one random value per run, as GenerateSecretString makes."""
        assert stack.page is not None
        shared = {str(k): str(v) for k, v in (self.env_vars.get("Parameters") or {}).items()}
        values = {}
        for arn, name in stack.page.secret_env.items():
            owners = [env[name] for env in self.function_env.values() if name in env]
            values[arn] = shared.get(name) or (owners[0] if owners else secrets.token_urlsafe(36))
        return values

    def _build_environment(self) -> None:
        assert self.stack is not None
        rewrite = self._url_rewrite()
        shared = {str(k): str(v) for k, v in (self.env_vars.get("Parameters") or {}).items()}
        for logical_id, spec in self.stack.functions.items():
            env = lambda_environment(spec, self.credentials)
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
            if self.websocket_api is not None:
                await self.websocket_api.close_all(timeout=self.shutdown_timeout)
        finally:
            await self._teardown()

    async def _teardown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if isinstance(self._host, FunctionProcess):
            await self._host.stop()
        elif self._host is not None:
            self._host.shutdown()
            self._host.unload()
        self._host = None
        restore_environment(self._previous_env)
        self._previous_env = {}
        if self._previous_switch_interval is not None:
            sys.setswitchinterval(self._previous_switch_interval)
            self._previous_switch_interval = None
        with _running_lock:
            if self in _running:
                _running.remove(self)

def _bind_address(host: str, port: int) -> tuple[int, int, int, Any]:
    """Where a listening socket for ``host`` binds: the first address getaddrinfo gives ("" is every interface)."""
    family, type_, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    return family, type_, proto, address


def exposure_warning(host: str) -> str | None:
    """None when ``host`` binds a loopback address only; else the warning to print (issue 22, section 6): the
    gateway has no TLS, accepts the local keys' signatures and runs the functions with whatever they are sent."""
    try:
        address = _bind_address(host, 0)[3][0]
    except (socket.gaierror, UnicodeError):
        return None  # nothing will be bound: the start fails with the reason
    if ipaddress.ip_address(address.split("%", 1)[0]).is_loopback:
        return None
    where = "every network interface" if ipaddress.ip_address(address.split("%", 1)[0]).is_unspecified else address
    shown = host or "*"
    detail = f" ({where})" if where != shown else ""
    return (f"WARNING: listening on {shown}{detail}, not on loopback only: other machines that reach this one "
            f"can call the HTTP API, open WebSockets and reach the Lambda Invoke and @connections APIs, in plain "
            f"HTTP. Leave --host at 127.0.0.1 unless you mean it.")


def _body_deadline(seconds: float) -> Callable[..., Any]:
    """Read every request's body before its handler, within ``seconds`` of the headers; a body slower than that
    is answered 408 and its connection closed. aiohttp keeps what it read, so handlers' ``request.read()`` gets
    it back; a body over client_max_size still raises its 413 here as it did there."""

    @web.middleware
    async def deadline(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.body_exists:
            try:
                await asyncio.wait_for(request.read(), seconds)
            except TimeoutError:
                log.warning("closed a connection from %s: its request body took over %g s", request.remote, seconds)
                response = json_response(408, {"message": "Request Timeout"})
                response.force_close()
                return response
        return await handler(request)

    return deadline


def _upgrade_or(websocket: Callable[[web.Request], Any], other: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
    """The stage's path: a WebSocket upgrade goes to the WebSocket API, any other request to the HTTP API."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await websocket(request)
        return await other(request)

    return handle


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
