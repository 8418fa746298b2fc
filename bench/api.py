"""API benchmark: GET /tasks/?limit=100 with 100,000 task records stored, and POST /tasks/.

Starts its own redis-server and `hippo api` (one uvicorn worker, uvloop + httptools)
on free ports, seeds the records, then drives 32 keep-alive clients from a separate
process.

    python bench/api.py [--records 100000] [--clients 32] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import Result, http_request, run_load

from hippo.shared.model import parse_task
from hippo.shared.records import new_task_status
from hippo.shared.store import task_scripts

TASK = {
    "id": "bench",
    "container": {"docker": {"image": "alpine"}},
    "mem": 32,
    "cpus": 0.1,
    "cmd": "echo hello",
    "env": {"A": "1"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check, what: str, timeout_s: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{what} did not come up")


def seed(client: redis.Redis, count: int) -> None:
    """Store `count` task records through the store's own creation script, in batches."""
    definition = parse_task(TASK)
    spec = definition.model_dump_json(exclude={"id"}, exclude_none=True)
    create = client.register_script(task_scripts.CREATE_TASKS)
    now = time.time()
    for start in range(0, count, 1000):
        args: list[object] = ["hippo:", "", 60]
        for _ in range(min(1000, count - start)):
            mesos_id = f"bench.{uuid.uuid4()}"
            status = json.dumps(new_task_status(definition, "bench", mesos_id, now))
            args += [mesos_id, "bench", "", spec, status]
        create(args=args)


def _load(port: int, request: bytes, clients: int, seconds: float, queue) -> None:  # type: ignore[no-untyped-def]
    queue.put(run_load("127.0.0.1", port, request, clients, seconds))


def measure(
    port: int, request: bytes, clients: int, seconds: float, pids: dict[str, int]
) -> tuple[Result, dict[str, float]]:
    """Load results, and the CPU seconds each watched process spent meanwhile."""
    before = {who: cpu_seconds(pid) for who, pid in pids.items()}
    queue: multiprocessing.Queue[Result] = multiprocessing.Queue()
    process = multiprocessing.Process(target=_load, args=(port, request, clients, seconds, queue))
    process.start()
    result = queue.get()
    process.join()
    return result, {who: cpu_seconds(pid) - before[who] for who, pid in pids.items()}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (from /proc; Linux only)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(name: str, result: Result, cpu: dict[str, float]) -> None:
    per_request = ", ".join(
        f"{who} {seconds / result.requests * 1000:.2f} ms" for who, seconds in cpu.items()
    )
    print(
        f"{name}: {result.rate:,.0f} req/s, p50 {result.percentile(0.5):.1f} ms, "
        f"p99 {result.percentile(0.99):.1f} ms, {result.requests:,} requests, "
        f"{result.errors} errors; CPU per request: {per_request}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="hippo-bench-")
    redis_port, api_port = free_port(), free_port()
    redis_proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=redis_port)
    wait_for(client.ping, "redis-server")
    env = {
        **os.environ,
        "HIPPO_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "HIPPO_LOG_LEVEL": "WARNING",
    }
    api_proc = subprocess.Popen(
        [sys.executable, "-m", "hippo", "api", "--port", str(api_port), "--workers", "1"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.perf_counter()
        seed(client, args.records)
        print(f"seeded {args.records:,} task records in {time.perf_counter() - started:.1f} s")
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{api_port}/readyz").status_code == 200, "hippo api"
        )
        cpu = platform.processor() or platform.machine()
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu,
        )
        print(f"machine: {os.cpu_count()} cores, {model}, Python {platform.python_version()}")
        print(f"{args.clients} clients, {args.seconds:.0f} s each, one uvicorn worker")

        get = http_request("GET", "/tasks/?limit=100")
        body = json.dumps(TASK).encode()
        post = http_request("POST", "/tasks/", body, {"Content-Type": "application/json"})
        pids = {"api": api_proc.pid, "redis": redis_proc.pid}
        print(f"load: {os.getloadavg()[0]:.2f} (1-minute average before the runs)")
        measure(api_port, get, args.clients, 2, pids)  # warm up
        for name, request in [
            ("GET /tasks/?limit=100", get),
            ("POST /tasks/", post),
            ("GET /tasks/?limit=100 (after the POSTs)", get),
        ]:
            report(name, *measure(api_port, request, args.clients, args.seconds, pids))
    finally:
        api_proc.terminate()
        api_proc.wait(10)
        redis_proc.terminate()
        redis_proc.wait(10)


if __name__ == "__main__":
    main()
