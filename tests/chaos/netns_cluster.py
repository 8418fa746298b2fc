"""A Hippo cluster whose workers each run in a network namespace of their own (netns.py):
our redis-server and a dev master listen on service addresses of the host, each worker
reaches Redis through one link, the master through another, and the queues' source (the
same redis-server, by another address) through a third, and a test cuts any of them.

The test process itself (API client, load, checker) talks to the same Redis and master
from the host, so it is never partitioned.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from hippo.devmaster.config import MasterConfig
from hippo.devmaster.server import DevMaster
from tests.conftest import free_port, need_service, stop_process, wait_until

from .checker import Sample
from .harness import LIVE
from .netns import Link, NetLab, ip_available

ROOT = Path(__file__).parent.parent.parent

# Short timings so a partition is noticed and healed within a test: the lock expires in
# 2 s, a queue lease in 2 s, the master's heartbeat is 0.5 s (a dead stream in 2.5 s).
WORKER_ENV = {
    "HIPPO_LOCK_EXPIRE_S": "2",
    "HIPPO_QUEUE_LEASE_S": "2",
    "HIPPO_STAGING_TIMEOUT_S": "5",
    "HIPPO_OFFER_HOLD_S": "1",
    "HIPPO_DECLINE_REFUSE_S": "1",
    "HIPPO_POLL_IDLE_S": "0.1",
    "HIPPO_LOG_LEVEL": "INFO",
}
HEARTBEAT_S = 0.5


@dataclass
class NetWorker:
    """A `hippo worker` process inside namespace `ns`, with its links to Redis and master."""

    name: str
    ns: str
    redis_link: Link
    master_link: Link
    source_link: Link  # to the Redis lists the queues read (the same redis-server)
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def leads(self, epoch: int) -> bool:
        return f"leads now (epoch {epoch}, pid {self.process.pid})" in self.log

    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class NetCluster:
    lab: NetLab
    redis_addr: str
    source_addr: str  # the same redis-server as the queues' source, through its own links
    redis_port: int
    devmaster: DevMaster
    tmp: Path
    redis_process: subprocess.Popen[bytes] | None = None
    workers: list[NetWorker] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        """Redis as the workers (and the test) reach it."""
        return f"redis://{self.redis_addr}:{self.redis_port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.redis_addr, port=self.redis_port)

    def start_worker(self, **env: str) -> NetWorker:
        name = f"w{len(self.workers)}"
        ns = self.lab.namespace(name)
        redis_link = self.lab.link(ns, f"{name}r", [self.redis_addr])
        master_link = self.lab.link(ns, f"{name}m", [self.devmaster.host])
        source_link = self.lab.link(ns, f"{name}s", [self.source_addr])
        log_path = self.tmp / f"{name}.log"
        full = {
            **os.environ,
            **WORKER_ENV,
            "HIPPO_REDIS_URL": self.redis_url,
            "HIPPO_MESOS_MASTER": self.devmaster.url,
            "PYTHONPATH": str(ROOT),
            **env,
        }
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                self.lab.exec_argv(ns, [sys.executable, "-m", "hippo", "worker"]),
                env=full,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = NetWorker(name, ns, redis_link, master_link, source_link, log_path, process)
        self.workers.append(worker)
        return worker

    def epoch(self) -> int:
        with contextlib.closing(self.client()) as r:
            raw = r.get("hippo:leader:epoch")
        return int(raw) if raw else 0

    def leader(self, timeout_s: float = 20, after_epoch: int = 0) -> NetWorker:
        """The worker leading at an epoch above `after_epoch`, waiting for one."""

        def find() -> NetWorker | None:
            epoch = self.epoch()
            if epoch <= after_epoch:
                return None
            return next((w for w in self.workers if w.alive() and w.leads(epoch)), None)

        found = wait_until(find, timeout_s, "a leader")
        assert isinstance(found, NetWorker)
        return found

    def close(self) -> None:
        for worker in self.workers:
            stop_process(worker.process, timeout_s=5)
        self.devmaster.stop()
        if self.redis_process is not None:
            stop_process(self.redis_process, timeout_s=5)
        self.lab.close()


@contextlib.contextmanager
def net_cluster(tmp: Path, **master: Any) -> Iterator[NetCluster]:
    """A NetCluster with no workers yet; everything it made is removed on exit."""
    reason = ip_available()
    if reason is not None:
        need_service(reason)
    if not shutil.which("redis-server"):
        need_service("redis-server is not installed (apt-get install redis-server)")
    lab = NetLab()
    cluster: NetCluster | None = None
    try:
        redis_addr = lab.service_address()
        master_addr = lab.service_address()
        source_addr = lab.service_address()
        port = free_port()
        redis_process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", redis_addr, source_addr, "--save", "",
             "--appendonly", "no", "--protected-mode", "no", "--dir", str(tmp)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        options: dict[str, Any] = {
            "agents": 2,
            "cpus": 8.0,
            "update_retry_s": 1.0,
            "heartbeat_interval_s": HEARTBEAT_S,
            "remove_work_dir_on_stop": True,
            **master,
        }
        dev = DevMaster(MasterConfig(**options), host=master_addr).start()
        cluster = NetCluster(lab, redis_addr, source_addr, port, dev, tmp, redis_process)
        probe = cluster.client()
        try:
            wait_until(lambda: _pings(probe), what=f"redis-server on {redis_addr}:{port}")
        finally:
            probe.close()
        yield cluster
    finally:
        if cluster is not None:
            cluster.close()
        else:
            lab.close()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


class Sampler:
    """Samples, on a thread, how many tasks of each queue the dev master runs at once
    (staging, starting, running, killing): the checker's `Sample`s."""

    def __init__(self, devmaster: DevMaster, caps: dict[str, int], every_s: float = 0.05) -> None:
        self.devmaster = devmaster
        self.caps = caps
        self.every_s = every_s
        self.samples: list[Sample] = []
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="concurrency-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            # A task ended but not yet acknowledged is still listed, in its end state.
            tasks = self.devmaster.state()["tasks"]
            live = [t["id"] for t in tasks if t["state"] in LIVE]
            at_s = time.monotonic() - self._started
            for queue_id, cap in self.caps.items():
                count = sum(1 for mid in live if mid.startswith(queue_id + "."))
                self.samples.append(Sample(at_s, queue_id, count, cap))


def queue_runs(r: redis.Redis, queue_id: str) -> list[dict[str, Any]]:
    """Every run a queue made: {mesos_id, item (HIPPO_DATA), state, created (unix s)}."""
    ids = [m.decode() for m in r.zrange(f"hippo:tasks:queue:{queue_id}", 0, -1)]
    pipe = r.pipeline()
    for mesos_id in ids:
        pipe.hmget(f"hippo:task:{mesos_id}", "spec", "status")
    runs = []
    for mesos_id, (spec, status) in zip(ids, pipe.execute(), strict=True):
        if spec is None or status is None:
            continue
        fields = json.loads(status)
        runs.append(
            {
                "mesos_id": mesos_id,
                "item": json.loads(spec)["env"]["HIPPO_DATA"],
                "state": fields["mesos_state"],
                "created": fields["created_tstamp"],
            }
        )
    return runs
