"""A local API Gateway Management API (@connections) that answers after an injected round trip.

Runs in a process of its own (``python -m bench.mgmt_server``) so that its CPU never competes with the
client under test for the GIL. aiohttp on asyncio holds thousands of concurrent requests: each one
sleeps ``rtt`` seconds and answers 200 (or 403 when unsigned, like the real API).

Control endpoints (not part of the Management API):
- ``GET  /__stats``  -> ``{"posts", "cpu", "wall", "inflight_max"}`` (server process CPU seconds; wall since start)
- ``POST /__config`` ``{"rtt": seconds}`` -> changes the injected round trip
- ``POST /__reset`` -> zeroes the counters
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _app(rtt: float):
    from aiohttp import web

    state = {"rtt": rtt, "posts": 0, "inflight": 0, "inflight_max": 0, "bytes": 0}
    started = time.monotonic()

    async def connections(request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256"):
            return web.json_response({"message": "Missing Authentication Token"}, status=403)
        data = await request.read()
        state["posts"] += 1
        state["bytes"] += len(data)
        state["inflight"] += 1
        state["inflight_max"] = max(state["inflight_max"], state["inflight"])
        try:
            if state["rtt"] > 0:
                await asyncio.sleep(state["rtt"])
        finally:
            state["inflight"] -= 1
        return web.Response(status=200)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "posts": state["posts"],
                "bytes": state["bytes"],
                "inflight_max": state["inflight_max"],
                "cpu": time.process_time(),
                "wall": time.monotonic() - started,
                "rtt": state["rtt"],
            }
        )

    async def config(request: web.Request) -> web.Response:
        body = await request.json()
        state["rtt"] = float(body["rtt"])
        return web.json_response({"rtt": state["rtt"]})

    async def reset(request: web.Request) -> web.Response:
        state.update(posts=0, bytes=0, inflight_max=0)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/__stats", stats)
    app.router.add_post("/__config", config)
    app.router.add_post("/__reset", reset)
    app.router.add_post("/{stage}/@connections/{connection_id}", connections)
    return app


def main(argv: list[str] | None = None) -> None:
    from aiohttp import web

    parser = argparse.ArgumentParser(prog="python -m bench.mgmt_server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rtt", type=float, default=0.02, help="seconds before each answer (default 0.02)")
    args = parser.parse_args(argv)

    async def serve() -> None:
        runner = web.AppRunner(_app(args.rtt), access_log=None, handle_signals=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=4096)
        await site.start()
        port = runner.addresses[0][1]
        print(f"PORT {port}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


class ManagementServer:
    """Start the server in a child process; ``endpoint`` is the ``endpoint_url`` for boto3 (stage ``prod``)."""

    def __init__(self, rtt: float = 0.02) -> None:
        self.rtt = rtt
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def __enter__(self) -> ManagementServer:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.mgmt_server", "--rtt", str(self.rtt)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"the management server did not start: {line!r}")
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


if __name__ == "__main__":
    main()
