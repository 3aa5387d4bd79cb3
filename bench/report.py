"""``python -m bench.report``: the latest full results in bench/results/ as Markdown (for docs/benchmarks.md)."""

from __future__ import annotations

import json
import sys

from bench.common import RESULTS, Table

ORDER = ["fanout", "coldstart", "roundtrips", "e2e", "transport"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    suffix = "-latest-quick.json" if "--quick" in argv else "-latest.json"
    for name in ORDER:
        path = RESULTS / f"{name}{suffix}"
        if not path.exists():
            print(f"<!-- {name}: no results in {path} -->\n")
            continue
        payload = json.loads(path.read_text())
        m = payload["machine"]
        print(f"<!-- {name}: {payload['at']}, `{payload['command']}`, {m['nproc']} CPUs {m['cpu']}, "
              f"Python {m['python']}, load average {m.get('loadavg')} -->\n")
        for t in payload["tables"]:
            table = Table(t["title"], t["columns"], t["rows"], t["notes"])
            print(f"**{table.title}**\n")
            print(table.markdown())
            for note in table.notes:
                print(f"- {note}")
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
