"""A busy queue keeps its own history (HIPPO_TASK_RETENTION_PER_QUEUE): its tasks share
the queue's id, and HIPPO_TASK_RETENTION_PER_ID no longer drops them. A Redis-list queue,
a real worker and the dev master."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
from starlette.testclient import TestClient

from tests.conftest import wait_until

from .conftest import Cluster
from .test_worker import post_task, state_of


def finished(api: TestClient, query: str) -> list[dict[str, Any]]:
    records = json.loads(api.get(f"/tasks/?{query}&limit=1000").content)
    return [r for r in records if r["finished_tstamp"]]


def test_a_queue_keeps_its_history_per_queue_and_one_off_ids_per_id(
    make_cluster: Callable[..., Cluster], make_client: Callable[..., TestClient], redis_url: str
) -> None:
    limits = {"HIPPO_TASK_RETENTION_PER_ID": "2", "HIPPO_TASK_RETENTION_PER_QUEUE": "5"}
    api = make_client(**limits)
    parts = urlsplit(redis_url)
    items = redis.Redis(host=parts.hostname, port=parts.port, db=1)
    items.lpush("work", *[f"item-{n}" for n in range(8)])
    items.close()
    source = {"host": parts.hostname, "port": parts.port, "db": 1, "name": "work"}
    body = {
        "id": "busy",
        "container": {"docker": {"image": "busybox"}},
        "mem": 32,
        "cpus": 0.1,
        "cmd": "true",
        "queue": {"type": "redis", "frequency_seconds": 0.2, "redis": source},
    }
    assert api.post("/queues/", json=body).status_code == 201
    cluster = make_cluster()
    cluster.start_worker(**limits)

    def all_finished() -> bool:
        made = api.get("/queues/busy/").json()["queue"]["tasks_created"]
        records = json.loads(api.get("/tasks/?queue_id=busy&limit=1000").content)
        return made == 8 and all(r["finished_tstamp"] for r in records)

    wait_until(all_finished, 60, "the queue's 8 tasks to be made and to finish")
    assert len(finished(api, "queue_id=busy")) == 5  # not 2, the per-id number
    for _ in range(3):  # one-off runs of one id: only 2 are kept
        mid = post_task(api, "true", id="solo")["mesos_id"]
        wait_until(lambda m=mid: state_of(api, m) == "TASK_FINISHED", 30, "solo done")
    assert len(finished(api, "id=solo")) == 2
    assert len(finished(api, "queue_id=busy")) == 5  # the queue's history untouched
