"""Local end to end: K clients in one room, through the local gateway, against a bare websockets server.

Both servers run in a process of their own; the clients run here, on one asyncio loop. Every client
sends its share of the messages in a closed loop (the next one after its own copy came back), and every
client records when each message reaches it: messages delivered per second, and p50/p99 from send to
receipt over every delivery. Through the gateway a message takes the whole Parley path: route selection,
the message handler (stores it in the embedded database), one @connections POST per member back into
the gateway, then the socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import ROOT, SECRET, Result, Table, percentile, pyplot, save_plot

FULL_CLIENTS = [2, 10, 50]
QUICK_CLIENTS = [2, 5]
ROOM = "bench"
TIMEOUT_S = 180
# Every client sends in a closed loop as fast as it can: this measures throughput, so the per-connection rate
# limits (template parameters) are lifted.
UNLIMITED = ["RateLimitWindowSeconds=1", "SendMessageLimit=1000", "TypingLimit=1000", "JoinLimit=1000"]


class _Server:
    """A server subprocess; ``ready`` is the text after which the line carries its URL/port."""

    def __init__(self, args: list[str], env: dict[str, str], ready: str, tmp: Path) -> None:
        self.args, self.env, self.ready, self.tmp = args, env, ready, tmp
        self.proc: subprocess.Popen | None = None
        self.value = ""

    def start(self) -> _Server:
        self._path = self.tmp / f"server-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self._path, "w")
        self.proc = subprocess.Popen([sys.executable, *self.args], stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=ROOT)
        return self

    def wait(self, timeout: float = 120) -> _Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self._path.read_text().splitlines():
                if self.ready in line:
                    self.value = line.split(self.ready, 1)[1].strip()
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"{' '.join(self.args)} did not start: {self._path.read_text()[-2000:]}")

    def __enter__(self) -> _Server:
        if self.proc is None:
            self.start()
        return self.wait()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self._log.close()


async def _signup(http_url: str, k: int, tag: str) -> list[str]:
    import httpx

    async with httpx.AsyncClient(base_url=http_url, timeout=30) as http:
        async def one(i: int) -> str:
            r = await http.post("/auth/signup", json={"username": f"b{tag}_{i}", "password": "bench password 1"})
            if r.status_code != 201:
                raise RuntimeError(f"signup failed: {r.status_code} {r.text[:200]}")
            return r.json()["token"]

        return list(await asyncio.gather(*(one(i) for i in range(k))))


async def _drive(urls: list[str], per_client: int) -> dict:
    import websockets

    k = len(urls)
    conns = []
    for url in urls:
        conns.append(await websockets.connect(url, max_size=2**20, ping_interval=None))
    try:
        for ws in conns:
            await ws.send(json.dumps({"action": "join", "room": ROOM}))
            while json.loads(await asyncio.wait_for(ws.recv(), 30)).get("type") != "joined":
                pass
        await asyncio.sleep(0.1)  # let the presence frames of the last joins arrive
        sent: dict[str, float] = {}
        latencies: list[float] = []
        echoes = [asyncio.Queue() for _ in range(k)]
        expected = k * k * per_client
        done = asyncio.Event()
        received = 0
        last = 0.0

        async def receive(i: int, ws) -> None:
            nonlocal received, last
            async for raw in ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                if frame.get("type") != "message":
                    continue
                cmid = frame["message"].get("clientMsgId") or ""
                if cmid in sent:
                    latencies.append(now - sent[cmid])
                    received += 1
                    last = now
                    if cmid.startswith(f"c{i}-"):
                        echoes[i].put_nowait(cmid)
                    if received >= expected:
                        done.set()

        async def send(i: int, ws) -> None:
            for j in range(per_client):
                cmid = f"c{i}-{j}"
                sent[cmid] = time.perf_counter()
                await ws.send(json.dumps({"action": "sendMessage", "room": ROOM, "text": f"m {i} {j}", "clientMsgId": cmid}))
                while await echoes[i].get() != cmid:
                    pass

        for ws in conns:  # drain anything left (presence)
            with_timeout = True
            while with_timeout:
                try:
                    await asyncio.wait_for(ws.recv(), 0.05)
                except TimeoutError:
                    with_timeout = False
        readers = [asyncio.create_task(receive(i, ws)) for i, ws in enumerate(conns)]
        start = time.perf_counter()
        senders = [asyncio.create_task(send(i, ws)) for i, ws in enumerate(conns)]
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.gather(*senders, done.wait()), TIMEOUT_S)
        except TimeoutError:
            timed_out = True
        elapsed = (last or time.perf_counter()) - start
        for t in readers + senders:
            t.cancel()
        return {
            "clients": k,
            "sent": len(sent),
            "expected": expected,
            "delivered": received,
            "elapsed": elapsed,
            "per_s": received / elapsed if elapsed else float("nan"),
            "p50_ms": 1000 * percentile(latencies, 50),
            "p99_ms": 1000 * percentile(latencies, 99),
            "timed_out": timed_out,
        }
    finally:
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)


def run(opts) -> Result:
    clients = opts.clients or (QUICK_CLIENTS if opts.quick else FULL_CLIENTS)
    total = opts.messages or (40 if opts.quick else 300)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "JWT_SECRET_ARN")}
        env.update(JWT_SECRET=SECRET, PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
        if os.environ.get("MONGODB_URI"):
            env["MONGODB_URI"] = os.environ["MONGODB_URI"]
        gateway = _Server(["-m", "parley_local", "--port", "0", "--log-level", "WARNING", "--parameter-overrides",
                           *UNLIMITED], env, "WebSocket:", Path(tmp))
        baseline = _Server(["-m", "bench._ws_baseline"], env, "PORT ", Path(tmp))
        gateway.start(), baseline.start()  # both boot at once
        with gateway, baseline:
            ws_url = gateway.value.split("?", 1)[0]
            http_url = ws_url.replace("ws://", "http://").rsplit("/", 1)[0]
            base_url = f"ws://127.0.0.1:{baseline.value}"
            for k in clients:
                per_client = max(1, total // k)
                tokens = asyncio.run(_signup(http_url, k, f"{k}{uuid.uuid4().hex[:4]}"))
                parley = asyncio.run(_drive([f"{ws_url}?token={t}" for t in tokens], per_client))
                bare = asyncio.run(_drive([base_url] * k, per_client))
                rows.append({"clients": k, "per_client": per_client, "parley": parley, "baseline": bare})
    table = Table(
        "Local end to end: K clients in one room, each sending in a closed loop",
        ["K", "messages sent", "deliveries", "Parley deliv./s", "Parley p50 ms", "Parley p99 ms",
         "bare ws deliv./s", "bare p50 ms", "bare p99 ms", "Parley / bare"],
    )
    for r in rows:
        p, b = r["parley"], r["baseline"]
        flag = " (TIMED OUT)" if p["timed_out"] or p["delivered"] < p["expected"] else ""
        table.add(r["clients"], p["sent"], f"{p['delivered']:,}{flag}", p["per_s"], p["p50_ms"], p["p99_ms"],
                  b["per_s"], b["p50_ms"], b["p99_ms"], f"{p['per_s'] / b['per_s']:.2f}×" if b["per_s"] else "–")
    table.notes.append("deliveries = messages × K (the sender gets its own copy); latency: send → receipt, every delivery")
    table.notes.append("Parley: parley-local (API Gateway emulation, real handlers, embedded mongomock, @connections over "
                       "HTTP); bare: websockets.broadcast, no auth, no database")
    data = {"clients": clients, "messages": total, "rows": rows}
    return Result("e2e", [table], data, _plot(rows, opts))


def _plot(rows: list[dict], opts) -> Path | None:
    plt = pyplot() if opts.plots_dir is not None else None
    if plt is None:
        return None
    ks = [r["clients"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4), dpi=110)
    a1.plot(ks, [r["parley"]["per_s"] for r in rows], "o-", label="Parley (local gateway)")
    a1.plot(ks, [r["baseline"]["per_s"] for r in rows], "s--", color="0.4", label="bare websockets")
    a1.set_xlabel("clients in the room (K)")
    a1.set_ylabel("messages delivered per second")
    a1.set_yscale("log")
    a1.legend()
    a1.grid(True, which="both", alpha=0.3)
    for key, style in (("p50_ms", "o-"), ("p99_ms", "^:")):
        a2.plot(ks, [r["parley"][key] for r in rows], style, color="tab:blue", label=f"Parley {key[:3]}")
        a2.plot(ks, [r["baseline"][key] for r in rows], style, color="0.4", label=f"bare {key[:3]}")
    a2.set_xlabel("clients in the room (K)")
    a2.set_ylabel("send → receipt (ms)")
    a2.set_yscale("log")
    a2.legend(fontsize=8)
    a2.grid(True, which="both", alpha=0.3)
    fig.suptitle("Local end to end")
    return save_plot(fig, opts.plots_dir, "bench-e2e.png")
