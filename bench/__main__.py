"""``python -m bench [all|fanout|coldstart|roundtrips|e2e|transport ...] [--quick] [options]``."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import warnings
from pathlib import Path

from bench.common import DOCS, RESULTS, machine, write_result

BENCHMARKS = ["fanout", "coldstart", "roundtrips", "e2e", "transport"]


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("benchmarks", nargs="*", metavar="BENCHMARK", help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    p.add_argument("--quick", action="store_true", help="small sizes, seconds per benchmark; plots go to bench/results/")
    p.add_argument("--results-dir", type=Path, default=RESULTS, help="where the JSON results go (default bench/results)")
    p.add_argument("--plots-dir", type=Path, default=None,
                   help="where the PNG plots go (default docs/, or bench/results/ with --quick)")
    p.add_argument("--no-plots", action="store_true", help="write no PNG")
    g = p.add_argument_group("fanout")
    g.add_argument("--rtt", type=float, default=20.0, help="the Management API's injected round trip in ms (default 20)")
    g.add_argument("--fanout-sizes", type=_ints, help="room sizes N (default 1,10,100,1000,5000; quick 1,10,100)")
    g.add_argument("--concurrency", type=int, default=64, help="BROADCAST_CONCURRENCY (default 64, Parley's default)")
    g.add_argument("--repeats", type=int, help="runs per size, the median is reported (default 5; quick 2)")
    g.add_argument("--seq-max", type=int, help="largest N the sequential baseline runs in full (default 1000; quick 100)")
    g = p.add_argument_group("coldstart")
    g.add_argument("--runs", type=int, help="fresh processes per function, the median is reported (default 10; quick 3)")
    g.add_argument("--functions", help="comma-separated logical ids (default: every function in template.yaml)")
    g.add_argument("--tracer", action="store_true",
                   help="also time each function with the X-Ray Tracer on (TracingMode=Active), alternating with off")
    g = p.add_argument_group("roundtrips")
    g.add_argument("--stored", type=_ints, help="stored messages and outside connections (default 10,10000; quick 10,500)")
    g = p.add_argument_group("e2e")
    g.add_argument("--clients", type=_ints, help="clients K in one room (default 2,10,50; quick 2,5)")
    g.add_argument("--messages", type=int, help="messages sent per run, spread over the K clients (default 300; quick 40)")
    g = p.add_argument_group("transport")
    g.add_argument("--transport-posts", type=int, help="POSTs per client for the CPU column (default 5000; quick 200)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    opts = parser.parse_args(argv)
    unknown = [b for b in opts.benchmarks if b not in ("all", *BENCHMARKS)]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)} (choose from all, {', '.join(BENCHMARKS)})")
    if opts.seq_max is not None and opts.seq_max < min(opts.fanout_sizes or [1]):
        parser.error("--seq-max must be at least the smallest fan-out size: the sequential baseline of the larger "
                     "sizes is estimated from the largest one it ran in full")
    # Powertools warns when an invocation added no metric (ping, history): expected here, not news
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    chosen = BENCHMARKS if not opts.benchmarks or "all" in opts.benchmarks else list(dict.fromkeys(opts.benchmarks))
    if opts.plots_dir is None:
        opts.plots_dir = opts.results_dir if opts.quick else DOCS
    if opts.no_plots:
        opts.plots_dir = None
    m = machine()
    print(f"Parley benchmarks{' (quick)' if opts.quick else ''}: {', '.join(chosen)}")
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}, load average {m['loadavg']}\n", flush=True)
    failed = []
    for name in chosen:
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        try:
            result = module.run(opts)
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            import traceback

            traceback.print_exc()
            print(f"{name}: FAILED ({type(exc).__name__}: {exc})\n", flush=True)
            failed.append(name)
            continue
        path = write_result(result, opts.results_dir, opts.quick)
        print(result.render())
        extra = f", plot {result.plot}" if result.plot else ""
        print(f"\n[{name}: {time.perf_counter() - started:.1f} s; results {path}{extra}]\n", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
