"""Agents the master loses touch with (issue 11, items 3 and 4), against the dev master
acting as src/master/master.cpp does: after a master failover an agent that has not
re-registered gets no answer to reconciliation, so the leader asks again with backoff
until each task has one; a task Mesos cannot vouch for keeps its `max_concurrent` slot
for HIPPO_UNREACHABLE_TIMEOUT_S, then is given up and run again; should the old run
come back (RUNNING, REASON_AGENT_REREGISTERED), it is killed and one run stays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from hippo.shared.store.leadership import ActiveTask
from hippo.worker.reconciliation import Asked, ask_again, asked_again, to_give_up
from tests.conftest import wait_until

from .conftest import Cluster
from .test_worker import post_task, runs

GIVE_UP_S = "4"


def _record(api: TestClient, mesos_id: str) -> dict[str, Any]:
    return dict(api.get(f"/tasks/{mesos_id}/").json())


def _running_on(api: TestClient, mesos_id: str) -> str:
    """The agent the run is RUNNING on, once it is."""

    def running() -> str | None:
        record = _record(api, mesos_id)
        return record["agent_id"] if record["mesos_state"] == "TASK_RUNNING" else None

    found = wait_until(running, 60, f"{mesos_id} running")
    assert isinstance(found, str)
    return found


def _mesos_state(cluster: Cluster, mesos_id: str) -> str | None:
    """The task's state in the dev master (None once it forgot it)."""
    tasks = {t["id"]: t["state"] for t in cluster.mesos_tasks()}
    return tasks.get(mesos_id)


def test_after_a_master_failover_unanswered_tasks_are_asked_again_until_answered(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    # The agent does not re-register: the new master answers nothing for its task
    # until its agent_reregister_timeout marks the agent unreachable; only a
    # reconciliation asked again after that gets TASK_UNREACHABLE.
    cluster = make_cluster(agents=2, agent_reregister_timeout_s=2.0)
    cluster.start_worker(HIPPO_UNREACHABLE_TIMEOUT_S="600")
    cluster.leader()
    task = post_task(api, "sleep 600", id="behind-a-late-agent")
    agent = _running_on(api, task["mesos_id"])
    cluster.devmaster.failover(late_agents=[agent])
    wait_until(
        lambda: _record(api, task["mesos_id"])["mesos_state"] == "TASK_UNREACHABLE",
        60,
        "the task reconciled as unreachable",
    )
    record = _record(api, task["mesos_id"])
    assert record["status_message"] == "Reconciliation: Task is unreachable"
    assert len(runs(api, "behind-a-late-agent")) == 1  # it keeps its slot and waits


def test_a_task_mesos_cannot_vouch_for_is_given_up_and_run_again_elsewhere(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(agents=2, agent_reregister_timeout_s=1.0)
    cluster.start_worker(HIPPO_UNREACHABLE_TIMEOUT_S=GIVE_UP_S)
    cluster.leader()
    task = post_task(api, "sleep 600", id="never-back", max_concurrent=1, system_retries=1)
    agent = _running_on(api, task["mesos_id"])
    cluster.devmaster.failover(late_agents=[agent])

    def retried() -> list[dict[str, Any]] | None:
        found = runs(api, "never-back")
        return found if len(found) == 2 else None

    first, second = wait_until(retried, 60, "the run given up and made again")
    assert first["mesos_state"] == "TASK_LOST"
    assert first["status_message"].startswith("Hippo gave the task up:")
    assert second["previous_mesos_id"] == first["mesos_id"]
    assert second["system_retries_left"] == 0
    assert _running_on(api, second["mesos_id"]) != agent


def test_an_unreachable_task_keeps_its_slot_and_carries_on_when_its_agent_returns(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(agents=2)
    cluster.start_worker(HIPPO_UNREACHABLE_TIMEOUT_S="600")
    cluster.leader()
    task = post_task(api, "sleep 600", id="partitioned", max_concurrent=1)
    agent = _running_on(api, task["mesos_id"])
    cluster.devmaster.agent_event(agent, "unreachable")
    wait_until(
        lambda: _record(api, task["mesos_id"])["mesos_state"] == "TASK_UNREACHABLE",
        60,
        "the task unreachable",
    )
    later = post_task(api, "true", id="partitioned", max_concurrent=1)
    cluster.devmaster.agent_event(agent, "reregister")
    assert _running_on(api, task["mesos_id"]) == agent
    assert _record(api, task["mesos_id"])["status_reason"] == "REASON_AGENT_REREGISTERED"
    # The slot was held throughout: the second run still waits behind the first.
    assert _record(api, later["mesos_id"])["mesos_state"] == "WAITING_ON_OFFERS"
    assert len(runs(api, "partitioned")) == 2


def test_a_given_up_task_that_comes_back_is_killed_and_one_run_stays(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(agents=2)
    cluster.start_worker(HIPPO_UNREACHABLE_TIMEOUT_S=GIVE_UP_S)
    cluster.leader()
    task = post_task(api, "sleep 600", id="came-back", max_concurrent=1)
    agent = _running_on(api, task["mesos_id"])
    cluster.devmaster.agent_event(agent, "unreachable")

    def retried() -> list[dict[str, Any]] | None:
        found = runs(api, "came-back")
        return found if len(found) == 2 else None

    first, second = wait_until(retried, 60, "the unreachable run given up")
    _running_on(api, second["mesos_id"])
    assert _mesos_state(cluster, first["mesos_id"]) == "TASK_RUNNING"  # behind the partition
    cluster.devmaster.agent_event(agent, "reregister")
    wait_until(
        lambda: _mesos_state(cluster, first["mesos_id"]) in (None, "TASK_KILLED"),
        60,
        "the run that came back killed",
    )
    assert _mesos_state(cluster, second["mesos_id"]) == "TASK_RUNNING"
    assert [r["mesos_state"] for r in runs(api, "came-back")] == ["TASK_LOST", "TASK_RUNNING"]


# --- the decisions, without Redis or Mesos --------------------------------------------


def test_unanswered_tasks_are_asked_again_after_a_doubling_truncated_backoff() -> None:
    asked = Asked("S1", first_s=0.0, attempts=1, due_s=1.0)
    assert ask_again({"t": asked}, now=0.5) == []
    assert ask_again({"t": asked}, now=1.0) == [("t", "S1")]
    waits = []
    for _ in range(10):
        now = asked.due_s
        asked = asked_again(asked, now)
        waits.append(asked.due_s - now)
    assert waits[:3] == [2.0, 4.0, 8.0]
    assert waits[-1] == 60.0 and max(waits) == 60.0
    assert asked.first_s == 0.0  # the give-up clock runs from the first ask


@pytest.mark.parametrize(
    ("first_s", "unreachable_since", "given_up"),
    [
        (100.0, None, []),
        (90.0, None, ["asked"]),
        (100.0, 1000.0 - 9, []),
        (100.0, 1000.0 - 10, ["unreachable"]),
    ],
)
def test_a_task_is_given_up_once_mesos_has_not_vouched_for_it_for_the_timeout(
    first_s: float, unreachable_since: float | None, given_up: list[str]
) -> None:
    unreachable = (
        [ActiveTask("unreachable", "TASK_UNREACHABLE", "S2", unreachable_since, False)]
        if unreachable_since is not None
        else []
    )
    found = to_give_up(
        {"asked": Asked("S1", first_s, 3, 200.0)},
        unreachable,
        now=1000.0,
        monotonic_now=100.0,
        timeout_s=10.0,
    )
    assert [mid for (mid, _), _ in found] == given_up
