"""The broadcaster's HTTP/1.1 transport (parley/adapters/http11.py) against aiohttp and httpx, in one run.

Three questions, each asked of the three clients the same way:
- what importing it costs (a fresh process per run, the import alone timed, median);
- the CPU one POST costs this process, ``--transport-posts`` POSTs at 64 in flight to the local Management API
  (parley_local/fakes.py, RTT 0, its own process), the request signed once beforehand and reused;
- what the second POST gets when the server closes a reused keep-alive connection on receiving it, without a
  byte of answer (as when its idle timeout fires while the request is on the way): an answer (sent once
  more on a fresh connection) or an error for the caller.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from bench.common import ROOT, Result, Table, median, spread
from parley_local.fakes import ManagementServer

CLIENTS = ("parley http11", "aiohttp", "httpx")
IMPORTS = {"parley http11": "parley.adapters.http11", "aiohttp": "aiohttp", "httpx": "httpx"}
IN_FLIGHT = 64
SIGNED = {"authorization": "AWS4-HMAC-SHA256 Credential=bench", "content-type": "application/json"}


def _import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    return float(out.stdout.strip())


# ---------------------------------------------------------------- CPU per POST
async def _post_http11(port: int, paths: list[str], body: bytes) -> None:
    from parley.adapters.http11 import Endpoint, request_bytes

    endpoint = Endpoint("http", "127.0.0.1", port, IN_FLIGHT, None)
    headers = {"host": f"127.0.0.1:{port}", **SIGNED}
    pending = iter(paths)

    async def worker() -> None:
        for path in pending:
            answer = await endpoint.exchange(
                request_bytes(method="POST", path=path, headers=headers, body=body), connect_timeout=5, read_timeout=5
            )
            assert answer.status == 200, answer.status

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def _post_aiohttp(port: int, paths: list[str], body: bytes) -> None:
    import aiohttp

    pending = iter(paths)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT)) as session:

        async def worker() -> None:
            for path in pending:
                async with session.post(f"http://127.0.0.1:{port}{path}", data=body, headers=SIGNED) as response:
                    await response.read()
                    assert response.status == 200, response.status

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def _post_httpx(port: int, paths: list[str], body: bytes) -> None:
    import httpx

    pending = iter(paths)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(limits=limits) as client:

        async def worker() -> None:
            for path in pending:
                response = await client.post(f"http://127.0.0.1:{port}{path}", content=body, headers=SIGNED)
                assert response.status_code == 200, response.status_code

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


POSTERS = {"parley http11": _post_http11, "aiohttp": _post_aiohttp, "httpx": _post_httpx}


def _cpu_per_post(name: str, port: int, posts: int) -> tuple[float, float]:
    """(process CPU seconds per POST, POSTs per wall second)."""
    paths = [f"/prod/@connections/C{i:013d}%3D" for i in range(posts)]
    body = b'{"type":"message","message":{"text":"hello"}}'
    asyncio.run(POSTERS[name](port, paths[: min(posts, IN_FLIGHT)], body))  # warm: imports, first connections
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(POSTERS[name](port, paths, body))
    return (time.process_time() - cpu) / posts, posts / (time.perf_counter() - wall)


# ---------------------------------------------------------------- a keep-alive connection closed under a request
async def _closing_server() -> tuple[asyncio.Server, dict]:
    """Answers the first request on each connection; on the second, closes the connection without answering."""
    seen = {"requests": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        on_this_connection = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                seen["requests"] += 1
                on_this_connection += 1
                if on_this_connection > 1:
                    break
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the run is over
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, seen


async def _second_post(name: str) -> tuple[str, int]:
    server, seen = await _closing_server()
    port = server.sockets[0].getsockname()[1]
    url, body = f"http://127.0.0.1:{port}/prod/@connections/a", b"{}"
    try:
        if name == "parley http11":
            from parley.adapters.http11 import Endpoint, request_bytes

            endpoint = Endpoint("http", "127.0.0.1", port, 1, None)
            request = request_bytes(method="POST", path="/prod/@connections/a", headers={"host": f"127.0.0.1:{port}"},
                                    body=body)
            await endpoint.exchange(request, connect_timeout=2, read_timeout=2)
            answer = await endpoint.exchange(request, connect_timeout=2, read_timeout=2)
            for _, writer in endpoint.idle:
                writer.close()
            return f"answered {answer.status}", seen["requests"]
        if name == "aiohttp":
            import aiohttp

            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
                async with session.post(url, data=body) as response:
                    await response.read()
                async with session.post(url, data=body) as response:
                    await response.read()
                    return f"answered {response.status}", seen["requests"]
        import httpx

        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1)) as client:
            await client.post(url, content=body)
            response = await client.post(url, content=body)
            return f"answered {response.status_code}", seen["requests"]
    except Exception as exc:  # noqa: BLE001 - the error is the finding
        return f"raised {type(exc).__name__}", seen["requests"]
    finally:
        server.close()


def run(opts) -> Result:
    runs = opts.runs or (2 if opts.quick else 15)
    posts = opts.transport_posts or (200 if opts.quick else 5000)
    data: dict = {"imports": {}, "cpu": {}, "stale": {}}
    for name in CLIENTS:
        if not opts.quick:
            _import_seconds(IMPORTS[name])  # warm the page cache
        walls = [_import_seconds(IMPORTS[name]) for _ in range(runs)]
        data["imports"][name] = {"median": median(walls), "spread": spread(walls), "walls": walls}
    with ManagementServer(0.0) as server:
        for name in CLIENTS:
            cpu, rate = _cpu_per_post(name, server.port, posts)
            data["cpu"][name] = {"cpu_per_post": cpu, "posts_per_s": rate}
    for name in CLIENTS:
        outcome, requests = asyncio.run(_second_post(name))
        data["stale"][name] = {"outcome": outcome, "requests": requests}

    own = data["imports"]["parley http11"]["median"]
    own_cpu = data["cpu"]["parley http11"]["cpu_per_post"]
    table = Table(
        f"The broadcaster's transport against aiohttp and httpx (imports: median of {runs} fresh processes; "
        f"{posts:,} POSTs at {IN_FLIGHT} in flight, RTT 0)",
        ["client", "import ms", "× http11", "spread %", "CPU µs / POST", "× http11 CPU", "POSTs / s",
         "2nd POST on a connection closed under it", "requests the server read"],
    )
    for name in CLIENTS:
        imp, cpu, stale = data["imports"][name], data["cpu"][name], data["stale"][name]
        table.add(name, 1000 * imp["median"], f"{imp['median'] / own:.1f}×", imp["spread"], 1e6 * cpu["cpu_per_post"],
                  f"{cpu['cpu_per_post'] / own_cpu:.1f}×", round(cpu["posts_per_s"]), stale["outcome"], stale["requests"])
    table.notes += [
        "import ms: `import <module>` alone in a fresh interpreter (parley.adapters.http11 with parley/__init__)",
        "CPU µs / POST: this process's CPU (the clients' own work; the server runs in another process)",
        "2nd POST: the server answers the first request on a connection and closes the connection on reading the "
        "second; 'answered 200' means the client sent it once more on a fresh connection (3 requests read)",
    ]
    return Result("transport", [table], data)
