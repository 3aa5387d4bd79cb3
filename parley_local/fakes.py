"""The fake AWS endpoint of the tests and the benchmarks: one @connections Management API, on aiohttp.

Boto3 (or Parley's own poster) calls it over real HTTP. It checks SigV4 with the same code as the local gateway
(sigv4.py), records deliveries, and can answer 410 (gone), 429 (throttled) or 500 for chosen ids, and 413 over
API Gateway's 128 KB. Two ways to run it:

- in this process, on a thread of its own (``serve_management_api(state)``): the tests read what it recorded;
- in a process of its own (``ManagementServer``, ``python -m parley_local.fakes``), so that its CPU never
  competes for the GIL with the client a benchmark measures. There each answer waits ``--rtt`` seconds (a
  simulated round trip, thousands in flight on one asyncio loop), frames are counted rather than kept, and a
  request need only carry a SigV4 ``Authorization`` (a benchmark may sign once and reuse it; checking costs the
  fake CPU the measured client would then wait for). Control endpoints, not part of the Management API:
  ``GET /__stats`` (posts, bytes, inflight_max, the fake's CPU seconds, wall seconds since start, rtt),
  ``POST /__config`` ``{"rtt": seconds}`` and ``POST /__reset``.

``serve_http`` runs any ``http.server`` handler on a thread (the tests' Lambda Invoke fake uses it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from .sigv4 import _AUTHORIZATION, SignatureRefused, StackCredentials, verify

AWS_KEY_ID, AWS_SECRET_KEY = "testing", "testing"  # what the fake @connections endpoint checks signatures against
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's message limit: a bigger post is refused, nothing delivered


def sigv4_is_valid(*, method: str, url: str, headers: Mapping[str, str], body: bytes, secret: str,
                   service: str = "execute-api") -> bool:
    """Whether a request is SigV4-signed with this secret, whatever its access key, region and time."""
    lowered = {name.lower(): value for name, value in headers.items()}
    found = _AUTHORIZATION.match(lowered.get("authorization", "").strip())
    if found is None:
        return False
    try:
        signed_at = datetime.strptime(lowered.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        verify(method=method, url=url, headers=lowered, body=body, service=service, region=found["region"],
               known={found["key"]: StackCredentials(found["key"], secret, lowered.get("x-amz-security-token"))},
               now=signed_at)
    except (ValueError, SignatureRefused):
        return False
    return True


@dataclass
class ManagementApiState:
    delivered: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    gone: set[str] = field(default_factory=set)
    throttle: dict[str, int] = field(default_factory=dict)  # id -> how many 429s before success
    broken: set[str] = field(default_factory=set)  # ids that always answer 500
    posts: int = 0
    bad_signatures: int = 0
    closed: list[str] = field(default_factory=list)  # ids a DELETE @connections/{id} asked to close
    probed: list[str] = field(default_factory=list)  # ids a GET @connections/{id} asked about
    lock: threading.Lock = field(default_factory=threading.Lock)
    endpoint: str = ""  # its base URL with the stage, once it serves
    # How it runs: the tests' defaults; the benchmarks' process sets the other three (see the module's docstring).
    rtt: float = 0.0  # seconds every @connections answer waits
    verify_signatures: bool = True  # False: a SigV4 Authorization header must be there, its signature is not checked
    record: bool = True  # False: delivered frames are counted (posts, bytes), not kept
    bytes: int = 0
    inflight: int = 0
    inflight_max: int = 0

    def frames(self, connection_id: str, type_: str | None = None) -> list[dict]:
        with self.lock:
            frames = list(self.delivered.get(connection_id, []))
        return [f for f in frames if type_ is None or f.get("type") == type_]

    def clear(self) -> None:
        with self.lock:
            self.delivered.clear()


def management_app(state: ManagementApiState):
    """The aiohttp application: ``POST``/``GET``/``DELETE {stage}/@connections/{id}`` and the control endpoints."""
    from aiohttp import web

    started = time.monotonic()

    def reply(status: int, body: dict | None = None) -> web.Response:
        headers = {"x-amzn-ErrorType": (body or {}).get("__type", "Error")} if status >= 400 else {}
        return web.json_response(body or {}, status=status, headers=headers)

    def signed(request: web.Request, data: bytes) -> bool:
        if not state.verify_signatures:
            return request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256")
        url = f"http://{request.headers.get('Host', '')}{request.raw_path}"
        return sigv4_is_valid(method=request.method, url=url, headers=request.headers, body=data, secret=AWS_SECRET_KEY)

    async def connections(request: web.Request) -> web.Response:
        # From the raw path: an id is URL-encoded on the wire, and may hold a "/" once decoded.
        raw_path = request.raw_path.split("?", 1)[0]
        data = await request.read()
        if "@connections/" not in raw_path or "Authorization" not in request.headers:
            return reply(403, {"__type": "ForbiddenException", "message": "Forbidden"})
        connection_id = unquote(raw_path.rsplit("@connections/", 1)[1])
        if request.method == "DELETE":
            if not signed(request, b""):
                return reply(403, {"__type": "ForbiddenException"})
            with state.lock:
                state.closed.append(connection_id)
            return web.Response(status=204)
        if not signed(request, data):
            with state.lock:
                state.bad_signatures += 1
            return reply(403, {"__type": "InvalidSignatureException"})
        if request.method == "GET":  # every id is there unless the test said it is gone
            with state.lock:
                state.probed.append(connection_id)
                gone = connection_id in state.gone
            if gone:
                return reply(410, {"__type": "GoneException"})
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            return web.json_response({"connectedAt": now, "identity": {"sourceIp": "127.0.0.1", "userAgent": ""},
                                      "lastActiveAt": now})
        if len(data) > MAX_MESSAGE_BYTES:
            return reply(413, {"__type": "PayloadTooLargeException", "message": "Request Entity Too Large"})
        with state.lock:
            state.posts += 1
            state.bytes += len(data)
            state.inflight += 1
            state.inflight_max = max(state.inflight_max, state.inflight)
        try:
            if state.rtt > 0:
                await asyncio.sleep(state.rtt)
        except asyncio.CancelledError:  # the client went away
            with state.lock:
                state.inflight -= 1
            raise
        with state.lock:
            state.inflight -= 1
            if connection_id in state.gone:
                return reply(410, {"__type": "GoneException"})
            if connection_id in state.broken:
                return reply(500, {"__type": "InternalServerErrorException"})
            if state.throttle.get(connection_id, 0) > 0:
                state.throttle[connection_id] -= 1
                return reply(429, {"__type": "LimitExceededException"})
            if state.record:
                state.delivered[connection_id].append(json.loads(data))
        return web.Response(status=200)  # as API Gateway answers a delivered post: no body

    async def stats(request: web.Request) -> web.Response:
        with state.lock:
            counts = {"posts": state.posts, "bytes": state.bytes, "inflight_max": state.inflight_max}
        return web.json_response(
            {**counts, "cpu": time.process_time(), "wall": time.monotonic() - started, "rtt": state.rtt}
        )

    async def config(request: web.Request) -> web.Response:
        state.rtt = float((await request.json())["rtt"])
        return web.json_response({"rtt": state.rtt})

    async def reset(request: web.Request) -> web.Response:
        with state.lock:
            state.posts = state.bytes = state.inflight_max = 0
        return web.json_response({})

    app = web.Application(client_max_size=8 * 1024 * 1024)  # so that posts over 128 KB get API Gateway's 413
    app.router.add_get("/__stats", stats)
    app.router.add_post("/__config", config)
    app.router.add_post("/__reset", reset)
    app.router.add_route("*", "/{tail:.*}", connections)
    return app


async def _start(state: ManagementApiState, port: int = 0):
    from aiohttp import web

    runner = web.AppRunner(management_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    return runner, runner.addresses[0][1]


@contextlib.contextmanager
def serve_management_api(state: ManagementApiState) -> Iterator[str]:
    """The fake on a free loopback port, on a thread of its own (its own event loop); yields its base URL and
    sets ``state.endpoint`` (stage ``prod``)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-management-api", daemon=True)
    thread.start()
    try:
        runner, port = asyncio.run_coroutine_threadsafe(_start(state), loop).result(10)
        url = f"http://127.0.0.1:{port}"
        state.endpoint = f"{url}/prod"
        try:
            yield url
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m parley_local.fakes``: the fake in this process, as the benchmarks run it; prints ``PORT n``."""
    parser = argparse.ArgumentParser(prog="python -m parley_local.fakes")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rtt", type=float, default=0.02, help="seconds before each answer (default 0.02)")
    args = parser.parse_args(argv)
    state = ManagementApiState(rtt=args.rtt, verify_signatures=False, record=False)

    async def serve() -> None:
        runner, port = await _start(state, args.port)
        print(f"PORT {port}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


class ManagementServer:
    """The fake in a child process (``main``); ``endpoint`` is the ``endpoint_url`` for boto3 (stage ``prod``)."""

    def __init__(self, rtt: float = 0.02) -> None:
        self.rtt = rtt
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def __enter__(self) -> ManagementServer:
        root = Path(__file__).resolve().parents[1]
        env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "parley_local.fakes", "--rtt", str(self.rtt)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=root,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"the fake Management API did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"{self.base}/prod"

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - 127.0.0.1 only
            return json.loads(resp.read() or b"{}")

    def stats(self) -> dict:
        return self._call("GET", "/__stats")

    def set_rtt(self, rtt: float) -> None:
        self._call("POST", "/__config", {"rtt": rtt})
        self.rtt = rtt

    def reset(self) -> None:
        self._call("POST", "/__reset", {})


@contextlib.contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on a free loopback port, in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
