"""Cold start: a fresh Python process to the end of the first invocation, per function (median of --runs).

Baselines in the same run: an empty interpreter (``python -c pass``) and a bare ``import boto3, pymongo``.
``python -X importtime`` on one more cold start per function shows where the time goes (top packages by
their own import time). The in-memory database (mongomock, local only) is timed in the child and subtracted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.common import (
    save_plot,
    ROOT,
    SECRET,
    Result,
    Table,
    event,
    handler_file,
    load_template,
    local_environment,
    median,
    pyplot,
    spread,
    ws_event,
)
from parley_local.fakes import ManagementServer

CHILD = Path(__file__).with_name("_coldstart_child.py")
WEB_MODULES = ("fastapi", "mangum", "pydantic", "starlette")


def _events(logical_ids: list[str], endpoint: str) -> dict[str, dict]:
    import jwt

    now = int(time.time())
    token = jwt.encode({"sub": "u-cold", "username": "cold", "iat": now, "exp": now + 3600, "iss": "parley"},
                       SECRET, algorithm="HS256")
    out = {}
    for lid in logical_ids:
        if lid == "ConnectFunction":
            out[lid] = ws_event("$connect", "CcoldStart0001=", "u-cold", "cold")
        elif lid == "DisconnectFunction":
            out[lid] = ws_event("$disconnect", "CcoldStart0001=", "u-cold", "cold")
        elif lid == "MessageFunction":
            out[lid] = ws_event("join", "CcoldStart0001=", "u-cold", "cold", {"action": "join", "room": "general"})
        elif lid == "AuthorizerFunction":
            ev = event("authorizer.json")
            ev["queryStringParameters"] = {"token": token}
            ev.get("multiValueQueryStringParameters", {}).clear()
            out[lid] = ev
        elif lid == "AuthFunction":
            ev = event("http-signup.json")
            ev.update(rawPath="/health", rawQueryString="", body=None, pathParameters={"proxy": "health"})
            ev["requestContext"]["http"].update(method="GET", path="/health")
            ev["headers"] = {"host": "abc123.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https"}
            out[lid] = ev
        elif lid == "FanoutFunction":
            out[lid] = {"endpoint": endpoint, "connectionIds": ["CcoldStart0001="], "payload": {"type": "pong"}}
    return out


FIRST_CALL = {
    "ConnectFunction": "$connect",
    "DisconnectFunction": "$disconnect (unknown connection)",
    "MessageFunction": "join (write, room query, one post)",
    "AuthorizerFunction": "verify a token, look its user up",
    "AuthFunction": "GET /health through Mangum",
    "FanoutFunction": "post one slice of one",
}


def _spawn(args: list[str], env: dict[str, str], importtime: bool = False) -> tuple[float, dict, str]:
    cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    line = ""
    for line in proc.stdout:
        if line.startswith("@@COLD@@") or line.strip() == "{}":
            break
    wall = time.perf_counter() - t0
    line = line.removeprefix("@@COLD@@").strip()
    rest, err = proc.communicate(timeout=120)
    if proc.returncode != 0 or not line.strip():
        raise RuntimeError(f"{' '.join(args[:2])} failed ({proc.returncode}): {err[-2000:]}")
    try:
        info = json.loads(line)
    except ValueError:
        info = {}
    return wall, info, err


def _importtime(stderr: str, exclude_root: str = "mongomock") -> tuple[dict[str, float], float]:
    """Own import time per top-level package (µs→s), leaving out what only mongomock pulled in."""
    entries = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m:
            entries.append((int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
    excluded: set[int] = set()
    for i, (_, _, level, name) in enumerate(entries):
        if name == exclude_root:  # its subtree is the run of deeper lines just before it
            excluded.add(i)
            j = i - 1
            while j >= 0 and entries[j][2] > level:
                excluded.add(j)
                j -= 1
    per_package: dict[str, float] = defaultdict(float)
    total = 0.0
    for i, (self_us, _, _, name) in enumerate(entries):
        if i in excluded:
            continue
        per_package[name.split(".")[0]] += self_us / 1e6
        total += self_us / 1e6
    return dict(per_package), total


# TracingMode=Active as Lambda would run it: the Tracer on, a sampled trace id, and an X-Ray daemon address that
# nothing listens on (the SDK sends segments over UDP and never waits for an answer).
TRACE_ID = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"


def tracer_environment(env: dict[str, str], code_dir: Path) -> dict[str, str]:
    return {
        **env,
        "POWERTOOLS_TRACE_DISABLED": "false",
        "LAMBDA_TASK_ROOT": str(code_dir),
        "AWS_LAMBDA_FUNCTION_NAME": "coldstart",
        "_X_AMZN_TRACE_ID": TRACE_ID,
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }


def _tracer_rows(functions, template, events, env, tmp, runs, quick) -> list[dict]:
    """Each function with the Tracer off and on, alternating run by run so that drift hits both alike."""
    rows = []
    for lid in functions:
        path, func = handler_file(template, lid)
        ev_file = Path(tmp) / f"{lid}.json"
        args = [str(CHILD), str(path), func, str(ev_file)]
        envs = {"off": {**env, "POWERTOOLS_TRACE_DISABLED": "true"}, "on": tracer_environment(env, Path(path).parent)}
        if not quick:
            _spawn(args, envs["on"])  # warm the page cache for aws_xray_sdk too
        samples: dict[str, list[dict]] = {"off": [], "on": []}
        for _ in range(runs):
            for mode in ("off", "on"):
                wall, info, _ = _spawn(args, envs[mode])
                samples[mode].append({"wall": wall, **info, "cold": wall - info.get("mock", 0.0)})
        row = {"function": lid, "samples": samples}
        # each "on" run against the "off" run just before it: what load does to one pair it does to both
        row["paired_cold"] = median([b["cold"] - a["cold"] for a, b in zip(samples["off"], samples["on"])])
        row["paired_init"] = median([b["init"] - a["init"] for a, b in zip(samples["off"], samples["on"])])
        for mode in ("off", "on"):
            for key in ("cold", "init", "invoke"):
                row[f"{key}_{mode}"] = median([x[key] for x in samples[mode]])
            row[f"spread_{mode}"] = spread([x["cold"] for x in samples[mode]])
            row[f"status_{mode}"] = samples[mode][-1].get("status")
        rows.append(row)
    return rows


def run(opts) -> Result:
    template = load_template()
    functions = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    if opts.functions:
        wanted = [f.strip() for f in opts.functions.split(",") if f.strip()]
        unknown = set(wanted) - set(functions)
        if unknown:
            raise ValueError(f"unknown functions: {', '.join(sorted(unknown))}")
        functions = wanted
    runs = opts.runs or (2 if opts.quick else 10)
    rows = []
    with ManagementServer(0.0) as server, tempfile.TemporaryDirectory() as tmp:
        events = _events(functions, server.endpoint)
        env = {**os.environ, **local_environment(server.endpoint)}
        env.pop("PYTHONPROFILEIMPORTTIME", None)
        baselines = {
            "python -c pass (interpreter only)": ["-c", "print('{}', flush=True)"],
            "import boto3, pymongo (baseline)": ["-c", "import boto3, pymongo; print('{}', flush=True)"],
        }
        base_rows = {}
        for label, args in baselines.items():
            if not opts.quick:
                _spawn(args, env)  # warm the page cache
            walls = [_spawn(args, env)[0] for _ in range(runs)]
            base_rows[label] = {"median": median(walls), "walls": walls, "spread": spread(walls)}
        for lid in functions:
            path, func = handler_file(template, lid)
            ev_file = Path(tmp) / f"{lid}.json"
            ev_file.write_text(json.dumps(events[lid]))
            args = [str(CHILD), str(path), func, str(ev_file)]
            if not opts.quick:
                _spawn(args, env)  # warm the page cache
            samples = []
            for _ in range(runs):
                wall, info, _ = _spawn(args, env)
                samples.append({"wall": wall, **info, "cold": wall - info.get("mock", 0.0)})
            _, info_it, err = _spawn(args, env, importtime=True)
            packages, import_total = _importtime(err)
            top = sorted(packages.items(), key=lambda kv: -kv[1])[:6]
            rows.append(
                {
                    "function": lid,
                    "first_call": FIRST_CALL.get(lid, ""),
                    "cold": median([s["cold"] for s in samples]),
                    "init": median([s["init"] for s in samples]),
                    "invoke": median([s["invoke"] for s in samples]),
                    "mock": median([s["mock"] for s in samples]),
                    "spread": spread([s["cold"] for s in samples]),
                    "status": samples[-1].get("status"),
                    "heavy": samples[-1].get("heavy", []),
                    "modules": samples[-1].get("modules"),
                    "top": top,
                    "import_total": import_total,
                    "samples": samples,
                }
            )
    base = base_rows["import boto3, pymongo (baseline)"]["median"]
    table = Table(
        f"Cold start: fresh process → end of first invocation (median of {runs})",
        ["function", "first invocation", "cold ms", "vs boto3+pymongo", "init ms", "1st call ms", "web modules", "spread %"],
    )
    for label, b in base_rows.items():
        table.add(label, "", 1000 * b["median"], f"{b['median'] / base:.2f}×", None, None, "", b["spread"])
    for r in rows:
        web = ", ".join(m for m in r["heavy"] if m in WEB_MODULES) or "none"
        table.add(r["function"], f"{r['first_call']} → {r['status']}", 1000 * r["cold"], f"{r['cold'] / base:.2f}×",
                  1000 * r["init"], 1000 * r["invoke"], web, r["spread"])
    table.notes.append("cold ms: spawn → the first invocation returned (interpreter start, imports, module scope, call)")
    table.notes.append("init ms: the handler module's import and module scope; local database: mongomock's own import "
                       f"(~{1000 * median([r['mock'] for r in rows if r['mock']] or [0]):.0f} ms) is subtracted; no network")
    tops = Table(
        "python -X importtime: own import time by top-level package (one cold start each)",
        ["function", "total import ms", "top packages (ms)"],
    )
    for r in rows:
        tops.add(r["function"], 1000 * r["import_total"], ", ".join(f"{p} {1000 * s:.0f}" for p, s in r["top"]))
    tops.notes.append("-X importtime slows imports; compare packages with each other, not with the cold ms above")
    tables = [table, tops]
    data = {"runs": runs, "baselines": base_rows, "rows": rows}
    if getattr(opts, "tracer", False):
        with ManagementServer(0.0) as server, tempfile.TemporaryDirectory() as tmp:
            events = _events(functions, server.endpoint)
            for lid in functions:
                (Path(tmp) / f"{lid}.json").write_text(json.dumps(events[lid]))
            env = {**os.environ, **local_environment(server.endpoint)}
            env.pop("PYTHONPROFILEIMPORTTIME", None)
            traced = _tracer_rows(functions, template, events, env, tmp, runs, opts.quick)
        xray = Table(
            f"X-Ray Tracer (TracingMode): cold start off vs on, alternating in one run (median of {runs} each)",
            ["function", "off cold ms", "on cold ms", "Tracer costs ms (paired)", "init ms off → on",
             "1st call ms off → on", "off→on status", "spread % off/on"],
        )
        for r in traced:
            xray.add(r["function"], 1000 * r["cold_off"], 1000 * r["cold_on"], 1000 * r["paired_cold"],
                     f"{1000 * r['init_off']:.0f} → {1000 * r['init_on']:.0f}",
                     f"{1000 * r['invoke_off']:.1f} → {1000 * r['invoke_on']:.1f}", f"{r['status_off']} → {r['status_on']}",
                     f"{r['spread_off']:.0f}/{r['spread_on']:.0f}")
        xray.notes.append("on: POWERTOOLS_TRACE_DISABLED=false in a Lambda-like environment (LAMBDA_TASK_ROOT, a sampled "
                          "_X_AMZN_TRACE_ID): aws_xray_sdk imported, botocore and pymongo patched, the handler wrapped; "
                          "segments go over UDP to an address nothing listens on")
        xray.notes.append("off: the default; the decorator is the handler itself and aws_xray_sdk is never imported")
        xray.notes.append("Tracer costs: the median over the runs of (cold on − cold off) of each alternating pair")
        tables.append(xray)
        data["tracer"] = traced
    return Result("coldstart", tables, data, _plot(rows, base_rows, opts))


def _plot(rows: list[dict], base_rows: dict, opts) -> Path | None:
    plt = pyplot() if opts.plots_dir is not None else None
    if plt is None:
        return None
    labels = ["python", "boto3+pymongo"] + [r["function"].removesuffix("Function") for r in rows]
    values = [1000 * b["median"] for b in base_rows.values()] + [1000 * r["cold"] for r in rows]
    colors = ["0.6", "0.4"] + ["tab:blue"] * len(rows)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    bars = ax.bar(labels, values, color=colors)
    ax.bar_label(bars, fmt="%.0f")
    ax.set_ylabel("ms, fresh process → first invocation done")
    ax.set_title("Cold start per function (median) vs baselines")
    ax.grid(True, axis="y", alpha=0.3)
    return save_plot(fig, opts.plots_dir, "bench-coldstart.png")
