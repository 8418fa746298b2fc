"""Which failure spends which budget (issue 11, item 5), against the dev master acting as
Mesos does: a task killed by a draining agent (nobody asked) spends a system retry, as
does one on an agent an operator marked gone; a task whose ACCEPT used invalid offers
is made again at no cost; TASK_ERROR (a TaskInfo Mesos refuses) is not retried."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from hippo.shared.model import parse_task
from hippo.shared.records import WAITING
from hippo.shared.store import Store, connect
from hippo.shared.store.keys import Keys
from hippo.shared.store.leadership import Claim, LeaderStore, StatusUpdate
from hippo.worker.retries import retry_budget
from tests.conftest import wait_until
from tests.examples import task

from .conftest import Cluster
from .test_worker import post_task, runs


@pytest.mark.parametrize(
    ("event", "state", "reason"),
    [
        ("drain", "TASK_KILLED", "REASON_AGENT_DRAINING"),
        ("gone", "TASK_GONE_BY_OPERATOR", "REASON_AGENT_REMOVED_BY_OPERATOR"),
    ],
)
def test_a_task_ended_by_its_agent_leaving_spends_a_system_retry_and_runs_elsewhere(
    make_cluster: Callable[..., Cluster], api: TestClient, event: str, state: str, reason: str
) -> None:
    cluster = make_cluster(agents=2)
    cluster.start_worker()
    cluster.leader()
    first = post_task(api, "sleep 600", id=event, task_retries=3, system_retries=1)

    def agent_of_running() -> str | None:
        record = api.get(f"/tasks/{first['mesos_id']}/").json()
        return record["agent_id"] if record["mesos_state"] == "TASK_RUNNING" else None

    agent = wait_until(agent_of_running, 60, "the task running")
    cluster.devmaster.agent_event(str(agent), event)
    wait_until(lambda: len(runs(api, event)) == 2, 60, "a second run")
    ended, again = runs(api, event)
    assert (ended["mesos_state"], ended["status_reason"]) == (state, reason)
    assert (again["system_retries_left"], again["task_retries_left"]) == (0, 3)

    def running_elsewhere() -> bool:
        record = api.get(f"/tasks/{again['mesos_id']}/").json()
        return record["mesos_state"] == "TASK_RUNNING" and record["agent_id"] != agent

    wait_until(running_elsewhere, 60, "the second run running on the other agent")


KEYS = Keys("hippo:")


def _record_end(redis_url: str, state: str, reason: str) -> tuple[dict[str, Any], list[str]]:
    """A run launched, then ended by `state`/`reason` through the leader's record
    script with the budget retry_budget gives; returns the ended run and every run."""

    async def main() -> tuple[dict[str, Any], list[str]]:
        client = connect(redis_url)
        try:
            store, leader = Store(client, KEYS), LeaderStore(client, KEYS)
            await client.set("hippo:lock:t", "me")
            epoch = await leader.take_epoch("hippo:lock:t", "me")
            assert epoch is not None
            record, _ = await store.create_task(
                parse_task(task(id="t", task_retries=1, system_retries=1)), now=1.0
            )
            mesos_id = json.loads(record)["mesos_id"]
            await leader.claim(epoch, 2.0, [Claim(mesos_id, "S1", "h1", 10, None)])
            budget = retry_budget(state, reason) or ""
            update = StatusUpdate(mesos_id, state, "m", reason, "S1", budget, "next")
            await leader.record_updates(epoch, 3.0, [update])
            ended = json.loads(await client.hget(KEYS.task(mesos_id), "status"))
            others = [m.decode() for m in await client.zrange(KEYS.tasks_by_state(WAITING), 0, -1)]
            waiting = [json.loads(await client.hget(KEYS.task(m), "status")) for m in others]
            return ended, [f"{w['task_retries_left']}/{w['system_retries_left']}" for w in waiting]
        finally:
            await client.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("state", "reason", "next_run"),
    [
        ("TASK_LOST", "REASON_INVALID_OFFERS", ["1/1"]),  # made again, nothing spent
        ("TASK_DROPPED", "REASON_INVALID_OFFERS", ["1/1"]),
        ("TASK_LOST", "REASON_AGENT_REMOVED", ["1/0"]),
        ("TASK_ERROR", "REASON_TASK_INVALID", []),  # refused as described: not again
    ],
)
def test_each_end_makes_the_next_run_with_what_is_left_of_each_budget(
    redis_url: str, state: str, reason: str, next_run: list[str]
) -> None:
    ended, waiting = _record_end(redis_url, state, reason)
    assert ended["mesos_state"] == state
    assert waiting == next_run  # task_retries_left/system_retries_left of the next run
