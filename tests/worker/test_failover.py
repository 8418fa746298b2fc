"""SIGKILL of the leader while 500 tasks launch: a standby takes over, no task runs
twice, none is lost, running ones are reconciled. (How soon it takes over is measured by
bench/scheduler.py, not asserted here.)"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest
import redis

from hippo.shared.records import TASK_RECORD_TEMPLATE, WAITING
from hippo.shared.store.keys import Keys

from .conftest import Cluster

COUNT = 500
LOCK_EXPIRE_S = 2


def create_tasks(client: redis.Redis, count: int) -> None:
    """Through the store's own script, in one pipeline (the API would take seconds)."""
    import json
    import uuid

    from hippo.shared.store import task_scripts

    keys = Keys("hippo:")
    spec = json.dumps(
        {
            "container": {"docker": {"image": "alpine"}},
            "cpus": 0.01,
            "mem": 1,
            "cmd": "true",
            "system_retries": 2,
            "task_retries": 0,
            "max_concurrent": 1,
        }
    )
    script = client.register_script(task_scripts.CREATE_TASKS)
    pipe = client.pipeline(transaction=False)
    now = time.time()
    for n in range(count):
        task_id = f"job{n}"
        mid = f"{task_id}.{uuid.uuid4()}"
        status = {
            **TASK_RECORD_TEMPLATE,
            "id": task_id,
            "mesos_id": mid,
            "system_retries_left": 2,
            "created_tstamp": now,
            "updated_tstamp": now,
        }
        script(args=[keys.prefix, "", 60, mid, task_id, "", spec, json.dumps(status)], client=pipe)
    pipe.execute()


def states(client: redis.Redis) -> Counter[str]:
    found: Counter[str] = Counter()
    for key in client.scan_iter("hippo:tasks:state:*"):
        found[key.decode().rsplit(":", 1)[1]] = int(client.zcard(key))
    return found


@pytest.mark.slow
def test_sigkill_of_the_leader_while_500_tasks_launch(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(agents=10, cpus=100, mem_mb=100_000, simulate_s=4)
    env = {"HIPPO_LOCK_EXPIRE_S": str(LOCK_EXPIRE_S), "HIPPO_ROUND_MAX_TASKS": "60"}
    for _ in range(3):
        cluster.start_worker(**env)
    leader = cluster.leader()
    epoch = cluster.epoch()
    r = cluster.redis
    create_tasks(r, COUNT)

    def some_launched() -> bool:
        s = states(r)
        return s["TASK_RUNNING"] + s["TASK_STARTING"] + s["TASK_STAGING"] >= 60

    deadline = time.monotonic() + 20
    while not some_launched():
        assert time.monotonic() < deadline, f"nothing launched: {states(r)}"
        time.sleep(0.01)
    leader.kill()
    # The deadline only bounds the wait: the lock expires after LOCK_EXPIRE_S.
    new_leader = cluster.leader(timeout_s=60, after_epoch=epoch)
    assert new_leader is not leader

    def all_finished() -> bool:
        return states(r)["TASK_FINISHED"] == COUNT

    deadline = time.monotonic() + 90
    while not all_finished():
        assert time.monotonic() < deadline, f"not all finished: {states(r)}"
        time.sleep(0.2)
    s = states(r)
    # None lost: each task id finished exactly once; the only other runs are claims the
    # dead leader never sent, which Mesos did not know (TASK_GONE to a partition-aware
    # framework, then retried).
    finished_ids = Counter(
        m.decode().split(".")[0] for m in r.zrange("hippo:tasks:state:TASK_FINISHED", 0, -1)
    )
    assert len(finished_ids) == COUNT and set(finished_ids.values()) == {1}
    assert set(s) <= {"TASK_FINISHED", "TASK_GONE", WAITING}, s
    assert s[WAITING] == 0
    # No task ran twice: Mesos launched each task id once.
    launched = Counter(t.split(".")[0] for t in cluster.launched_task_ids())
    assert set(launched.values()) == {1} and len(launched) == COUNT
    # The new leader reconciled what the old one had launched.
    assert "reconciling" in new_leader.log
    lines = [line for line in new_leader.log.splitlines() if "reconciling" in line]
    assert any(int(line.split("reconciling ")[1].split()[0]) > 0 for line in lines), lines
