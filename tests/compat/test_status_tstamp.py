"""`status_tstamp`, the original Hippo's time of a task's last state change: set when a
record is made, moved by every state change (the API's kill of a waiting task, the
leader's claim, status updates, a retry's new run) and by nothing else."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from hippo.shared.store.leadership import StatusUpdate
from tests.examples import task
from tests.worker.test_fenced_scripts import Leaders, run


def test_a_new_task_and_a_killed_waiting_task_carry_the_time_of_their_state(
    api: TestClient,
) -> None:
    created = api.post("/tasks/", json=task(id="old-client")).json()
    assert created["status_tstamp"] == created["created_tstamp"] > 0
    killed = api.post(f"/tasks/{created['mesos_id']}/kill/").json()
    assert killed["mesos_state"] == "TASK_KILLED"
    assert killed["status_tstamp"] == killed["finished_tstamp"] >= created["status_tstamp"]
    (listed,) = api.get("/tasks/").json()
    assert listed["status_tstamp"] == killed["status_tstamp"]


def test_each_state_change_of_the_leader_moves_status_tstamp_and_nothing_else_does(
    redis_url: str,
) -> None:
    async def scenario(t: Leaders) -> list[dict[str, Any]]:
        epoch = await t.epoch()
        mesos_id = await t.task(id="r", task_retries=1)  # created at 1.0
        seen = [await t.status(mesos_id)]
        await t.claim(epoch, mesos_id)  # TASK_STAGING at 2.0
        seen.append(await t.status(mesos_id))
        await t.record(epoch, mesos_id, "TASK_RUNNING", now=3.0)
        await t.record(epoch, mesos_id, "TASK_RUNNING", now=4.0)  # repeated: no change
        seen.append(await t.status(mesos_id))
        update = StatusUpdate(mesos_id, "TASK_FAILED", "", "", "S1", "task", "fresh")
        (outcome,) = await t.leader.record_updates(epoch, 5.0, [update])
        seen.append(await t.status(mesos_id))
        seen.append(await t.status(outcome.detail))  # the retry's new run
        return seen

    created, staging, running, failed, retried = run(redis_url, scenario)
    assert created["status_tstamp"] == 1.0
    assert (staging["mesos_state"], staging["status_tstamp"]) == ("TASK_STAGING", 2.0)
    assert (running["mesos_state"], running["status_tstamp"]) == ("TASK_RUNNING", 3.0)
    assert (failed["mesos_state"], failed["status_tstamp"]) == ("TASK_FAILED", 5.0)
    assert (retried["mesos_state"], retried["status_tstamp"]) == ("WAITING_ON_OFFERS", 5.0)
