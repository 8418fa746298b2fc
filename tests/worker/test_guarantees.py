"""The leader's guarantees end to end: real worker processes, our Redis, the dev master.

- One fenced leader: a leader paused past its lock expiry (SIGSTOP) comes back
  (SIGCONT) to find a newer epoch; every write it tries is refused and it steps down.
- Status updates are acknowledged only after they are stored: while the store fails,
  the master keeps resending and nothing is acknowledged.

The workers run tests.worker.observed_worker: `hippo worker` whose fenced writes are
logged to `observe:fenced`, and whose status-update store can be made to fail.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from tests.conftest import wait_until

from .conftest import Cluster

OBSERVED = "tests.worker.observed_worker"
JOB = {"container": {"docker": {"image": "alpine"}}, "mem": 32, "cpus": 0.1}


def post_task(api: TestClient, cmd: str, **fields: Any) -> str:
    response = api.post("/tasks/", json={**JOB, "cmd": cmd, **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["mesos_id"])


def state_of(api: TestClient, mesos_id: str) -> str:
    return str(api.get(f"/tasks/{mesos_id}/").json()["mesos_state"])


def fenced_writes(r: redis.Redis, since: int = 0) -> list[tuple[int, int, str, str]]:
    """(pid, epoch, method, ok|stale) of each fenced write, from the `since`-th on."""
    rows = [entry.decode().split() for entry in r.lrange("observe:fenced", since, -1)]
    return [(int(pid), int(epoch), method, outcome) for pid, epoch, method, outcome in rows]


@pytest.mark.slow
def test_a_leader_paused_past_its_lock_expiry_writes_nothing_and_steps_down(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(agents=1, cpus=8, mem_mb=8192, simulate_s=0.2)
    first = cluster.start_worker(module=OBSERVED)
    old = cluster.leader()
    old_epoch = cluster.epoch()
    second = cluster.start_worker(module=OBSERVED)
    before = post_task(api, "true", id="before")
    wait_until(lambda: state_of(api, before) == "TASK_FINISHED", 30, "a task under the old leader")
    assert old is first

    old.process.send_signal(signal.SIGSTOP)
    try:
        new = cluster.leader(timeout_s=30, after_epoch=old_epoch)
        assert new is second
        # Work arrives while the old leader sleeps: it will see it when it wakes.
        during = [post_task(api, "true", id=f"during{n}") for n in range(5)]
        for mesos_id in during:
            wait_until(lambda m=mesos_id: state_of(api, m) == "TASK_FINISHED", 30, "new leader")
        woke_at = cluster.redis.llen("observe:fenced")
    finally:
        old.process.send_signal(signal.SIGCONT)

    wait_until(lambda: "leader: stepping down" in old.log, 30, "the old leader to step down")
    after = post_task(api, "true", id="after")
    wait_until(lambda: state_of(api, after) == "TASK_FINISHED", 30, "a task after the pause")

    # The observation works: the old leader's writes before the pause were seen.
    assert any(w[0] == old.pid and w[3] == "ok" for w in fenced_writes(cluster.redis))
    # After it: whatever it tried was refused (it may also step down before trying
    # anything; test_fenced_scripts proves each script's refusal on its own).
    old_writes = [w for w in fenced_writes(cluster.redis, woke_at) if w[0] == old.pid]
    assert all(outcome == "stale" for *_, outcome in old_writes), old_writes
    assert old.alive() and cluster.epoch() > old_epoch
    # Every task ran exactly once, the ones the old leader saw waiting included.
    launched = Counter(m.split(".")[0] for m in cluster.launched_task_ids())
    assert launched == Counter(["before", "after"] + [f"during{n}" for n in range(5)])


@pytest.mark.slow
def test_updates_are_not_acknowledged_while_they_cannot_be_stored(
    make_cluster: Callable[..., Cluster], api: TestClient, raw_redis: redis.Redis
) -> None:
    cluster = make_cluster(agents=1, cpus=8, mem_mb=8192, simulate_s=0.2)
    cluster.start_worker(module=OBSERVED)
    cluster.leader()
    raw_redis.set("fault:record", 1)
    mesos_id = post_task(api, "true", id="unstored")

    def delivered_twice() -> bool:
        attempts = Counter(m.decode() for m in raw_redis.lrange("fault:record-attempts", 0, -1))
        return attempts[mesos_id] >= 2

    # Delivered, not stored, so not acknowledged: the master sends the same update again.
    wait_until(delivered_twice, 30, "the master to resend an update it got no ack for")
    (task,) = [t for t in cluster.mesos_tasks() if t["id"] == mesos_id]
    assert task["unacknowledged_updates"] >= 1
    status = json.loads(raw_redis.hget(f"hippo:task:{mesos_id}", "status") or b"{}")
    assert status["mesos_state"] == "TASK_STAGING"  # nothing of the update was written

    raw_redis.delete("fault:record")
    wait_until(lambda: state_of(api, mesos_id) == "TASK_FINISHED", 30, "the resent updates")
    # Stored, then acknowledged: the master forgets a task whose updates are all acked.
    wait_until(lambda: not cluster.mesos_tasks(), 30, "every update to be acknowledged")
    assert [t.split(".")[0] for t in cluster.launched_task_ids()] == ["unstored"]
