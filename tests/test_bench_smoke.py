"""The benchmarks run: each one, in --quick mode with tiny sizes, prints a well-formed table and writes JSON.

No timing is asserted here (speed is measured by `make bench`, never by a test); this only keeps
`python -m bench` from rotting. Plots are left out (matplotlib is in the bench extra, not in dev).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "fanout": ["--fanout-sizes", "1,3", "--rtt", "2", "--repeats", "1", "--seq-max", "3"],
    "coldstart": ["--functions", "MessageFunction", "--runs", "1", "--tracer"],
    "roundtrips": ["--stored", "3,6"],
    "e2e": ["--clients", "2", "--messages", "4"],
    "transport": ["--runs", "1", "--transport-posts", "10"],
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(TINY))
def test_benchmark_runs_and_prints_a_table(name, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    cmd = [sys.executable, "-m", "bench", name, "--quick", "--no-plots", "--results-dir", str(tmp_path), *TINY[name]]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=55)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    latest = json.loads((tmp_path / f"{name}-latest-quick.json").read_text())
    assert latest["benchmark"] == name and latest["machine"]["nproc"]
    assert latest["tables"]
    for table in latest["tables"]:
        assert table["rows"], table["title"]
        assert all(len(row) == len(table["columns"]) for row in table["rows"]), table["title"]
        assert table["title"] in proc.stdout
        after = proc.stdout.split(table["title"], 1)[1].splitlines()
        header = next(line for line in after if " | " in line)
        assert [c.strip() for c in header.split(" | ")] == table["columns"]
