"""Fixtures for the worker: real `python -m hippo worker` processes, our Redis, and a
dev master on a background thread. Everything started is stopped after the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from hippo.devmaster.config import MasterConfig
from hippo.devmaster.server import DevMaster
from tests.conftest import wait_until

# Short timings so failover and deadlines fit in a test.
FAST = {
    "HIPPO_LOCK_EXPIRE_S": "2",
    "HIPPO_STAGING_TIMEOUT_S": "3",
    "HIPPO_OFFER_HOLD_S": "1",
    "HIPPO_DECLINE_REFUSE_S": "1",
    "HIPPO_LOG_LEVEL": "INFO",
}


class WorkerProcess:
    def __init__(
        self, env: dict[str, str], log_path: Path, metrics_port: int = 0, module: str = "hippo"
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "worker", "--metrics-port", str(metrics_port)],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def leads(self, epoch: int) -> bool:
        return f"leads now (epoch {epoch}, pid {self.pid})" in self.log

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout_s: float = 15) -> int:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        return self.process.returncode


class Cluster:
    """Workers sharing our Redis and a dev master."""

    def __init__(self, redis_url: str, devmaster: DevMaster, tmp: Path) -> None:
        self.redis_url = redis_url
        self.devmaster = devmaster
        self.tmp = tmp
        self.workers: list[WorkerProcess] = []
        self.redis = redis.Redis.from_url(redis_url)

    def start_worker(
        self, metrics_port: int = 0, module: str = "hippo", **env: str
    ) -> WorkerProcess:
        """A worker process; `module` runs another entry point with the `hippo` command's
        arguments (tests.worker.observed_worker: the guarantee tests' hooks)."""
        full = {
            **FAST,
            "HIPPO_REDIS_URL": self.redis_url,
            "HIPPO_MESOS_MASTER": self.devmaster.url,
            **env,
        }
        log_path = self.tmp / f"worker{len(self.workers)}.log"
        worker = WorkerProcess(full, log_path, metrics_port, module)
        self.workers.append(worker)
        return worker

    def epoch(self) -> int:
        raw = self.redis.get("hippo:leader:epoch")
        return int(raw) if raw else 0

    def leader(self, timeout_s: float = 15, after_epoch: int = 0) -> WorkerProcess:
        """The worker leading at an epoch above `after_epoch`, waiting for one."""

        def find() -> WorkerProcess | None:
            epoch = self.epoch()
            if epoch <= after_epoch:
                return None
            return next((w for w in self.workers if w.alive() and w.leads(epoch)), None)

        found = wait_until(find, timeout_s, "a leader")
        assert isinstance(found, WorkerProcess)
        return found

    def mesos_tasks(self) -> list[dict[str, Any]]:
        return list(self.devmaster.state()["tasks"])

    def launched_task_ids(self) -> list[str]:
        """Every Mesos task id the dev master launched (running or completed)."""
        ids = []
        for framework in self.devmaster.state()["frameworks"]:
            ids += [t["id"] for t in framework["tasks"]] + list(framework["completed_tasks"])
        return ids

    def stop(self) -> None:
        for worker in self.workers:
            worker.terminate()
        self.redis.close()


@pytest.fixture
def make_cluster(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """`make_cluster(**MasterConfig overrides)`: a dev master, workers started on demand."""
    made: list[tuple[Cluster, DevMaster]] = []

    def make(**overrides: Any) -> Cluster:
        options: dict[str, Any] = {
            "agents": 2,
            "update_retry_s": 1.0,
            "remove_work_dir_on_stop": True,
        }
        options.update(overrides)
        dev = DevMaster(MasterConfig(**options)).start()
        cluster = Cluster(redis_url, dev, tmp_path)
        made.append((cluster, dev))
        return cluster

    yield make
    for cluster, dev in reversed(made):
        cluster.stop()
        dev.stop()
