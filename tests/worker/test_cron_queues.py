"""A cron queue with a time zone, polled and run by a real worker with the dev master:
after an outage at most `maxbacklog` missed fire times run, each a task of its own with
its fire time as HIPPO_DATA, never joined by the queue's batch_size."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from starlette.testclient import TestClient

from tests.conftest import wait_until
from tests.sources.conftest import create_queue, task_data

from .conftest import Cluster
from .test_worker import runs


def test_missed_fire_times_run_at_most_maxbacklog_each_with_its_own_time(
    make_cluster: Callable[..., Cluster], api: TestClient, raw_redis: redis.Redis
) -> None:
    cluster = make_cluster()
    # Every second (croniter's 6th field), read in Berlin; the command fails unless
    # HIPPO_DATA is one fire time, digits only (a batch would hold a separator).
    queue_id = create_queue(
        api,
        "cron",
        {"cronstring": "* * * * * *", "maxbacklog": 2, "timezone": "Europe/Berlin"},
        batch_size=5,
        frequency_seconds=60,
    )
    api.put(
        f"/queues/{queue_id}/",
        json={
            **api.get(f"/queues/{queue_id}/").json(),
            "cmd": 'case "$HIPPO_DATA" in ""|*[!0-9]*) exit 1;; esac',
        },
    ).raise_for_status()
    created = api.get(f"/queues/{queue_id}/").json()
    # No worker yet: an outage. Five fire times or more pass unpolled.
    outage_from = time.time()
    wait_until(lambda: time.time() > outage_from + 5, 10, "an outage of five seconds")
    cluster.start_worker()
    cluster.leader()
    wait_until(lambda: len(task_data(raw_redis, queue_id)) >= 2, 20, "the first poll")
    data = task_data(raw_redis, queue_id)
    # frequency_seconds=60: this test sees the first poll only.
    assert len(data) == 2
    first, second = (int(d) for d in data)
    assert second == first + 1  # the newest two missed fire times, oldest first
    assert first > outage_from + 2  # the older ones were skipped, not merged
    assert created["queue"]["cron"]["timezone"] == "Europe/Berlin"

    def finished() -> bool:
        return [r["mesos_state"] for r in runs(api, queue_id)] == ["TASK_FINISHED"] * 2

    wait_until(finished, 30, "both fire times ran")
