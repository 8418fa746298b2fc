"""Several worker processes share the queues through leases: each queue polled by one
worker at a time, SIGKILL mid-poll loses and duplicates nothing, a new worker takes a
share."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from tests.conftest import wait_until
from tests.sources.conftest import create_queue, task_data

ROOT = Path(__file__).parent.parent.parent


class Workers:
    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        full_env = {
            **os.environ,
            "HIPPO_REDIS_URL": self.redis_url,
            "OBSERVE_REDIS_URL": self.redis_url,
            "HIPPO_QUEUE_LEASE_S": "2",
            "HIPPO_POLL_IDLE_S": "0.05",
            "HIPPO_POLL_MAX_ITEMS": "20",
            "PYTHONPATH": str(ROOT),
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.sources.polling_worker"],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.processes.append(process)
        observe = redis.Redis.from_url(self.redis_url)

        def ready() -> bool:
            if process.poll() is not None:  # it will never be ready: say why at once
                assert process.stderr is not None
                stderr = process.stderr.read().decode(errors="replace")
                raise AssertionError(
                    f"worker {process.pid} exited with {process.returncode} before it was "
                    f"ready; its stderr ends:\n{stderr[-3000:]}"
                )
            return bool(observe.exists(f"observe:ready:{process.pid}"))

        try:
            wait_until(ready, 60, f"worker {process.pid} started")
        finally:
            observe.close()
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            if process.stderr:
                process.stderr.close()


@pytest.fixture
def workers(redis_url: str) -> Iterator[Workers]:
    pool = Workers(redis_url)
    yield pool
    pool.stop_all()


def _polls(raw_redis: redis.Redis) -> collections.Counter[str]:
    return collections.Counter(
        {k.decode(): int(v) for k, v in raw_redis.hgetall("observe:polls").items()}
    )


def _make_queues(
    api: TestClient, redis_source: dict[str, Any], count: int, items: int
) -> tuple[redis.Redis, list[str], dict[str, list[str]]]:
    source = redis.Redis(
        host=redis_source["host"], port=redis_source["port"], db=redis_source["db"]
    )
    queue_ids, expected = [], {}
    for n in range(count):
        name = f"{redis_source['name']}-{n}"
        values = [f"{n}-{i}" for i in range(items)]
        if values:
            source.lpush(name, *values)
        queue_id = create_queue(api, "redis", {**redis_source, "name": name}, frequency_seconds=0.1)
        queue_ids.append(queue_id)
        expected[queue_id] = values
    return source, queue_ids, expected


def _all_stored_once(raw_redis: redis.Redis, expected: dict[str, list[str]]) -> bool:
    return all(sorted(task_data(raw_redis, q)) == sorted(v) for q, v in expected.items())


@pytest.mark.slow
def test_three_workers_twenty_queues_one_poller_per_queue_and_a_late_worker_shares(
    api: TestClient, raw_redis: redis.Redis, redis_source: dict[str, Any], workers: Workers
) -> None:
    source, queue_ids, expected = _make_queues(api, redis_source, 20, 200)
    first = [workers.start(), workers.start()]
    wait_until(
        lambda: sum(len(task_data(raw_redis, q)) for q in queue_ids) >= 1000,
        60,
        what="1000 tasks from two workers",
    )
    late = workers.start()
    # Its share counts from when it is ready: the seconds a process takes to start (more
    # on a loaded machine) are not polls it failed to get.
    before = _polls(raw_redis)
    wait_until(lambda: _all_stored_once(raw_redis, expected), 90, what="every item stored")
    # Keep polling the (now empty) queues a while: the late worker must get its share.
    wait_until(lambda: _polls(raw_redis)[str(late.pid)] >= 100, 30, what="late worker polls")
    after = _polls(raw_redis)
    since = {pid: after[pid] - before.get(pid, 0) for pid in after}
    total = sum(since.values())
    assert since[str(late.pid)] >= total * 0.15, since
    assert all(since[str(p.pid)] > 0 for p in first), since
    assert raw_redis.lrange("observe:violations", 0, -1) == []
    for queue_id, values in expected.items():
        data = task_data(raw_redis, queue_id)
        assert len(data) == len(set(data)) == len(values)


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["store", "ack"])
def test_sigkill_mid_poll_loses_no_item_and_duplicates_none(
    phase: str,
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    workers: Workers,
) -> None:
    # The victim stops just before storing (or just after storing, before removing the
    # items from the source) and is killed there; a second worker takes over the queues.
    victim = workers.start(
        **{"STORE_DELAY_S" if phase == "store" else "ACK_DELAY_S": "60"}, HIPPO_POLL_CONCURRENCY="4"
    )
    source, queue_ids, expected = _make_queues(api, redis_source, 4, 50)
    wait_until(
        lambda: raw_redis.exists(f"observe:in-{phase}:{victim.pid}"), 20, what=f"victim in {phase}"
    )
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    workers.start()
    wait_until(lambda: _all_stored_once(raw_redis, expected), 60, what="every item stored")
    for queue_id, values in expected.items():
        data = task_data(raw_redis, queue_id)
        assert len(data) == len(set(data)) == len(values), queue_id
    wait_until(
        lambda: all(
            source.llen(f"{redis_source['name']}-{n}:hippo:processing:{q}") == 0
            for n, q in enumerate(queue_ids)
        ),
        20,
        what="processing lists empty",
    )
