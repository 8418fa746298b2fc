"""The processes a scheduler benchmark runs: a private redis-server, `hippo devmaster
--simulate` and `python -m hippo worker` processes, all on free ports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.common import HIPPO_LOG_ENV, RedisServer, free_port, wait_until
from hippo.shared.model import QueueDefinition
from hippo.shared.records import TASK_RECORD_TEMPLATE
from hippo.shared.store import queue_scripts, task_scripts
from hippo.shared.store.keys import Keys
from hippo.worker.polling_tasks import TaskTemplate

PREFIX = "hippo:"
KEYS = Keys(PREFIX)


@dataclass(frozen=True)
class Cluster:
    """A simulated Mesos cluster: `hippo devmaster --simulate` flags."""

    name: str
    agents: int
    cpus: float
    mem_mb: float
    task_s: float  # how long each simulated task runs
    batch_allocation: bool  # re-offer recovered resources only every allocation interval
    task_cpus: float
    task_mem_mb: float

    def flags(self) -> list[str]:
        flags = [
            "--agents",
            str(self.agents),
            "--cpus",
            str(self.cpus),
            "--mem",
            str(self.mem_mb),
            "--simulate",
            str(self.task_s),
        ]
        return flags + (["--batch-allocation"] if self.batch_allocation else [])

    def spec(self) -> str:
        return json.dumps(
            {
                "container": {"docker": {"image": "alpine"}},
                "cpus": self.task_cpus,
                "mem": self.task_mem_mb,
                "cmd": "true",
                "task_retries": 0,
                "system_retries": 2,
                "max_concurrent": 1,
            }
        )

    def queue(self) -> dict[str, object]:
        """A queue's definition as a user posts it, without its source's settings (its
        runs' definitions never hold them): its runs take this cluster's task size, and
        its max_concurrent never holds a burst back."""
        return {
            "id": QUEUE_ID,
            "container": {"docker": {"image": "alpine"}},
            "cpus": self.task_cpus,
            "mem": self.task_mem_mb,
            "cmd": 'process "$HIPPO_DATA"',
            "env": {"ITEM": "$HIPPO_DATA"},
            "task_retries": 0,
            "system_retries": 2,
            "queue": {"type": "redis", "max_concurrent": 10_000_000},
        }


# The old benchmark's cluster: offers re-issued at once, resources never short.
GENEROUS = Cluster("generous", 10, 100_000, 100_000_000, 3600, False, 0.01, 1)
# Like a real one: 100 agents of 16 cpus, offers of recovered resources every 1 s
# (Mesos' --allocation_interval), tasks that end after 3 s.
REALISTIC = Cluster("realistic", 100, 16, 65_536, 3, True, 0.1, 64)


class Services:
    """Redis, a dev master and workers; close() stops them all."""

    def __init__(self) -> None:
        self.redis = RedisServer()
        self.url = self.redis.url
        self.r: redis.Redis = self.redis.client
        self.tmp = Path(tempfile.mkdtemp(prefix="hippo-bench-"))
        self.devmaster: subprocess.Popen[bytes] | None = None
        self.master = ""
        self.workers: list[tuple[subprocess.Popen[bytes], int]] = []
        self.started = 0  # workers started so far: each its own log file

    def start_devmaster(self, cluster: Cluster) -> int:
        self.stop_devmaster()
        port = free_port()
        self.devmaster = subprocess.Popen(
            [sys.executable, "-m", "hippo", "devmaster", "--port", str(port)]
            + cluster.flags()
            + ["--update-retry", "60", "--log-level", "warning"],
            stdout=subprocess.DEVNULL,
        )
        self.master = f"127.0.0.1:{port}"
        wait_until(lambda: answers(f"http://{self.master}/state"), 15, 0.05)
        return self.devmaster.pid

    def stop_devmaster(self) -> None:
        if self.devmaster is not None:
            self.devmaster.terminate()
            self.devmaster.wait(15)
            self.devmaster = None

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "HIPPO_REDIS_URL": self.url,
            "HIPPO_MESOS_MASTER": self.master,
            **HIPPO_LOG_ENV,
            **extra,
        }

    def start_worker(self, *command: str, **extra: str) -> tuple[subprocess.Popen[bytes], int]:
        """`python -m hippo worker` (or `command`) with a metrics port; waits for /metrics."""
        port = free_port()
        log = (self.tmp / f"worker{self.started}.log").open("wb")
        self.started += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", *(command or ("hippo", "worker"))]
            + ["--metrics-port", str(port)],
            env=self.env(**extra),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.workers.append((proc, port))
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/metrics"), 20, 0.05)
        return proc, port

    def stop_workers(self) -> None:
        for proc, _ in self.workers:
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.workers:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers.clear()

    def close(self) -> None:
        self.stop_workers()
        self.stop_devmaster()
        self.redis.stop()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


# What the creation script takes per run: mesos_id, task id, queue id ('' for none), spec
# JSON, status JSON (task_scripts.CREATE_TASKS).
Created = tuple[str, str, str, str | bytes, str | bytes]


def _seed(r: redis.Redis, count: int, batch: Callable[[range, float], Iterable[Created]]) -> None:
    """`count` waiting runs through the store's own creation script, 5,000 a pipeline;
    `batch(numbers, now)` gives the runs numbered `numbers`, created at `now`."""
    script = r.register_script(task_scripts.CREATE_TASKS)
    for start in range(0, count, 5000):
        pipe = r.pipeline(transaction=False)
        for created in batch(range(start, min(count, start + 5000)), time.time()):
            script(args=[PREFIX, "", 60, *created], client=pipe)
        pipe.execute()


def seed_waiting(r: redis.Redis, count: int, spec: str, tag: str = "job") -> None:
    """`count` waiting one-off tasks of one definition, each its own task id."""

    def batch(numbers: range, now: float) -> Iterator[Created]:
        for n in numbers:
            task_id = f"{tag}{n}"
            mid = f"{task_id}.{uuid.uuid4()}"
            status = {
                **TASK_RECORD_TEMPLATE,
                "id": task_id,
                "mesos_id": mid,
                "system_retries_left": 2,
                "created_tstamp": now,
                "updated_tstamp": now,
            }
            yield mid, task_id, "", spec, json.dumps(status)

    _seed(r, count, batch)


QUEUE_ID = "bench-queue"


def seed_queue_waiting(r: redis.Redis, count: int, cluster: Cluster) -> None:
    """`count` waiting runs of one queue, each with its own item (HIPPO_DATA), as its
    poller makes them (worker/polling_tasks.TaskTemplate) and stores them (the creation
    script's indexing): one task id, the queue's, for all, and a definition per run.
    The queue is stored DISABLED, so that no worker polls it meanwhile (its waiting
    runs still launch)."""
    definition = QueueDefinition.model_validate(cluster.queue())
    spec = definition.model_dump(mode="json", exclude={"id"}, exclude_none=True)
    r.register_script(queue_scripts.CREATE_QUEUE)(
        args=[PREFIX, QUEUE_ID, json.dumps(spec), "DISABLED", time.time()]
    )
    template = TaskTemplate(QUEUE_ID, spec)

    def batch(numbers: range, now: float) -> Iterator[Created]:
        items = [
            json.dumps({"bucket": "bench", "key": f"items/{n:08d}.json", "size": 1000 + n})
            for n in numbers
        ]
        for task in template.new_tasks(items, now):
            yield task.mesos_id, task.task_id, QUEUE_ID, task.spec, task.status

    _seed(r, count, batch)


def seed_burst(r: redis.Redis, count: int, cluster: Cluster, queue: bool = False) -> None:
    """`count` waiting runs: one-off tasks of one definition (seed_waiting), or a queue's
    runs, each with its own item (seed_queue_waiting)."""
    if queue:
        seed_queue_waiting(r, count, cluster)
    else:
        seed_waiting(r, count, cluster.spec())


SEED_FINISHED = """
local p, first, last, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
for n = first, last do
  local id = 'old' .. n
  local mid = id .. '.x'
  redis.call('HSET', p .. 'task:' .. mid, 'spec', ARGV[5], 'status',
             '{"id":"' .. id .. '","mesos_id":"' .. mid .. '","mesos_state":"TASK_FINISHED"}',
             'seq', n)
  redis.call('ZADD', p .. 'tasks:all', n, mid)
  redis.call('ZADD', p .. 'tasks:state:TASK_FINISHED', n, mid)
  redis.call('ZADD', p .. 'tasks:id:' .. id, n, mid)
  redis.call('ZADD', p .. 'tasks:finished', now, mid)
  redis.call('ZADD', p .. 'tasks:finished:id:' .. id, now, mid)
end
return last - first + 1
"""


def seed_finished(r: redis.Redis, count: int, spec: str) -> None:
    """`count` finished task records with every index a finished run has, 20,000 a call."""
    script = r.register_script(SEED_FINISHED)
    for first in range(1, count + 1, 20000):
        script(args=[PREFIX, first, min(count, first + 19999), time.time(), spec])
