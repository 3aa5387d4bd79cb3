"""The API Gateway Management API broadcaster: ``POST {stage}/@connections/{id}`` to every recipient.

Why not boto3's ``post_to_connection``: measured (docs/benchmarks.md), one call costs ~2 ms of CPU in
botocore's per-call machinery and the GIL serializes it, so one process posts at most ~410 a second
however many threads wait on the network. This adapter sends the same request, signed with SigV4
(``parley.adapters.sigv4``, checked against botocore), over keep-alive HTTP/1.1 connections from one
asyncio loop per process: ~150 µs of CPU a post, ``concurrency`` posts in flight.

What it promises: the payload is serialized once; each connection is posted once; 410 ``GoneException``
is reported as gone (the chat forgets the connection); 429 is retried with a bounded, jittered backoff;
anything else (another status, a timeout, a refused connection) is reported failed and logged with the
status and AWS error type, never the payload; one recipient's failure never stops the others. A
keep-alive connection the server closed while it sat idle is detected before a byte of answer arrives
and the request is sent once more on a fresh connection (what botocore and urllib3 do too).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import ssl
import threading
from collections.abc import Callable, Sequence
from urllib.parse import quote, urlsplit

from parley.adapters.sigv4 import Credentials, NoCredentials, Signer, current_credentials
from parley.ports import DeliveryReport
from parley.wire import encode

log = logging.getLogger("parley.broadcast")

_OK, _GONE, _FAILED = "ok", "gone", "failed"
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")


def endpoint_from_event(request_context: dict, override: str | None = None) -> str:
    """The Management API base URL: the override (local runs, custom domains) or the event's own API."""
    if override:
        return override.rstrip("/")
    domain = request_context.get("domainName")
    stage = request_context.get("stage")
    if domain and stage:
        return f"https://{domain}/{stage}"
    api_id = request_context.get("apiId")
    return f"https://{api_id}.execute-api.{_function_region()}.amazonaws.com/{stage}"


def _function_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def region_of(host: str) -> str:
    """The region to sign for: the one in an execute-api host name, else the function's own."""
    found = _REGION_IN_HOST.search(host)
    if found:
        return found.group(1)
    return _function_region()


class _LoopThread:
    """One asyncio loop per process, in a daemon thread, started by the first broadcast. Connections
    live on it, so they are reused across the warm invocations of a container."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self.endpoints: dict[tuple, _Endpoint] = {}  # touched only on the loop's thread

    def run(self, coro):
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked child starts its own
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                self.endpoints = {}
                threading.Thread(target=self._loop.run_forever, name="parley-broadcast", daemon=True).start()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result()


_loop_thread = _LoopThread()


class _Stale(Exception):
    """A reused connection was closed by the server before it answered: safe to send once more."""


class _Answer:
    __slots__ = ("status", "error_type", "keep_alive")

    def __init__(self, status: int, error_type: str, keep_alive: bool) -> None:
        self.status, self.error_type, self.keep_alive = status, error_type, keep_alive


async def _read_answer(reader: asyncio.StreamReader) -> _Answer:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    version, status = head[0].split(" ", 2)[:2]
    headers = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if int(status) in (204, 304):  # no body, whatever the headers say (a DELETE's answer)
        pass
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                break
            await reader.readexactly(size + 2)
    elif "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    else:  # the body runs to the end of the connection
        keep_alive = False
        await reader.read()
    return _Answer(int(status), headers.get("x-amzn-errortype", "").split(":")[0], keep_alive)


class _Endpoint:
    """The keep-alive connections to one host, and a cap on how many are open at once."""

    def __init__(self, scheme: str, hostname: str, port: int, limit: int, ssl_context) -> None:
        self.hostname, self.port = hostname, port
        if scheme == "https" and ssl_context is None:  # the system's CAs, or AWS_CA_BUNDLE as botocore honours it
            ssl_context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
        self.ssl = ssl_context if scheme == "https" else None
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(limit)
        self.limit = limit

    async def exchange(self, request: bytes, *, connect_timeout: float, read_timeout: float) -> _Answer:
        async with self.slots:
            while self.idle:
                conn = self.idle.pop()
                if conn[0].at_eof():  # closed by the server while idle
                    conn[1].close()
                    continue
                try:
                    return await self._roundtrip(conn, request, read_timeout, reused=True)
                except _Stale:
                    break
            async with asyncio.timeout(connect_timeout):
                conn = await asyncio.open_connection(
                    self.hostname, self.port, ssl=self.ssl, server_hostname=self.hostname if self.ssl else None
                )
            return await self._roundtrip(conn, request, read_timeout, reused=False)

    async def _roundtrip(self, conn, request: bytes, read_timeout: float, *, reused: bool) -> _Answer:
        reader, writer = conn
        try:
            writer.write(request)
            async with asyncio.timeout(read_timeout):
                answer = await _read_answer(reader)
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
            writer.close()
            nothing_read = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
            if reused and nothing_read:
                raise _Stale from exc
            raise
        except BaseException:
            writer.close()
            raise
        if answer.keep_alive and len(self.idle) < self.limit:
            self.idle.append(conn)
        else:
            writer.close()
        return answer


class ManagementApiBroadcaster:
    def __init__(
        self,
        *,
        endpoint: str,
        concurrency: int = 64,
        max_attempts: int = 4,
        base_delay: float = 0.05,
        max_delay: float = 1.0,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        credentials: Callable[[], Credentials] = current_credentials,
    ) -> None:
        url = urlsplit(endpoint.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"the Management API endpoint must be an http(s) URL, got {endpoint!r}")
        default_port = 443 if url.scheme == "https" else 80
        self._key = (url.scheme, url.hostname, url.port or default_port)
        self._host = url.hostname if (url.port or default_port) == default_port else f"{url.hostname}:{url.port}"
        self._base = url.path
        self._signer = Signer(region_of(url.hostname))
        self._concurrency = max(1, concurrency)
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._ssl_context = ssl_context
        self._credentials = credentials

    def send(self, *, connection_ids: Sequence[str], payload: dict) -> DeliveryReport:
        report = DeliveryReport()
        ids = list(dict.fromkeys(connection_ids))  # each connection once
        if not ids:
            return report
        data = encode(payload)
        try:
            credentials = self._credentials()
        except NoCredentials:
            log.error("cannot post: no AWS credentials", extra={"recipients": len(ids)})
            report.failed.extend(ids)
            return report
        outcomes = _loop_thread.run(self._post_all(ids, data, credentials))
        for cid, outcome in zip(ids, outcomes):
            if outcome == _OK:
                report.delivered += 1
            elif outcome == _GONE:
                report.gone.append(cid)
            else:
                report.failed.append(cid)
        return report

    def close(self, *, connection_ids: Sequence[str]) -> DeliveryReport:
        """``DELETE @connections/{id}`` for each: API Gateway closes those sockets (gone ones count as gone)."""
        report = DeliveryReport()
        ids = list(dict.fromkeys(connection_ids))
        if not ids:
            return report
        try:
            credentials = self._credentials()
        except NoCredentials:
            log.error("cannot close connections: no AWS credentials", extra={"recipients": len(ids)})
            report.failed.extend(ids)
            return report
        outcomes = _loop_thread.run(self._post_all(ids, b"", credentials, method="DELETE"))
        for cid, outcome in zip(ids, outcomes):
            if outcome == _OK:
                report.delivered += 1
            else:
                (report.gone if outcome == _GONE else report.failed).append(cid)
        return report

    async def _post_all(self, ids: list[str], data: bytes, credentials: Credentials, method: str = "POST") -> list[str]:
        endpoint = _loop_thread.endpoints.get(self._key)
        if endpoint is None:
            endpoint = _loop_thread.endpoints[self._key] = _Endpoint(
                self._key[0], self._key[1], self._key[2], self._concurrency, self._ssl_context
            )
        outcomes = [_FAILED] * len(ids)
        pending = iter(range(len(ids)))

        async def worker() -> None:
            for i in pending:
                outcomes[i] = await self._post(endpoint, ids[i], data, credentials, method)

        await asyncio.gather(*(worker() for _ in range(min(self._concurrency, len(ids)))))
        return outcomes

    async def _post(
        self, endpoint: _Endpoint, connection_id: str, data: bytes, credentials: Credentials, method: str = "POST"
    ) -> str:
        path = f"{self._base}/@connections/{quote(connection_id, safe='')}"
        for attempt in range(1, self._max_attempts + 1):
            headers = self._signer.headers(host=self._host, path=path, body=data, credentials=credentials, method=method)
            request = (
                f"{method} {path} HTTP/1.1\r\n"
                + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
                + f"content-length: {len(data)}\r\nuser-agent: parley\r\n\r\n"
            ).encode() + data
            try:
                answer = await endpoint.exchange(
                    request, connect_timeout=self._connect_timeout, read_timeout=self._read_timeout
                )
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                log.warning(
                    "post_to_connection failed",
                    extra={"connection_id": connection_id, "error_code": type(exc).__name__, "attempt": attempt},
                )
                return _FAILED
            except Exception:  # noqa: BLE001 - one recipient must never stop the others
                log.exception("post_to_connection raised", extra={"connection_id": connection_id})
                return _FAILED
            if 200 <= answer.status < 300:
                return _OK
            if answer.status == 410:
                return _GONE
            if answer.status == 429 and attempt < self._max_attempts:
                await asyncio.sleep(self._backoff(attempt))
                continue
            log.warning(
                "post_to_connection failed",
                extra={"connection_id": connection_id, "error_code": answer.error_type, "status": answer.status,
                       "attempt": attempt},
            )
            return _FAILED
        return _FAILED

    def _backoff(self, attempt: int) -> float:
        cap = min(self._max_delay, self._base_delay * (2 ** (attempt - 1)))
        return random.uniform(cap / 2, cap)
