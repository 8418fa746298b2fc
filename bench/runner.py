"""`bench/run`: run every benchmark module and its physical reference, write one JSON file
and docs/benchmarks.md with charts (bench/README.md describes the module interface).

    bench/run [--quick] [--only NAME,...] [--json PATH]   # measure, then write the report
    bench/run --report [--json PATH]                      # only rewrite the report
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import pkgutil
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import bench
from bench import common, report

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "bench" / "results" / "benchmarks.json"
# Modules that are helpers, not benchmarks.
NOT_BENCHMARKS = {"common", "report", "runner", "loadgen"}


def discover() -> dict[str, Any]:
    """Benchmark modules of the `bench` package: those with a `run(quick)` function,
    in the order of their ORDER attribute (default 50), then by name."""
    found = {}
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name in NOT_BENCHMARKS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "run", None)):
            found[info.name] = module
    return dict(sorted(found.items(), key=lambda kv: (getattr(kv[1], "ORDER", 50), kv[0])))


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "redis": common.redis_version(),
        "platform": platform.platform(),
    }


def run_all(names: list[str] | None, quick: bool, path: Path) -> dict[str, Any]:
    modules = discover()
    unknown = set(names or []) - set(modules)
    if unknown:
        raise SystemExit(f"no benchmark module {sorted(unknown)}; there are {sorted(modules)}")
    previous = json.loads(path.read_text()) if names and path.exists() else {}
    results: dict[str, Any] = {
        "machine": machine(),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "loadavg_start": common.loadavg(),
        "speed_probe_ms_start": common.speed_probe_ms(),
        "benchmarks": dict(previous.get("benchmarks", {})),
    }
    for name, module in modules.items():
        if names and name not in names:
            continue
        print(f"== {name}", flush=True)
        common.STEPS.clear()
        before, speed = common.loadavg(), common.speed_probe_ms()
        began = time.perf_counter()
        try:
            result = module.run(quick)
        except Exception:
            traceback.print_exc()
            result = {"title": name, "error": traceback.format_exc(limit=3), "measures": []}
        result.setdefault("title", name)
        result["seconds"] = round(time.perf_counter() - began, 1)
        result["quick"] = quick
        result["loadavg_before"] = before
        result["loadavg_after"] = common.loadavg()
        result["speed_probe_ms_before"] = speed
        result["speed_probe_ms_after"] = common.speed_probe_ms()
        result["steps"] = list(common.STEPS) + list(result.get("steps", []))
        results["benchmarks"][name] = result
        print(report.text_table(result), flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1) + "\n")  # after each: a crash keeps some
    results["loadavg_end"] = common.loadavg()
    results["speed_probe_ms_end"] = common.speed_probe_ms()
    path.write_text(json.dumps(results, indent=1) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: about a minute")
    parser.add_argument(
        "--only", default="", help="comma-separated modules (e.g. scheduler,api); others kept"
    )
    parser.add_argument("--report", action="store_true", help="only rewrite the report")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="results file")
    parser.add_argument(
        "--markdown", type=Path, default=REPO / "docs" / "benchmarks.md", help="report file"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmark modules")
    args = parser.parse_args(argv)
    if args.list:
        for name, module in discover().items():
            print(name, "-", (module.__doc__ or "").strip().splitlines()[0])
        return 0
    if args.report:
        results = json.loads(args.json.read_text())
    else:
        names = [n for n in args.only.split(",") if n] or None
        results = run_all(names, args.quick, args.json)
    report.write(results, args.markdown, args.markdown.parent / "img")
    print(f"wrote {args.json} and {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
