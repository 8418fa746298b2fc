"""Hippo on Redis Sentinel: the API, two workers (poller and leader) and the leader lock
all reach Redis through `redis+sentinel://`, and a failover of the master in the middle
of polling and launches loses no item, runs none twice, and keeps one leader acting at a
time (docs/operating.md says what the guarantees become and which settings keep them)."""

from __future__ import annotations

import collections
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from hippo.devmaster.config import MasterConfig
from hippo.devmaster.server import DevMaster
from hippo.shared.store.connection import connect_sync
from tests.conftest import need_service, start_hippo_api, wait_until
from tests.sentinel import SentinelDeployment
from tests.sources.conftest import queue_body

from .conftest import FAST, WorkerProcess

PASSWORD = "sentinel-pw-4c1d2"
ITEMS_BEFORE, ITEMS_AFTER = 60, 60


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[SentinelDeployment]:
    if not shutil.which("redis-server"):
        need_service("redis-server is not installed (apt-get install redis-server)")
    folder = tmp_path / "sentinel"
    folder.mkdir()
    made = SentinelDeployment(folder, PASSWORD)
    try:
        made.start()
        yield made
    finally:
        made.stop()


@pytest.fixture
def redis_source(redis_url: str) -> dict[str, Any]:
    """A redis queue's settings: a list on our plain Redis (database 1), outside the
    deployment that fails over, so that only Hippo's own state goes through Sentinel."""
    parts = urlsplit(redis_url)
    return {"host": parts.hostname, "port": parts.port, "db": 1, "name": "sentinel-items"}


def runs_by_item(client: redis.Redis, queue_id: str) -> dict[str, list[tuple[str, str]]]:
    """item (HIPPO_DATA) -> [(mesos_id, state)] of every run the queue made."""
    found: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    for raw_id in client.zrange(f"hippo:tasks:queue:{queue_id}", 0, -1):
        mesos_id = raw_id.decode()
        spec, status = client.hmget(f"hippo:task:{mesos_id}", "spec", "status")
        if spec is None or status is None:
            continue
        item = json.loads(spec)["env"]["HIPPO_DATA"]
        found[item].append((mesos_id, json.loads(status)["mesos_state"]))
    return found


def readable(client: redis.Redis, read: Any) -> Any:
    """`read(client)`, or None while Redis is switching masters."""
    try:
        return read(client)
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
        return None


@pytest.mark.slow
@pytest.mark.timeout(300)  # about 50 s here; the old master takes ~15 s to follow the new
def test_a_master_failover_during_polling_and_launches_loses_no_item_and_runs_none_twice(
    deployment: SentinelDeployment, redis_source: dict[str, Any], tmp_path: Path
) -> None:
    url = deployment.url
    dev = DevMaster(
        MasterConfig(agents=2, cpus=100, mem_mb=100_000, simulate_s=0.3, update_retry_s=1.0)
    ).start()
    api_log = (tmp_path / "api.log").open("wb")
    api_process, api_url = start_hippo_api(url, output=api_log, HIPPO_LOG_LEVEL="INFO")
    env = {
        **FAST,
        "HIPPO_REDIS_URL": url,
        "HIPPO_MESOS_MASTER": dev.url,
        "HIPPO_QUEUE_LEASE_S": "2",
        "HIPPO_POLL_IDLE_S": "0.05",
    }
    workers = [WorkerProcess(env, tmp_path / f"worker{n}.log") for n in range(2)]
    hippo_redis = connect_sync(url, connect_timeout_s=2, timeout_s=5)
    source = redis.Redis(host=redis_source["host"], port=redis_source["port"], db=1)
    http = httpx.Client(base_url=api_url, timeout=10)
    try:
        settings = redis_source
        body = queue_body("redis", settings, frequency_seconds=0.1)
        created = http.post("/queues/", json=body)
        assert created.status_code == 201, created.text
        queue_id = created.json()["id"]
        before = [f"before-{n}" for n in range(ITEMS_BEFORE)]
        after = [f"after-{n}" for n in range(ITEMS_AFTER)]
        source.lpush(settings["name"], *before)

        def launched(count: int) -> bool:
            runs = readable(hippo_redis, lambda c: runs_by_item(c, queue_id)) or {}
            done = sum(1 for rs in runs.values() for _, s in rs if s != "WAITING_ON_OFFERS")
            return done >= count

        wait_until(lambda: launched(ITEMS_BEFORE // 3), 60, "the first launches")
        old_master = deployment.master_port()
        new_master = deployment.fail_over()
        assert new_master != old_master
        source.lpush(settings["name"], *after)

        def every_item_finished() -> bool:
            runs = readable(hippo_redis, lambda c: runs_by_item(c, queue_id))
            return runs is not None and all(
                any(s == "TASK_FINISHED" for _, s in runs.get(item, [])) for item in before + after
            )

        wait_until(every_item_finished, 120, "every item's task finished")
        # The API answers again through the promoted master.
        listed = wait_until(
            lambda: (r := http.get(f"/queues/{queue_id}")).status_code == 200 and r, 30, "API"
        )
        assert listed and listed.json()["id"] == queue_id

        runs = runs_by_item(hippo_redis, queue_id)
        assert sorted(runs) == sorted(before + after)  # no item lost, none invented
        finished = {item: [m for m, s in rs if s == "TASK_FINISHED"] for item, rs in runs.items()}
        assert {item: len(ms) for item, ms in finished.items() if len(ms) != 1} == {}
        # Each Mesos task was launched once, all under one framework: the leader after the
        # failover subscribed again with the saved framework id.
        frameworks = dev.state()["frameworks"]
        assert len(frameworks) == 1, [f["id"] for f in frameworks]
        launches = collections.Counter(
            [t["id"] for t in frameworks[0]["tasks"]] + list(frameworks[0]["completed_tasks"])
        )
        assert [m for m, n in launches.items() if n > 1] == []
        # One leader at a time: each term has its own epoch, and terms only move forward.
        terms = [
            (int(epoch), int(pid))
            for worker in workers
            for epoch, pid in re.findall(r"leads now \(epoch (\d+), pid (\d+)\)", worker.log)
        ]
        epochs = [epoch for epoch, _ in terms]
        assert len(epochs) == len(set(epochs)), terms
        assert len(terms) >= 1
    finally:
        http.close()
        source.close()
        hippo_redis.close()
        for worker in workers:
            worker.terminate()
        api_process.terminate()
        api_process.wait(15)
        api_log.close()
        dev.stop()
    logs = (tmp_path / "api.log").read_text() + "".join(w.log for w in workers)
    assert PASSWORD not in logs
