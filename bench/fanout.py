"""Fan-out: one sendMessage into a room of N connections, through the real message handler.

Parley's broadcaster (SigV4-signed keep-alive HTTP from one asyncio loop) against a sequential loop
over one boto3 client (the AWS samples' way), against boto3 from a pool of threads (a careful sample,
and Parley before its own poster; bench/baselines.py) and against the ideal ``ceil(N / concurrency) × RTT``.
The Management API is a real local HTTP server in another process that answers after ``--rtt`` ms.
A second table shows where a post's CPU goes.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.common import (
    save_plot,
    LambdaContext,
    Result,
    Table,
    connection_id,
    environment,
    load_function,
    load_template,
    local_environment,
    median,
    pyplot,
    quiet_stdout,
    spread,
    ws_event,
)
from parley_local.fakes import ManagementServer

FULL_SIZES = [1, 10, 100, 1000, 5000]
SLICE = int(load_template()["Resources"]["MessageFunction"]["Properties"]["Environment"]["Variables"]["FANOUT_SLICE"])
QUICK_SIZES = [1, 10, 100]
LAMBDA_FULL_VCPU_MB = 1769  # Lambda allocates CPU in proportion to memory: 1,769 MB = one vCPU


class _TimedBroadcaster:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[tuple[float, int, int]] = []  # (seconds, recipients, delivered)

    def send(self, *, connection_ids, frame):
        t0 = time.perf_counter()
        report = self.inner.send(connection_ids=connection_ids, frame=frame)
        self.calls.append((time.perf_counter() - t0, len(connection_ids), report.delivered))
        return report


class _Swap:
    """The handler's runtime, with the broadcaster of each invocation replaced by ``make(broadcaster)``."""

    def __init__(self, runtime, make) -> None:
        self._runtime = runtime
        self._make = make
        self.last: _TimedBroadcaster | None = None

    def __getattr__(self, name):
        return getattr(self._runtime, name)

    def ports(self, event, metric):
        ports = self._runtime.ports(event, metric)
        self.last = _TimedBroadcaster(self._make(ports.broadcaster))
        return dataclasses.replace(ports, broadcaster=self.last)


# ---- "sliced": SlicedBroadcaster with each slice posted by another process (a stand-in for a FanoutFunction
# invocation on its own vCPU); the processes are started and warmed before timing, as warm Lambdas would be.
_worker_broadcaster = None


def _worker_init(endpoint: str, concurrency: int) -> None:
    global _worker_broadcaster
    from parley.adapters.apigw import ManagementApiBroadcaster

    _worker_broadcaster = ManagementApiBroadcaster(endpoint=endpoint, concurrency=concurrency)


def _worker_invoke(payload: bytes) -> bytes:
    from parley.wire import Frame

    event = json.loads(payload)  # as FanoutFunction does: the event comes decoded, its payload is encoded once
    report = _worker_broadcaster.send(connection_ids=event["connectionIds"], frame=Frame.of(event["payload"]))
    return json.dumps({"delivered": report.delivered, "gone": report.gone, "failed": report.failed}).encode()


class _ProcessLambda:
    """The lambda client's ``invoke``, answered by a worker process (RequestResponse)."""

    def __init__(self, executor) -> None:
        self._executor = executor

    def invoke(self, *, FunctionName, InvocationType, Payload):  # noqa: N803 - boto3's names
        import io

        return {"StatusCode": 200, "Payload": io.BytesIO(self._executor.submit(_worker_invoke, Payload).result())}


def _seed_room(db, room: str, n: int) -> list[str]:
    now = datetime.now(timezone.utc)
    ids = [connection_id(i) for i in range(n)]
    db.connections.delete_many({})
    db.connections.insert_many(
        [
            {
                "_id": cid,
                "userId": f"u{i}",
                "username": f"user{i}",
                "rooms": [room],
                "connectedAt": now,
                "expiresAt": now + timedelta(hours=2),
            }
            for i, cid in enumerate(ids)
        ]
    )
    return ids


def _invoke(handler, swap: _Swap, server: ManagementServer, sender: str, room: str, seq: int) -> dict:
    body = {"action": "sendMessage", "room": room, "text": f"fan-out {seq}", "clientMsgId": f"b-{seq}"}
    ev = ws_event("sendMessage", sender, "u0", "user0", body)
    posts0 = server.stats()["posts"]
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    with quiet_stdout():
        out = handler(ev, LambdaContext("MessageFunction"))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    if out != {"statusCode": 200}:
        raise RuntimeError(f"sendMessage failed: {out}")
    call = swap.last.calls[-1] if swap.last and swap.last.calls else (0.0, 0, 0)
    posts = server.stats()["posts"] - posts0
    return {"wall": wall, "cpu": cpu, "broadcast": call[0], "recipients": call[1], "delivered": call[2], "posts": posts}


def _cost_breakdown(server: ManagementServer, client, count: int) -> list[dict]:
    """Per-post CPU and wall time of one post at RTT 0, by layer: boto3, SigV4 signing alone, bare HTTP."""
    import botocore.auth
    import botocore.awsrequest
    import urllib3

    data = json.dumps({"type": "message", "message": {"text": "x" * 80}}).encode()
    rows = []

    def measure(label: str, fn, clock=time.thread_time) -> None:
        fn(0)  # warm
        c0, t0 = clock(), time.perf_counter()
        for i in range(count):
            fn(i)
        wall, cpu = time.perf_counter() - t0, clock() - c0
        rows.append({"layer": label, "wall_us": 1e6 * wall / count, "cpu_us": 1e6 * cpu / count})

    measure("boto3 post_to_connection (all of it)", lambda i: client.post_to_connection(ConnectionId=connection_id(i), Data=data))
    credentials = client._request_signer._credentials.get_frozen_credentials()
    signer = botocore.auth.SigV4Auth(credentials, "execute-api", "us-east-1")

    def sign(i: int):
        req = botocore.awsrequest.AWSRequest(method="POST", url=f"{server.endpoint}/%40connections/{connection_id(i)}", data=data)
        signer.add_auth(req)
        return req.prepare()

    measure("  SigV4 signing alone (botocore.auth)", sign)
    pool = urllib3.HTTPConnectionPool("127.0.0.1", server.port, maxsize=1)
    headers = dict(sign(0).headers)
    measure(
        "  bare HTTP POST (urllib3, pre-signed)",
        lambda i: pool.urlopen("POST", f"/prod/@connections/{connection_id(i)}", body=data, headers=headers),
    )
    measure("  sign + bare HTTP POST", lambda i: pool.urlopen("POST", (p := sign(i)).url.split(str(server.port), 1)[1], body=data, headers=dict(p.headers)))
    from parley.adapters.apigw import ManagementApiBroadcaster
    from parley.adapters.sigv4 import Signer, current_credentials
    from parley.wire import Frame

    ours, creds = Signer("us-east-1"), current_credentials()
    measure("Parley's SigV4 signer alone (parley.adapters.sigv4)",
            lambda i: ours.headers(host="h", path=f"/prod/@connections/{connection_id(i)}", body=data, credentials=creds))
    one = ManagementApiBroadcaster(endpoint=server.endpoint, concurrency=1)
    measure("Parley's post, one at a time (sign, send, read, one asyncio loop)",
            lambda i: one.send(connection_ids=[connection_id(i)], frame=Frame.of({"type": "message", "message": {"text": "x" * 80}})),
            clock=time.process_time)  # the posting happens on the loop's thread
    return rows


def run(opts) -> Result:
    sizes = opts.fanout_sizes or (QUICK_SIZES if opts.quick else FULL_SIZES)
    rtt = opts.rtt / 1000
    concurrency = opts.concurrency
    repeats = opts.repeats or (2 if opts.quick else 5)
    seq_max = opts.seq_max if opts.seq_max is not None else (100 if opts.quick else 1000)
    rows: list[dict] = []
    with ManagementServer(rtt) as server:
        env = local_environment(server.endpoint) | {"BROADCAST_CONCURRENCY": str(concurrency)}
        with environment(env):
            handler, module = load_function(load_template(), "MessageFunction")

            runtime = module.runtime
            db = runtime.db
            from bench.baselines import Boto3Broadcaster, SerialPool, management_client

            client = management_client(server.endpoint, pool_size=concurrency)
            parley = _Swap(runtime, lambda b: b)
            sequential = _Swap(runtime, lambda b: Boto3Broadcaster(client, pool=SerialPool()))
            from parley.adapters.apigw import ManagementApiBroadcaster

            # the speed-up from concurrency alone: Parley's own poster, one post at a time
            sequential_own = _Swap(runtime, lambda b: ManagementApiBroadcaster(endpoint=server.endpoint, concurrency=1))
            boto3_threads = Boto3Broadcaster(client, pool=runtime.pool)  # the runtime's pool has `concurrency` threads
            threads = _Swap(runtime, lambda b: boto3_threads)
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            from parley.adapters.fanout import SlicedBroadcaster

            # more processes than CPUs measure only the time-sharing; Lambda would run every slice at once
            workers = max(1, min(math.ceil(max(sizes) / SLICE), 2 * (os.cpu_count() or 1)))
            processes = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init,
                initargs=(server.endpoint, concurrency),
            )
            warm_ids = [connection_id(i) for i in range(min(max(sizes), 64))]
            warm = json.dumps({"connectionIds": warm_ids, "payload": {"type": "warm"}}).encode()
            list(processes.map(_worker_invoke, [warm] * (2 * workers)))
            process_lambda = _ProcessLambda(processes)
            sliced = _Swap(runtime, lambda b: SlicedBroadcaster(
                b, function_name="bench-fanout", endpoint=server.endpoint, pool=runtime.pool, slice_size=SLICE,
                client=process_lambda, pool_size=concurrency,
            ))
            counter = itertools.count()  # a fresh clientMsgId for every invocation

            def run_as(swap: _Swap, ids: list[str], room: str, times: int = 1) -> list[dict]:
                """``times`` sendMessages from ``ids[0]`` into ``room``, with ``swap``'s broadcaster."""
                module.runtime = swap
                return [_invoke(handler, swap, server, ids[0], room, next(counter)) for _ in range(times)]

            def summary(name: str, runs: list[dict]) -> dict:
                return {name: median([r["wall"] for r in runs]),
                        f"{name}_broadcast": median([r["broadcast"] for r in runs]), f"{name}_runs": runs}

            # warm the container: indexes, the client, the pool's threads and its keep-alive connections
            ids = _seed_room(db, "warm", min(max(sizes), 2 * concurrency))
            run_as(parley, ids, "warm")
            run_as(threads, ids, "warm")
            per_post_seq = per_post_own = None
            for n in sizes:
                room = f"fanout-{n}"
                ids = _seed_room(db, room, n)
                run_as(parley, ids, room)  # warm-up at this size
                runs = run_as(parley, ids, room, repeats)
                threads_runs = run_as(threads, ids, room, repeats)
                sliced_runs = run_as(sliced, ids, room, repeats)
                row = {
                    "n": n,
                    "ideal": math.ceil(n / concurrency) * rtt,
                    **summary("parley", runs),
                    "parley_cpu": median([r["cpu"] for r in runs]),
                    "parley_spread": spread([r["wall"] for r in runs]),
                    **summary("threads", threads_runs),
                    **summary("sliced", sliced_runs),
                    "delivered_ok": all(r["delivered"] == n and r["posts"] == n for r in runs + sliced_runs)
                    and all(r["delivered"] == n for r in threads_runs),
                }
                if n <= seq_max:
                    seq_runs = run_as(sequential, ids, room, max(1, min(repeats, 3)) if n <= 100 else 1)
                    (own,) = run_as(sequential_own, ids, room)
                    row |= summary("sequential", seq_runs) | {"sequential_measured": True, "sequential_own": own["wall"]}
                    row["delivered_ok"] = row["delivered_ok"] and all(r["delivered"] == n for r in (*seq_runs, own))
                    per_post_seq = row["sequential_broadcast"] / n
                    per_post_own = own["broadcast"] / n
                else:  # N posts at the per-post time measured at the largest N run in full, plus this N's other work
                    row["sequential_broadcast"] = per_post_seq * n
                    row["sequential"] = (row["parley"] - row["parley_broadcast"]) + row["sequential_broadcast"]
                    row["sequential_own"] = (row["parley"] - row["parley_broadcast"]) + per_post_own * n
                    row["sequential_measured"] = False
                module.runtime = parley
                rows.append(row)
                db.messages.delete_many({})

            # where one post's time goes, and the most posts per second this process can make
            server.set_rtt(0.0)
            breakdown = _cost_breakdown(server, client, 100 if opts.quick else 500)
            cap_n = 200 if opts.quick else 2000
            ids = _seed_room(db, "ceiling", cap_n)
            (ceiling,) = run_as(parley, ids, "ceiling")
            (threads_ceiling,) = run_as(threads, ids, "ceiling")
            module.runtime = runtime
            processes.shutdown()
            stats = server.stats()
    ceiling_rate = ceiling["delivered"] / ceiling["broadcast"] if ceiling["broadcast"] else float("nan")
    cpu_per_post = ceiling["cpu"] / ceiling["delivered"] if ceiling["delivered"] else float("nan")
    threads_rate = threads_ceiling["delivered"] / threads_ceiling["broadcast"] if threads_ceiling["broadcast"] else float("nan")
    threads_cpu = threads_ceiling["cpu"] / threads_ceiling["delivered"] if threads_ceiling["delivered"] else float("nan")

    table = Table(
        f"Fan-out: one sendMessage to N connections, RTT {opts.rtt:g} ms, concurrency {concurrency} (median of {repeats})",
        ["N", "ideal ms", "Parley ms", "× ideal", f"sliced/{SLICE} ms", "sliced × ideal", "sequential ms",
         "Parley speed-up", "seq. own poster ms", "speed-up vs it", "boto3 threads ms", "threads × ideal", "spread %"],
    )
    for r in rows:
        table.add(
            r["n"],
            1000 * r["ideal"],
            1000 * r["parley"],
            f"{r['parley'] / r['ideal']:.2f}×",
            1000 * r["sliced"],
            f"{r['sliced'] / r['ideal']:.2f}×",
            ("" if r["sequential_measured"] else "~") + f"{1000 * r['sequential']:,.0f}",
            f"{r['sequential'] / r['parley']:.1f}×",
            ("" if r["sequential_measured"] else "~") + f"{1000 * r['sequential_own']:,.0f}",
            f"{r['sequential_own'] / r['parley']:.1f}×",
            1000 * r["threads"],
            f"{r['threads'] / r['ideal']:.2f}×",
            r["parley_spread"],
        )
    table.notes.append(
        "Parley ms: the message handler's wall time (read the sender, insert, find the room, broadcast); "
        "the broadcaster alone: " + ", ".join(f"N={r['n']}: {1000 * r['parley_broadcast']:.0f} ms" for r in rows)
    )
    table.notes.append(f"boto3 threads: the same handler posting with boto3's post_to_connection from {concurrency} threads "
                       "over one client (bench/baselines.py; Parley's broadcaster before this one)")
    table.notes.append(
        f"sliced: the handler with SlicedBroadcaster (FANOUT_SLICE={SLICE}); each slice is posted by a warm worker "
        f"process (a pool of {workers}) standing in for a FanoutFunction invocation, on a machine with {os.cpu_count()} CPUs "
        "(Lambda gives each invocation its own vCPU; the Invoke round trip, ~10-30 ms on AWS, is not modelled)"
    )
    table.notes.append("sequential: the same handler and boto3 client, posting one after another")
    table.notes.append("seq. own poster: the same handler with Parley's own poster at concurrency 1 (no boto3): "
                       "the speed-up that concurrency alone buys")
    if any(not r["sequential_measured"] for r in rows):
        table.notes.append(
            f"~ = extrapolated: the sequential loops were run in full up to N = {seq_max}; beyond, N × their per-post "
            f"time ({1000 * per_post_seq:.1f} ms boto3, {1000 * per_post_own:.1f} ms own poster) + the handler's other work at that N"
        )
    if not all(r["delivered_ok"] for r in rows):
        table.notes.append("WARNING: some runs did not deliver to every connection")
    costs = Table(
        "Where one post's time goes (one after another, RTT 0, per post)",
        ["layer", "wall µs", "CPU µs"],
    )
    for b in breakdown:
        costs.add(b["layer"], b["wall_us"], b["cpu_us"])
    costs.notes.append(
        f"ceiling at RTT 0, {ceiling['delivered']:,} connections, process CPU per post: Parley {ceiling_rate:,.0f} posts/s "
        f"({1e6 * cpu_per_post:.0f} µs); boto3 threads {threads_rate:,.0f} posts/s ({1e6 * threads_cpu:.0f} µs), the GIL-bound limit "
        "of botocore in one process"
    )
    model = _lambda_model(rows, cpu_per_post, rtt, concurrency)
    data = {
        "rtt_ms": opts.rtt,
        "concurrency": concurrency,
        "repeats": repeats,
        "seq_max": seq_max,
        "rows": rows,
        "breakdown": breakdown,
        "ceiling": {"posts_per_s": ceiling_rate, "cpu_per_post_s": cpu_per_post, **ceiling},
        "threads_ceiling": {"posts_per_s": threads_rate, "cpu_per_post_s": threads_cpu, **threads_ceiling},
        "server": stats,
        "lambda_model": model["rows"],
        "crossover_mb": model["crossover_mb"],
    }
    plot = _plot(rows, opts, concurrency)
    return Result("fanout", [table, costs, model["table"]], data, plot)


def _lambda_model(rows: list[dict], cpu_per_post: float, rtt: float, concurrency: int) -> dict:
    """Project the broadcast time on Lambda: the CPU part scales with the vCPU share, the waiting does not."""
    table = Table(
        "Projected broadcast time on Lambda (model: max(ideal, N × CPU per post / vCPU share))",
        ["MemorySize MB", "vCPU share", "bound by", "N=100 ms", "N=1,000 ms", "N=5,000 ms", "GB-s per 1,000-fan-out"],
    )
    # below this share a post's CPU outlasts RTT / concurrency: the broadcast waits on the CPU, not the network
    crossover_mb = LAMBDA_FULL_VCPU_MB * cpu_per_post * concurrency / rtt if rtt > 0 else float("inf")
    out = []
    for mb in (512, 1024, 1536, 1769, 3008):
        share = min(1.0, mb / LAMBDA_FULL_VCPU_MB)  # above one vCPU, one asyncio loop still uses one
        est = {n: max(math.ceil(n / concurrency) * rtt, n * cpu_per_post / share) for n in (100, 1000, 5000)}
        gbs = mb / 1024 * est[1000]
        bound = "CPU" if mb < crossover_mb else "round trip"
        table.add(mb, f"{share:.2f}", bound, 1000 * est[100], 1000 * est[1000], 1000 * est[5000], gbs)
        out.append({"memory_mb": mb, "share": share, "bound": bound, "est_s": est, "gb_s_1000": gbs})
    table.notes.append(
        f"CPU per post from Parley's RTT-0 ceiling run on this machine ({1e6 * cpu_per_post:.0f} µs); real posts add TLS "
        "(AES-GCM, a few µs). Above 1,769 MB Lambda adds vCPUs, which one asyncio loop does not use"
    )
    table.notes.append(
        f"crossover: from ~{crossover_mb:,.0f} MB up, {concurrency} posts' CPU fits in one {1000 * rtt:g} ms round trip, "
        "so more memory costs more GB-s without making the broadcast faster; below it, duration × memory is constant"
    )
    return {"table": table, "rows": out, "crossover_mb": crossover_mb}


def _plot(rows: list[dict], opts, concurrency: int) -> Path | None:
    plt = pyplot() if opts.plots_dir is not None else None
    if plt is None:
        return None
    ns = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot(ns, [1000 * r["ideal"] for r in rows], "k--", label=f"ideal ceil(N/{concurrency})×RTT")
    ax.plot(ns, [1000 * r["parley"] for r in rows], "o-", color="tab:blue", label="Parley (handler)")
    ax.plot(ns, [1000 * r["sliced"] for r in rows], "D-", color="tab:purple", label=f"Parley sliced ({SLICE}/process)")
    ax.plot(ns, [1000 * r["threads"] for r in rows], "^-", color="tab:green", label=f"boto3, {concurrency} threads")
    measured = [r for r in rows if r["sequential_measured"]]
    ax.plot([r["n"] for r in measured], [1000 * r["sequential"] for r in measured], "s-", color="tab:red", label="sequential loop")
    extra = [r for r in rows if not r["sequential_measured"]]
    if extra:
        last = measured[-1:] + extra
        ax.plot([r["n"] for r in last], [1000 * r["sequential"] for r in last], "s:", color="tab:red", alpha=0.6,
                label="sequential (extrapolated)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("connections in the room (N)")
    ax.set_ylabel("handler wall time (ms)")
    ax.set_title(f"Fan-out of one message, Management API RTT {opts.rtt:g} ms")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return save_plot(fig, opts.plots_dir, "bench-fanout.png")
