"""API benchmark: req/s, latency and CPU per request of Hippo's API beside an empty
Starlette endpoint (bench/empty_app.py) served by the same uvicorn settings and driven by
the same load generator (bench/loadgen.py) in the same run.

Starts its own redis-server, `hippo api` (one uvicorn worker, uvloop + httptools) and the
reference on free ports, stores task records through the store's own creation script,
then keeps 32 keep-alive clients busy on each request in turn from a separate process.

    python -m bench.api [--quick] [--records 100000] [--clients 32] [--seconds 10] [--json FILE]

`run(quick)` is bench/run's entry (bench/README.md): the measures beside the empty
endpoint, and every raw figure under "requests".
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from bench import common
from bench.loadgen import Result, http_request, run_load
from hippo.shared.model import parse_task
from hippo.shared.records import new_task_status
from hippo.shared.store import task_scripts

ORDER = 40
REPO = Path(__file__).resolve().parents[1]
EMPTY = "empty Starlette endpoint"
TASK = {
    "id": "bench",
    "container": {"docker": {"image": "alpine"}},
    "mem": 32,
    "cpus": 0.1,
    "cmd": "echo hello",
    "env": {"A": "1"},
}
# Issue 16's goals, as fractions of the empty endpoint's req/s.
GOALS = {"GET /tasks/{mesos_id}/": 1 / 3, "GET /healthz": 0.8}
ROUND_S = 2.0  # each request's load time is spread over rounds of about this long


free_port = common.free_port
cpu_seconds = common.cpu_seconds


def wait_for(check: Callable[[], object], what: str, timeout_s: float = 30) -> None:
    """Wait until `check()` is true, taking its errors (a server not listening yet) as
    not yet; RuntimeError naming `what` after `timeout_s`."""

    def answered() -> bool:
        try:
            return bool(check())
        except Exception:
            return False

    try:
        common.wait_until(answered, timeout_s, poll_s=0.05)
    except TimeoutError:
        raise RuntimeError(f"{what} did not come up in {timeout_s} s") from None


def seed(client: redis.Redis, count: int, prefix: str = "hippo:") -> list[str]:
    """Store `count` waiting task records through the store's own creation script, in
    batches; returns their mesos ids."""
    definition = parse_task(TASK)
    spec = definition.model_dump_json(exclude={"id"}, exclude_none=True)
    create = client.register_script(task_scripts.CREATE_TASKS)
    now = time.time()
    ids = []
    for start in range(0, count, 1000):
        args: list[object] = [prefix, "", 60]
        for _ in range(min(1000, count - start)):
            mesos_id = f"bench.{uuid.uuid4()}"
            ids.append(mesos_id)
            status = json.dumps(new_task_status(definition, "bench", mesos_id, now))
            args += [mesos_id, "bench", "", spec, status]
        create(args=args)
    return ids


@dataclass
class Servers:
    """The processes a run measures, on free ports."""

    redis: subprocess.Popen[bytes]
    redis_port: int
    api: subprocess.Popen[bytes]
    api_port: int
    empty: subprocess.Popen[bytes]
    empty_port: int

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"


def start_redis() -> tuple[subprocess.Popen[bytes], int]:
    """A private redis-server (bench.common.RedisServer) and its port; the caller
    terminates the process."""
    server = common.RedisServer()
    server.client.close()
    return server.proc, server.port


def start_api(redis_port: int, **env: str) -> tuple[subprocess.Popen[bytes], int]:
    """`hippo api` with one uvicorn worker: the process measured is the server itself."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hippo", "api", "--port", str(port), "--workers", "1"],
        env={
            **os.environ,
            "HIPPO_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            **common.HIPPO_LOG_ENV,
            **env,
        },
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200, "hippo api")
    return process, port


def start_empty() -> tuple[subprocess.Popen[bytes], int]:
    """The reference, with the uvicorn settings of `hippo api` (api/cli.py)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.empty_app:app", "--app-dir", str(REPO)]
        + ["--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "httptools"]
        + ["--no-access-log", "--log-level", "warning"],
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/").status_code == 200, "empty app")
    return process, port


@contextmanager
def servers(settings: dict[str, str] | None = None) -> Iterator[Servers]:
    """The processes, `hippo api` with `settings` (HIPPO_* variables) over its defaults."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        redis_proc, redis_port = start_redis()
        started.append(redis_proc)
        api_proc, api_port = start_api(redis_port, **(settings or {}))
        started.append(api_proc)
        empty_proc, empty_port = start_empty()
        started.append(empty_proc)
        yield Servers(redis_proc, redis_port, api_proc, api_port, empty_proc, empty_port)
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(10)


def _load(port: int, request: bytes | list[bytes], clients: int, seconds: float, queue) -> None:  # type: ignore[no-untyped-def]
    queue.put(run_load("127.0.0.1", port, request, clients, seconds))


def measure(
    port: int, request: bytes | list[bytes], clients: int, seconds: float, pids: dict[str, int]
) -> tuple[Result, dict[str, float]]:
    """Load results, and the CPU seconds each watched process spent meanwhile."""
    before = {who: cpu_seconds(pid) for who, pid in pids.items()}
    queue: multiprocessing.Queue[Result] = multiprocessing.Queue()
    process = multiprocessing.Process(target=_load, args=(port, request, clients, seconds, queue))
    process.start()
    result = queue.get()
    process.join()
    return result, {who: cpu_seconds(pid) - before[who] for who, pid in pids.items()}


def merged(
    a: tuple[Result, dict[str, float]], b: tuple[Result, dict[str, float]]
) -> tuple[Result, dict[str, float]]:
    """Two measurements of one request as one."""
    (x, x_cpu), (y, y_cpu) = a, b
    result = Result(
        x.requests + y.requests,
        x.errors + y.errors,
        x.seconds + y.seconds,
        x.latencies_ms + y.latencies_ms,
        x.statuses + y.statuses,
        x.connection_errors + y.connection_errors,
    )
    return result, {who: x_cpu[who] + y_cpu[who] for who in x_cpu}


def figures(result: Result, cpu: dict[str, float]) -> dict[str, Any]:
    """One measurement as plain data: rates, latencies in ms, CPU ms per request."""
    return {
        "req_s": round(result.rate, 1),
        "p50_ms": round(result.percentile(0.5), 2),
        "p99_ms": round(result.percentile(0.99), 2),
        "requests": result.requests,
        "errors": result.errors,
        "statuses": {str(code): n for code, n in sorted(result.statuses.items())},
        "cpu_ms_per_request": {
            who: round(seconds / max(result.requests, 1) * 1000, 4) for who, seconds in cpu.items()
        },
    }


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version()}


def run(
    quick: bool = False,
    *,
    records: int | None = None,
    clients: int = 32,
    seconds: float | None = None,
    settings: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure every API request and the empty endpoint in one run; `quick` stores 10,000
    records and loads 3 s per request (100,000 and 10 s otherwise). `settings`: HIPPO_*
    variables `hippo api` runs with, over the defaults (a before/after of one)."""
    records = records if records is not None else (10_000 if quick else 100_000)
    seconds = seconds if seconds is not None else (3.0 if quick else 10.0)
    out: dict[str, Any] = {
        "machine": machine(),
        "clients": clients,
        "seconds": seconds,
        "records": records,
        "settings": settings or {},
    }
    with servers(settings) as s:
        client = redis.Redis(port=s.redis_port)
        started = time.perf_counter()
        ids = seed(client, records)
        client.close()
        log(f"seeded {records:,} task records in {time.perf_counter() - started:.1f} s")
        body = json.dumps(TASK).encode()
        requests: dict[str, tuple[int, bytes | list[bytes], dict[str, int]]] = {}
        api_pids = {"api": s.api.pid, "redis": s.redis.pid}
        requests[EMPTY] = (
            s.empty_port,
            http_request("GET", "/"),
            {"server": s.empty.pid},
        )
        requests["GET /healthz"] = (s.api_port, http_request("GET", "/healthz"), api_pids)
        requests["GET /tasks/{mesos_id}/"] = (
            s.api_port,
            [http_request("GET", f"/tasks/{mesos_id}/") for mesos_id in ids[-1000:]],
            api_pids,
        )
        requests["GET /tasks/?limit=100"] = (
            s.api_port,
            http_request("GET", "/tasks/?limit=100"),
            api_pids,
        )
        requests["POST /tasks/"] = (
            s.api_port,
            http_request("POST", "/tasks/", body, {"Content-Type": "application/json"}),
            api_pids,
        )
        out["load_average_before"] = os.getloadavg()[0]
        log(f"load: {out['load_average_before']:.2f} (1-minute average before the runs)")
        for port, request, _ in list(requests.values())[:3]:
            measure(port, request, clients, 1, {})  # warm up
        # In rounds, each request loaded for a slice of its time in turn, so that a change
        # in the machine's load (other jobs) falls on all of them alike.
        found: dict[str, tuple[Result, dict[str, float]]] = {}
        rounds = out["rounds"] = max(1, round(seconds / ROUND_S))
        for n in range(rounds):
            with common.step(f"round {n + 1} of {rounds}"):
                for name, (port, request, pids) in requests.items():
                    result, cpu = measure(port, request, clients, seconds / rounds, pids)
                    found[name] = (
                        merged(found[name], (result, cpu)) if name in found else (result, cpu)
                    )
        results = {}
        for name, (result, cpu) in found.items():
            results[name] = figures(result, cpu)
            log(describe(name, results[name]))
        out["load_average_after"] = os.getloadavg()[0]
    empty = results[EMPTY]
    for found in results.values():
        found["vs_empty"] = round(found["req_s"] / empty["req_s"], 3)
        # What the CPU spent per request allows, the load generator's share aside.
        cpu = found["cpu_ms_per_request"]
        found["vs_empty_cpu"] = round(
            empty["cpu_ms_per_request"]["server"] / cpu.get("api", cpu.get("server", 1)), 3
        )
    out["requests"] = results
    out["goals"] = {
        name: {"vs_empty_at_least": goal, "met": results[name]["vs_empty"] >= goal}
        for name, goal in GOALS.items()
    }
    out["title"] = "API"
    out["measures"] = measures(out)
    out["notes"] = notes(out)
    return out


def measures(out: dict[str, Any]) -> list[dict[str, Any]]:
    """bench/run's rows: each request's req/s, API CPU per request and p99 beside the
    empty endpoint's."""
    results, rows = out["requests"], []
    empty = results[EMPTY]
    goals = {name: f"≥ {goal:.2f}× reference" for name, goal in GOALS.items()}
    for name, r in results.items():
        if name == EMPTY:
            continue
        rows.append(
            common.measure(
                f"`{name}` rate",
                r["req_s"],
                "req/s",
                reference=empty["req_s"],
                reference_name=EMPTY,
                goal=goals.get(name, ""),
            )
        )
        rows.append(
            common.measure(
                f"`{name}` API CPU per request",
                r["cpu_ms_per_request"]["api"],
                "ms",
                reference=empty["cpu_ms_per_request"]["server"],
                reference_name=EMPTY,
                better="lower",
            )
        )
        rows.append(
            common.measure(
                f"`{name}` p99 latency",
                r["p99_ms"],
                "ms",
                reference=empty["p99_ms"],
                reference_name=EMPTY,
                better="lower",
            )
        )
    return rows


def notes(out: dict[str, Any]) -> str:
    return (
        f"`python -m bench.api`: its own redis-server, `hippo api` (one uvicorn worker, "
        f"uvloop + httptools) and the reference, an empty Starlette app with one route "
        f"answering a small JSON (bench/empty_app.py) served by uvicorn with the same "
        f"settings, all on free ports; {out['records']:,} waiting task records stored "
        f"through the store's own creation script (no leader runs, so every waiting "
        f"record's reason is derived when it is answered). {out['clients']} keep-alive "
        f"clients (bench/loadgen.py, a separate process) load each request for "
        f"{out['seconds']:g} s, in {out['rounds']} rounds of every request in turn (so that a change "
        "in the machine's load falls on all alike); GET of one task cycles through 1,000 "
        "records. `hippo api` runs at Hippo's default log settings (INFO, no access "
        "log: bench.common.HIPPO_LOG_ENV)"
        + "".join(
            f"{', except' if i == 0 else ','} {name}={value}"
            for i, (name, value) in enumerate(sorted(out.get("settings", {}).items()))
        )
        + ". Load generator, API and Redis share the cores, so req/s moves with the "
        "machine's load; CPU per request, read from /proc, does not.\n\n"
        + table(out)
        + "\n\n"
        + BEFORE_AFTER
    )


# Issue 16's per-request overhead cut, measured with this module (full sizes) before and
# after, alternately, in the same minutes; kept here because the report is regenerated.
BEFORE_AFTER = """**Before and after the per-request work was cut** (issue 16: one route per path for
both slash forms, found by first path segment, instead of 54 routes scanned in order;
metrics series looked up once per label set; waiting reasons decoding only the statuses
of waiting runs, with pydantic_core, instead of json over whole records). Two
before/after pairs, 2026-11-30 17:59-18:05 UTC, 1-minute load average 7.4 to 12 on
2 CPUs (other suites running): req/s and its ratio to the empty endpoint moved with
that load, API CPU per request much less.

| request | before: req/s (× empty) | after: req/s (× empty) | before: API CPU ms | after: API CPU ms |
|---|---|---|---|---|
| empty Starlette endpoint | 4,239 / 2,740 | 2,276 / 3,106 | 0.107 / 0.120 | 0.139 / 0.124 |
| `GET /healthz` | 2,316 (0.55) / 1,370 (0.50) | 2,419 (1.06) / 3,637 (1.17) | 0.196 / 0.219 | 0.172 / 0.136 |
| `GET /tasks/{mesos_id}/` | 765 (0.18) / 546 (0.20) | 626 (0.28) / 1,370 (0.44) | 0.619 / 0.582 | 0.464 / 0.475 |
| `GET /tasks/?limit=100` | 76 (0.02) / 54 (0.02) | 115 (0.05) / 239 (0.08) | 4.55 / 4.99 | 2.09 / 1.97 |
| `POST /tasks/` | 292 (0.07) / 196 (0.07) | 592 (0.26) / 704 (0.23) | 0.95 / 1.17 | 0.72 / 0.77 |

The application alone (ASGI calls in one process, no uvicorn or client sockets, Redis
on loopback): `/healthz` 0.08 → 0.025 ms of CPU, GET of one task 0.41 → 0.24 ms, a page
of 100 4.6 → 1.36 ms. What a GET of one task then spent beyond the empty endpoint was
mostly redis-py (its pool lock each way, a Task for each write's timeout, a timeout
context for each read: about 60% of the API's CPU for that request).

**Second step: one pipelined Redis connection per API process** for the hot commands
(GET of one task, the first page of a list, POST's creation script;
shared/store/pipelined.py: hiredis's parser, commands of one event-loop turn in one
write, replies matched in order; TLS, Unix sockets and Sentinel keep redis-py), and
waiting runs' statuses read and rewritten with orjson. `bench/run --quick --only api`,
the session's starting code and this one alternately, 2026-11-30 20:37-20:39 UTC,
1-minute load 1.3-2.8 on 2 CPUs:

| request | before: API CPU ms (× empty req/s) | after: API CPU ms (× empty req/s) |
|---|---|---|
| empty Starlette endpoint | 0.0437 / 0.0451 | 0.0420 / 0.0439 |
| `GET /healthz` | 0.0514 (0.87) / 0.052 (0.89) | 0.0485 (1.04) / 0.0487 (1.19) |
| `GET /tasks/{mesos_id}/` | 0.183 (0.27) / 0.174 (0.33) | 0.0913 (0.53) / 0.0889 (0.70) |
| `GET /tasks/?limit=100` | 0.894 / 0.852 | 0.594 / 0.567 |
| `POST /tasks/` | 0.257 / 0.268 | 0.148 / 0.143 |

**Third step: no access-log line per request** (2026-12-01). Each uvicorn worker's log
setup had turned uvicorn's access log, asked off, back on: at the default level, INFO,
every request printed a line; this module ran `hippo api` at WARNING then, where only
the line's arguments were built. Now off unless `HIPPO_API_ACCESS_LOG=true`.
`python -m bench.api --quick --setting HIPPO_API_ACCESS_LOG=true` (before) and
`python -m bench.api --quick` (after), twice each, alternated, 2026-12-01 11:50-11:55
UTC, 2 CPUs (Intel Xeon), speed probe 3.2-3.4 ms:

| request | before: req/s | after: req/s | before: API CPU ms | after: API CPU ms |
|---|---|---|---|---|
| `GET /healthz` | 9,732 / 10,154 | 20,809 / 20,036 | 0.102 / 0.098 | 0.048 / 0.050 |
| `GET /tasks/{mesos_id}/` | 7,676 / 7,618 | 12,452 / 12,547 | 0.129 / 0.131 | 0.079 / 0.079 |"""


def describe(name: str, found: dict[str, Any]) -> str:
    cpu = ", ".join(f"{who} {ms:.3f} ms" for who, ms in found["cpu_ms_per_request"].items())
    return (
        f"{name}: {found['req_s']:,.0f} req/s, p50 {found['p50_ms']:.1f} ms, "
        f"p99 {found['p99_ms']:.1f} ms, {found['requests']:,} requests, "
        f"{found['errors']} errors; CPU per request: {cpu}"
    )


def table(out: dict[str, Any]) -> str:
    """The Markdown table docs/benchmarks.md shows."""
    lines = [
        f"| request ({out['clients']} clients, {out['seconds']:g} s) | req/s | vs empty | "
        "vs empty by CPU | p50 ms | p99 ms | CPU ms/request (API / Redis) | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in out["requests"].items():
        cpu = r["cpu_ms_per_request"]
        cpu_text = " / ".join(f"{ms:.3f}" for ms in cpu.values())
        lines.append(
            f"| `{name}` | {r['req_s']:,.0f} | {r['vs_empty']:.0%} | {r['vs_empty_cpu']:.0%} | "
            f"{r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {cpu_text} | {r['errors']} |"
        )
    return "\n".join(lines)


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("HIPPO_"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected HIPPO_NAME=VALUE")
    return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 records, 3 s per request")
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--setting",
        action="append",
        type=_setting,
        default=[],
        metavar="NAME=VALUE",
        help="a HIPPO_* variable for `hippo api` (repeatable): HIPPO_API_ACCESS_LOG=true",
    )
    args = parser.parse_args()
    settings = dict(args.setting)
    found = run(
        args.quick,
        records=args.records,
        clients=args.clients,
        seconds=args.seconds,
        settings=settings,
    )
    m = found["machine"]
    print(f"machine: {m['cores']} cores, {m['cpu']}, Python {m['python']}")
    print(table(found))
    for name, goal in found["goals"].items():
        print(f"goal {name} >= {goal['vs_empty_at_least']:.0%} of empty: {goal['met']}")
    if args.json:
        args.json.write_text(json.dumps(found, indent=2) + "\n")


if __name__ == "__main__":
    main()
