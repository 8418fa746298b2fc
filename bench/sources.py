"""Benchmark of queue polling: Redis-list items turned into stored tasks per second, and
the CPU a worker spends on idle queues.

Starts its own redis-server on a free port and real worker processes
(`python -m hippo.worker.polling`, polling only). Run: `python bench/sources.py`
(`--quick` for smaller numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import redis

from hippo.shared.model import parse_queue
from hippo.shared.queues import seal_queue
from hippo.shared.secrets import SecretBox
from hippo.shared.settings import Settings
from hippo.shared.sources import load_sources
from hippo.shared.store import Store, connect
from hippo.shared.store.keys import Keys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="hippo-bench-")
        self.server = subprocess.Popen(
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
        self.redis = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.redis.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.workers: list[subprocess.Popen[bytes]] = []

    def close(self) -> None:
        self.stop_workers()
        self.server.terminate()
        self.server.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def start_workers(self, count: int, **env: str) -> None:
        for _ in range(count):
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "hippo.worker.polling"],
                    env={
                        **os.environ,
                        "HIPPO_REDIS_URL": self.url,
                        "HIPPO_LOG_LEVEL": "WARNING",
                        **env,
                    },
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.workers = []

    def create_queues(self, bodies: list[dict[str, Any]]) -> None:
        settings = Settings.from_env({"HIPPO_REDIS_URL": self.url})
        sources = load_sources()
        box = SecretBox(settings.cipher_keys)

        async def create() -> None:
            client = connect(self.url)
            store = Store(client, Keys(settings.redis_prefix))
            for body in bodies:
                definition, source_settings = parse_queue(body, sources)
                spec, status = seal_queue(
                    definition, source_settings, sources[definition.queue.type], box
                )
                await store.create_queue(body["id"], spec, status, now=time.time())
            await client.aclose()

        asyncio.run(create())

    def queue_body(self, queue_id: str, list_name: str, frequency_s: float) -> dict[str, Any]:
        return {
            "id": queue_id,
            "container": {"docker": {"image": "busybox"}},
            "mem": 32,
            "cpus": 0.1,
            "cmd": "echo $HIPPO_DATA",
            "queue": {
                "type": "redis",
                "max_concurrent": 10_000_000,
                "batch_size": 1,
                "frequency_seconds": frequency_s,
                "redis": {"host": "127.0.0.1", "port": self.port, "db": 1, "name": list_name},
            },
        }

    def stored(self, queue_ids: list[str]) -> int:
        pipe = self.redis.pipeline()
        for queue_id in queue_ids:
            pipe.zcard(f"hippo:tasks:queue:{queue_id}")
        return sum(pipe.execute())


def throughput(queues: int, items_per_queue: int, workers: int) -> float:
    """Items/s turned into stored tasks, from the first stored task to the last."""
    bench = Bench()
    try:
        source = redis.Redis(port=bench.port, db=1)
        ids = [f"bench-{n}" for n in range(queues)]
        for n in range(queues):
            for start in range(0, items_per_queue, 10_000):
                source.lpush(
                    f"list-{n}",
                    *[f"item-{i}" for i in range(start, min(start + 10_000, items_per_queue))],
                )
        bench.create_queues([bench.queue_body(i, f"list-{n}", 1.0) for n, i in enumerate(ids)])
        total = queues * items_per_queue
        bench.start_workers(workers)
        first = 0
        while (first := bench.stored(ids)) == 0:
            time.sleep(0.005)
        started = time.monotonic()
        deadline = started + 300
        while (done := bench.stored(ids)) < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {total} stored after 300 s")
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        return (total - first) / elapsed
    finally:
        bench.close()


def idle_cpu(queues: int, frequency_s: float, window_s: float) -> tuple[float, float, int]:
    """(worker CPU % of one core, redis-server CPU %, queues polled in the window)."""
    bench = Bench()
    try:
        ids = [f"idle-{n}" for n in range(queues)]
        bench.create_queues(
            [bench.queue_body(i, f"empty-{n}", frequency_s) for n, i in enumerate(ids)]
        )
        bench.start_workers(1)
        worker = bench.workers[0]
        time.sleep(frequency_s + 3)  # warm-up: every queue polled once
        polls_before = _last_runs(bench, ids)
        cpu_before, redis_before = cpu_seconds(worker.pid), cpu_seconds(bench.server.pid)
        time.sleep(window_s)
        cpu = cpu_seconds(worker.pid) - cpu_before
        redis_cpu = cpu_seconds(bench.server.pid) - redis_before
        polls = sum(a != b for a, b in zip(polls_before, _last_runs(bench, ids), strict=True))
        return 100 * cpu / window_s, 100 * redis_cpu / window_s, polls
    finally:
        bench.close()


def _last_runs(bench: Bench, ids: list[str]) -> list[bytes | None]:
    pipe = bench.redis.pipeline()
    for queue_id in ids:
        pipe.hget(f"hippo:queue:{queue_id}", "last_run_tstamp")
    return pipe.execute()  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    args = parser.parse_args()
    one_list = 20_000 if args.quick else 100_000
    per_queue = 5_000 if args.quick else 25_000
    window_s = 10.0 if args.quick else 30.0
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"machine: {os.cpu_count()} cores (nproc), {cpu_model}, Python "
        f"{platform.python_version()}, {subprocess.check_output(['redis-server', '--version']).decode().split()[2]}"
    )
    rate = throughput(1, one_list, 1)
    print(f"one Redis list, batch_size 1, 1 worker: {one_list} items, {rate:,.0f} items/s")
    for workers in (1, 2, 4):
        rate = throughput(8, per_queue, workers)
        print(
            f"8 Redis-list queues x {per_queue} items, {workers} worker(s): "
            f"{rate:,.0f} items/s in total"
        )
    worker_cpu, redis_cpu, polls = idle_cpu(1000, 10.0, window_s)
    print(
        f"1,000 idle Redis-list queues polled every 10 s, 1 worker, {window_s:.0f} s window: "
        f"worker {worker_cpu:.1f}% of one core ({worker_cpu * 10:.2f} ms CPU/s per 1,000 "
        f"queues), redis-server {redis_cpu:.1f}%, {polls} queues polled in the window"
    )


if __name__ == "__main__":
    main()
