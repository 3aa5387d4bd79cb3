"""A small HTTP/1.1 client over asyncio streams: keep-alive connections per host, one loop per process."""

from __future__ import annotations

import asyncio
import os
import ssl
import threading


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
