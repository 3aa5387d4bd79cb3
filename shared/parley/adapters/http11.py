"""A small HTTP/1.1 client over asyncio streams, for the broadcaster (``parley.adapters.apigw``).

What it promises: requests to one host share keep-alive connections, at most ``limit`` in flight; the
connections live on one asyncio loop per process (a daemon thread), so warm invocations of a container
reuse them. A reused connection the server closed while it sat idle is detected before a byte of answer
arrives and the request is sent once more on a fresh connection (what botocore and urllib3 do too); any
other failure is raised to the caller (``OSError``, ``TimeoutError``, ``asyncio.IncompleteReadError``,
``asyncio.LimitOverrunError`` or ``ValueError`` for an answer that is not HTTP). Answers' bodies are read
and dropped: the caller learns the status and the headers.

Why not aiohttp or httpx: docs/benchmarks.md ("the broadcaster's transport").
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def request_bytes(*, method: str, path: str, headers: Mapping[str, str], body: bytes) -> bytes:
    """One request as it goes on the wire (``path`` already URL-encoded; content-length is added)."""
    return (
        f"{method} {path} HTTP/1.1\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + f"content-length: {len(body)}\r\nuser-agent: parley\r\n\r\n"
    ).encode() + body


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    keep_alive: bool


class _Stale(Exception):
    """A reused connection was closed by the server before it answered: safe to send once more."""


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """Read one answer, its body included (and dropped), so the connection can carry the next request."""
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
    return Answer(int(status), headers, keep_alive)


class Endpoint:
    """The keep-alive connections to one host, and a cap on how many are open at once."""

    def __init__(self, scheme: str, hostname: str, port: int, limit: int, ssl_context: ssl.SSLContext | None) -> None:
        self.hostname, self.port = hostname, port
        if scheme == "https" and ssl_context is None:  # the system's CAs, or AWS_CA_BUNDLE as botocore honours it
            ssl_context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
        self.ssl = ssl_context if scheme == "https" else None
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(limit)
        self.limit = limit

    async def exchange(self, request: bytes, *, connect_timeout: float, read_timeout: float) -> Answer:
        """Send ``request`` (from ``request_bytes``) and read its answer, on an idle connection if there is one."""
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

    async def _roundtrip(self, conn, request: bytes, read_timeout: float, *, reused: bool) -> Answer:
        reader, writer = conn
        try:
            writer.write(request)
            async with asyncio.timeout(read_timeout):
                answer = await read_answer(reader)
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


class LoopThread:
    """One asyncio loop per process, in a daemon thread, started by the first ``run``. The endpoints (and
    so their connections) live on it, so they are reused across the warm invocations of a container."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._endpoints: dict[tuple, Endpoint] = {}  # touched only on the loop's thread

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (from any thread but the loop's own)."""
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked child starts its own
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                self._endpoints = {}
                threading.Thread(target=self._loop.run_forever, name="parley-broadcast", daemon=True).start()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def endpoint(self, scheme: str, hostname: str, port: int, *, limit: int, ssl_context: ssl.SSLContext | None) -> Endpoint:
        """The process's endpoint for that host, made on first use with ``limit`` (call it on the loop)."""
        key = (scheme, hostname, port)
        found = self._endpoints.get(key)
        if found is None:
            found = self._endpoints[key] = Endpoint(scheme, hostname, port, limit, ssl_context)
        return found


loop_thread = LoopThread()
