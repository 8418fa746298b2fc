"""What every benchmark module shares: free ports, a private redis-server, CPU time and
load average from /proc, a condition wait, and the shape of a measure (bench/README.md)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import redis

from hippo.shared.settings import settings_table

T = TypeVar("T")

# The log settings of every Hippo process a benchmark starts: the defaults, as in
# production, so that what the code logs per request or per task is a cost the figures
# show (they were once measured at WARNING, which hid an access-log line per request).
HIPPO_LOG_ENV = {
    name: default
    for name, default, _ in settings_table()
    if name in ("HIPPO_LOG_LEVEL", "HIPPO_LOG_FORMAT", "HIPPO_API_ACCESS_LOG")
}

# Each step a benchmark times, with the load average when it ended; bench/run takes
# them after each module's run() (see bench/README.md).
STEPS: list[dict[str, Any]] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, in seconds (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> list[float]:
    """The 1, 5 and 15-minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def speed_probe_ms() -> float:
    """Milliseconds one core takes for a fixed pure-Python loop now, the best of 3 (about
    10 ms in all): lower is faster. The load average misses what slows a core without
    running on this machine's scheduler (a shared host, a busy sibling hyperthread): on
    the 2-core machine of docs/benchmarks.md a loop of this kind, 100 times longer, took
    from 0.67 to 1.25 s within a minute with the load average near 0. The probe shows
    it, and with it at which speed the figures were measured; taken inside a step, it
    is slowed by the benchmark's own processes too (a worker starting up)."""
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        total = 0
        for n in range(100_000):
            total += n
        best = min(best, time.perf_counter() - began)
    return round(best * 1000, 2)


@contextmanager
def step(name: str) -> Iterator[None]:
    """Record a step's wall time, and the load average and speed probe before and after."""
    before, speed, began = loadavg(), speed_probe_ms(), time.perf_counter()
    try:
        yield
    finally:
        seconds = round(time.perf_counter() - began, 3)
        STEPS.append(
            {
                "step": name,
                "seconds": seconds,
                "loadavg_before": before,
                "loadavg_after": loadavg(),
                "speed_probe_ms_before": speed,
                "speed_probe_ms_after": speed_probe_ms(),
            }
        )


def wait_until(cond: Callable[[], T], timeout_s: float, poll_s: float = 0.01) -> T:
    """Poll `cond` until it returns something true; TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = cond()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s")
        time.sleep(poll_s)


def measure(
    name: str,
    value: float | None,
    unit: str,
    *,
    reference: float | None = None,
    reference_name: str = "",
    goal: str = "",
    better: str = "higher",
) -> dict[str, Any]:
    """One row of the report: a Hippo figure, its physical reference and the goal.
    `better` is "higher" or "lower": how to read the ratio value / reference."""
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "reference": reference,
        "reference_name": reference_name,
        "goal": goal,
        "better": better,
    }


class RedisServer:
    """A private redis-server on a free port, without persistence; stop() removes it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="hippo-bench-")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(port=self.port)
        wait_until(self._pings, 10, 0.02)

    def _pings(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.ConnectionError:
            return False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def commands(self) -> dict[str, int]:
        """Calls per command so far (INFO commandstats), e.g. {"evalsha": 12, ...}."""
        stats = self.client.info("commandstats")
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_version() -> str:
    out = subprocess.check_output(["redis-server", "--version"]).decode()
    return next((w.split("=", 1)[1] for w in out.split() if w.startswith("v=")), out.strip())
