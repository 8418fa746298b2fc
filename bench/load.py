"""Load: the API under 64 concurrent clients for 60 s while a worker polls a queue and
launches tasks (issue 15). No errors are expected; latencies and answers by status code
are recorded.

Starts its own redis-server, `hippo api` (one uvicorn worker), a dev master running tasks
virtually (`hippo devmaster --simulate`: each finishes after 50 ms) and a `hippo worker`,
which leads and launches. A queue takes items from a Redis list that this script feeds
throughout the run. 64 keep-alive clients (bench/loadgen.py, a separate process) send, in
turn: GET of one task, GET of a page of 100, POST of a task, GET /queues/.

    python -m bench.load [--quick] [--clients 64] [--seconds 60] [--json FILE]

`run(quick)` is bench/run's entry (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from bench import common
from bench.api import TASK, cpu_seconds, free_port, machine, seed, start_api, start_redis, wait_for
from bench.loadgen import Result, http_request, run_load

ORDER = 45

KINDS = ["GET /tasks/{mesos_id}/", "GET /tasks/?limit=100", "POST /tasks/", "GET /queues/"]
ITEMS = "bench-items"  # the Redis list the queue takes items from
ITEMS_PER_S = 50  # fed into that list while the clients run
SIMULATE_S = 0.05  # how long each task runs on the dev master
# The clients read runs of one task id ("bench") while more of its runs finish: at the
# default retention (100 finished runs per id) the oldest would be deleted under them
# and read as 404s, which are retention at work, not errors of the API under load.
RETENTION = {"HIPPO_TASK_RETENTION_PER_ID": "1000000"}


def start_devmaster() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hippo", "devmaster", "--port", str(port), "--agents", "4"]
        + ["--cpus", "64", "--mem", "262144", "--simulate", str(SIMULATE_S)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/state").status_code == 200, "devmaster")
    return process, port


def start_worker(redis_port: int, master_port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hippo", "worker", "--metrics-port", str(free_port())],
        env={
            **os.environ,
            "HIPPO_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "HIPPO_MESOS_MASTER": f"http://127.0.0.1:{master_port}",
            **common.HIPPO_LOG_ENV,
            **RETENTION,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextmanager
def cluster() -> Iterator[dict[str, Any]]:
    """Redis, the API, a dev master and a worker that leads, subscribed to the master."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        redis_proc, redis_port = start_redis()
        started.append(redis_proc)
        api_proc, api_port = start_api(redis_port, **RETENTION)
        started.append(api_proc)
        master_proc, master_port = start_devmaster()
        started.append(master_proc)
        worker_proc = start_worker(redis_port, master_port)
        started.append(worker_proc)
        status = f"http://127.0.0.1:{api_port}/status/"
        wait_for(lambda: httpx.get(status).json()["subscribed_since"], "a subscribed leader", 60)
        yield {
            "redis_port": redis_port,
            "api_port": api_port,
            "pids": {
                "api": api_proc.pid,
                "redis": redis_proc.pid,
                "worker": worker_proc.pid,
                "devmaster": master_proc.pid,
            },
        }
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(15)


def _load(port: int, requests: list[bytes], clients: int, seconds: float, queue) -> None:  # type: ignore[no-untyped-def]
    queue.put(run_load("127.0.0.1", port, requests, clients, seconds, kinds=KINDS))


def feed(client: redis.Redis, stop: threading.Event) -> int:
    """Push ITEMS_PER_S items a second into the queue's list until `stop`; returns how
    many."""
    pushed = 0
    while not stop.wait(0.1):
        batch = [f"item-{pushed + i}" for i in range(ITEMS_PER_S // 10)]
        client.lpush(ITEMS, *batch)
        pushed += len(batch)
    return pushed


def run(
    quick: bool = False,
    *,
    clients: int = 64,
    seconds: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The load run; `quick` loads for 10 s instead of 60."""
    seconds = seconds if seconds is not None else (10.0 if quick else 60.0)
    with cluster() as c:
        api = f"http://127.0.0.1:{c['api_port']}"
        queue = {
            **TASK,
            "id": "fed",
            "queue": {
                "type": "redis",
                "frequency_seconds": 1,
                "redis": {"host": "127.0.0.1", "port": c["redis_port"], "name": ITEMS},
            },
        }
        assert httpx.post(f"{api}/queues/", json=queue).status_code == 201
        client = redis.Redis(port=c["redis_port"])
        ids = seed(client, 10_000)
        body = json.dumps(TASK).encode()
        requests = []
        for mesos_id in ids[-250:]:
            requests += [
                http_request("GET", f"/tasks/{mesos_id}/"),
                http_request("GET", "/tasks/?limit=100"),
                http_request("POST", "/tasks/", body, {"Content-Type": "application/json"}),
                http_request("GET", "/queues/"),
            ]
        load_before = os.getloadavg()[0]
        log(f"load: {load_before:.2f}; {clients} clients for {seconds:g} s")
        cpu_before = {who: cpu_seconds(pid) for who, pid in c["pids"].items()}
        stop = threading.Event()
        pushed: list[int] = []
        feeder = threading.Thread(target=lambda: pushed.append(feed(client, stop)))
        feeder.start()
        results: multiprocessing.Queue[Result] = multiprocessing.Queue()
        loader = multiprocessing.Process(
            target=_load, args=(c["api_port"], requests, clients, seconds, results)
        )
        loader.start()
        result = results.get()
        loader.join()
        stop.set()
        feeder.join()
        cpu = {who: cpu_seconds(pid) - cpu_before[who] for who, pid in c["pids"].items()}
        facts = httpx.get(f"{api}/queues/fed/").json()
        launched = int(client.zcard("hippo:tasks:state:TASK_FINISHED"))
        client.close()
    out: dict[str, Any] = {
        "machine": machine(),
        "clients": clients,
        "seconds": seconds,
        "load_average_before": load_before,
        "req_s": round(result.rate, 1),
        "p50_ms": round(result.percentile(0.5), 2),
        "p99_ms": round(result.percentile(0.99), 2),
        "requests": result.requests,
        "errors": result.errors,
        "connection_errors": result.connection_errors,
        "statuses": {str(code): n for code, n in sorted(result.statuses.items())},
        "by_request": {
            kind: {
                "requests": len(result.kind_latencies_ms.get(kind, [])),
                "p50_ms": round(result.percentile(0.5, kind), 2),
                "p99_ms": round(result.percentile(0.99, kind), 2),
                "statuses": {str(k): n for k, n in sorted(result.kind_statuses[kind].items())},
            }
            for kind in KINDS
            if kind in result.kind_latencies_ms
        },
        "items_pushed": pushed[0] if pushed else 0,
        "items_taken": facts.get("queue", {}).get("items_taken"),
        "tasks_finished": launched,
        "cpu_s": {who: round(s, 2) for who, s in cpu.items()},
        "percentiles_ms": {
            kind: [[p, round(result.percentile(p / 100, kind), 2)] for p in PERCENTILES]
            for kind in result.kind_latencies_ms
        },
    }
    out["title"] = f"API under load ({clients} clients, a worker launching)"
    out["measures"] = measures(out)
    out["charts"] = [
        {
            "file": "bench-api-load-latency.png",
            "title": f"Latency under load: {clients} clients, a worker polling and launching",
            "x_label": "percentile",
            "y_label": "ms",
            "y_log": True,
            "series": [
                {"label": kind, "points": points} for kind, points in out["percentiles_ms"].items()
            ],
        }
    ]
    out["notes"] = notes(out)
    log(describe(out))
    return out


PERCENTILES = [50, 75, 90, 95, 99, 99.9]


def measures(out: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [
        common.measure(
            "errors (non-2xx answers and lost connections)",
            out["errors"],
            "",
            goal="0",
            better="lower",
        ),
        common.measure("all requests: rate", out["req_s"], "req/s"),
        common.measure("all requests: p50 latency", out["p50_ms"], "ms", better="lower"),
        common.measure("all requests: p99 latency", out["p99_ms"], "ms", better="lower"),
    ]
    for kind, r in out["by_request"].items():
        rows.append(common.measure(f"`{kind}` p50 latency", r["p50_ms"], "ms", better="lower"))
        rows.append(common.measure(f"`{kind}` p99 latency", r["p99_ms"], "ms", better="lower"))
    return rows


def notes(out: dict[str, Any]) -> str:
    cpu = ", ".join(f"{who} {s:g} s" for who, s in out["cpu_s"].items())
    return (
        f"`python -m bench.load`: its own redis-server, `hippo api` (one uvicorn worker), a "
        f"dev master running each task virtually for {SIMULATE_S * 1000:g} ms (`--simulate`) "
        f"and a `hippo worker` that leads; a queue takes items from a Redis list fed "
        f"{ITEMS_PER_S} items/s. {out['clients']} keep-alive clients send in turn GET of "
        f"one task, GET of a page of 100, POST of a task and GET /queues/ for "
        f"{out['seconds']:g} s. Answers by status: {out['statuses']}; "
        f"{out['connection_errors']} connection errors. Queue: {out['items_pushed']:,} items "
        f"pushed, {out['items_taken']} taken; {out['tasks_finished']:,} tasks finished. CPU "
        f"spent meanwhile: {cpu}. No physical reference: this run checks for errors and "
        "records latencies; bench/api.py compares the API with an empty endpoint."
    )


def describe(out: dict[str, Any]) -> str:
    lines = [
        f"{out['clients']} clients, {out['seconds']:g} s: {out['req_s']:,.0f} req/s, "
        f"p50 {out['p50_ms']:.1f} ms, p99 {out['p99_ms']:.1f} ms, {out['requests']:,} "
        f"requests, {out['errors']} errors ({out['connection_errors']} connection errors), "
        f"statuses {out['statuses']}",
        f"queue: {out['items_pushed']:,} items pushed, {out['items_taken']} taken; "
        f"{out['tasks_finished']:,} tasks finished; CPU s: {out['cpu_s']}",
    ]
    for kind, r in out["by_request"].items():
        lines.append(
            f"  {kind}: {r['requests']:,} requests, p50 {r['p50_ms']:.1f} ms, "
            f"p99 {r['p99_ms']:.1f} ms, statuses {r['statuses']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s instead of 60")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    found = run(args.quick, clients=args.clients, seconds=args.seconds)
    if args.json:
        args.json.write_text(json.dumps(found, indent=2) + "\n")


if __name__ == "__main__":
    main()
