"""The fault-run table from a HIPPO_CHAOS_REPORT file (one JSON line per run):
`python -m tests.chaos.report FILE` prints, per fault, runs | items lost | duplicates |
cap violations | stuck tasks | API 500s | worst recovery, as markdown."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

HEADER = (
    "| fault | runs | items lost | duplicates | cap violations | stuck tasks | API 500s "
    "| worst recovery |"
)


def table(rows: Iterable[dict[str, Any]]) -> str:
    """Markdown table, one line per fault in order of first appearance; recovery in
    seconds (`none` when a run never recovered)."""
    by_fault: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_fault.setdefault(row["fault"], []).append(row)
    lines = [HEADER, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for fault, runs in by_fault.items():
        recoveries = [r["recovery_s"] for r in runs]
        worst = "none" if any(r is None for r in recoveries) else f"{max(recoveries):.1f} s"
        counts = [
            sum(len(r[name]) for r in runs)
            for name in ("lost", "duplicates", "cap_violations", "stuck")
        ]
        fives = sum(r["api_500s"] for r in runs)
        cells = [fault, str(len(runs)), *map(str, counts), str(fives), worst]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.chaos.report FILE", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
