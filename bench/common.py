"""What every benchmark shares: tables, results files, plots, the handlers loaded from template.yaml."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from parley_local import kit
from parley_local.kit import LambdaContext  # noqa: F401 - the benchmarks use it from here
from parley_local.kit import real_event as event  # noqa: F401 - the benchmarks use it from here
from parley_local.lambda_runtime import apply_environment, restore_environment

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"
SECRET = "bench-secret-" + "b" * 40  # local runs only; never a deployed value


# ---------------------------------------------------------------- tables and results
@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))

    def render(self) -> str:
        cells = [[_cell(c) for c in row] for row in self.rows]
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(self.columns)]
        out = [self.title, "-" * len(self.title)]
        out.append(" | ".join(h.ljust(w) for h, w in zip(self.columns, widths)))
        out.append("-|-".join("-" * w for w in widths))
        for r in cells:
            out.append(" | ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths)))
        out += [f"  * {n}" for n in self.notes]
        return "\n".join(out)

    def markdown(self) -> str:
        out = ["| " + " | ".join(self.columns) + " |", "|" + "|".join("---" for _ in self.columns) + "|"]
        out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in self.rows]
        return "\n".join(out)

    def to_json(self) -> dict:
        return {"title": self.title, "columns": self.columns, "rows": self.rows, "notes": self.notes}


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    return bool(text) and text.lstrip("~≈<>×").replace(",", "").replace(".", "", 1).rstrip("×%").isdigit()


@dataclass
class Result:
    name: str
    tables: list[Table]
    data: dict[str, Any]
    plot: Path | None = None

    def render(self) -> str:
        return "\n\n".join(t.render() for t in self.tables)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def write_result(result: Result, results_dir: Path, quick: bool) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    payload = {
        "benchmark": result.name,
        "quick": quick,
        "at": stamp,
        "machine": machine(),
        "command": " ".join(["python", "-m", "bench", *sys.argv[1:]]),
        "tables": [t.to_json() for t in result.tables],
        "data": result.data,
        "plot": str(result.plot) if result.plot else None,
    }
    path = results_dir / f"{result.name}-{stamp}{'-quick' if quick else ''}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    (results_dir / f"{result.name}-latest{'-quick' if quick else ''}.json").write_text(
        json.dumps(payload, indent=2, default=str)
    )
    return path


def pyplot():
    """matplotlib's pyplot (headless), or None when the bench extra is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float]) -> float:
    """(max - min) / median, in percent: how noisy repeated runs were."""
    if len(values) < 2:
        return 0.0
    m = statistics.median(values)
    return 100 * (max(values) - min(values)) / m if m else 0.0


# ---------------------------------------------------------------- the handlers, as Lambda loads them (parley_local/kit.py)
def load_template(path: Path = ROOT / "template.yaml") -> dict:
    return kit.load_template(path)


def handler_file(template: dict, logical_id: str) -> tuple[Path, str]:
    return kit.function_file(template, logical_id, ROOT)


def load_function(template: dict, logical_id: str):
    """Import a handler module fresh from its CodeUri (module scope runs once, as in a new container)."""
    return kit.load_function(template, logical_id, ROOT)


def local_environment(endpoint: str, db_name: str | None = None) -> dict[str, str]:
    """What the functions need to run here: mongomock (or MONGODB_URI), fake AWS credentials, the endpoint."""
    return {
        "PARLEY_ENV": "local",
        "MONGODB_URI": os.environ.get("MONGODB_URI") or "mongomock://localhost",
        "MONGODB_DB": db_name or f"parley_bench_{uuid.uuid4().hex[:10]}",
        "JWT_SECRET": SECRET,
        "MANAGEMENT_API_ENDPOINT": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "ParleyBench",
        "POWERTOOLS_SERVICE_NAME": "parley",
    }


@contextlib.contextmanager
def environment(values: dict[str, str]):
    """These variables in os.environ for the block (the local gateway's own helpers), then the previous ones."""
    previous = apply_environment(values)
    try:
        yield
    finally:
        restore_environment(previous)


@contextlib.contextmanager
def quiet_stdout():
    """Powertools prints EMF metrics and logs to stdout as in Lambda (its logger holds the stream it was
    made with): send file descriptor 1 to /dev/null for the call, so they cost what they cost but stay
    out of the tables."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def ws_event(route: str, connection_id: str, user_id: str, username: str, body: dict | str | None = None,
             session_id: str | None = None) -> dict:
    """An API Gateway WebSocket event shaped like the real captured ones, with Parley's authorizer context (with
    ``session_id``, the session the authorizer found live: $connect reads it again)."""
    context = {"principalId": user_id, "userId": user_id, "username": username}
    if session_id is not None:
        context["sessionId"] = session_id
    return kit.websocket_event(route, connection_id, context, body)


def connection_id(i: int) -> str:
    return f"C{i:013d}="  # the length and shape of API Gateway's ids


def timed(fn, *args, **kwargs) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def save_plot(fig, plots_dir: Path, name: str) -> Path:
    """Lay out, write ``plots_dir/name`` and free the figure (every benchmark's last step)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = plots_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
