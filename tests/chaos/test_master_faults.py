"""Fault runs on the Mesos side (the dev master), under steady load: the subscription's
connection dropped, a master failover with an agent re-registering late, and an agent
removed with tasks running on it (TASK_LOST: each run made again, once)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

from tests.chaos.checker import SUCCESS
from tests.chaos.harness import KEYS, LIVE, Rig, assert_kept
from tests.conftest import wait_until


def framework_connected(rig: Rig) -> bool:
    return any(f["connected"] for f in rig.devmaster.state()["frameworks"])


def busiest_agent(rig: Rig) -> tuple[str, list[str]]:
    """The agent with the most live runs, once one has some, and those runs."""

    def find() -> str | None:
        live = Counter(t["agent_id"] for t in rig.cluster.mesos_tasks() if t["state"] in LIVE)
        return live.most_common(1)[0][0] if live else None

    found = wait_until(find, 30, "an agent running tasks")
    assert isinstance(found, str)
    runs = [t["id"] for t in rig.cluster.mesos_tasks() if t["agent_id"] == found]
    return found, runs


def each_finished(rig: Rig, mesos_ids: list[str]) -> Callable[[], bool]:
    """Whether each run, or a retry made of it, was recorded TASK_FINISHED."""

    def finished(mesos_id: str | None) -> bool:
        while mesos_id:
            raw = rig.cluster.redis.hget(KEYS.task(mesos_id), "status")
            status = json.loads(raw) if raw else {}
            if status.get("mesos_state") == SUCCESS:
                return True
            mesos_id = status.get("next_mesos_id")
        return False

    return lambda: all(finished(m) for m in mesos_ids)


def test_the_dev_master_drops_the_subscription(make_rig: Callable[..., Rig], run: int) -> None:
    rig = make_rig("master drops the subscription")
    rig.leader()
    rig.start_load()
    (framework,) = rig.devmaster.state()["frameworks"]
    with rig.fault():
        rig.devmaster.drop_stream(framework["id"])
    assert_kept(rig.finish(recovered=lambda: framework_connected(rig)))


def test_a_master_failover_with_an_agent_re_registering_late(
    make_rig: Callable[..., Rig], run: int
) -> None:
    rig = make_rig("master failover, an agent re-registering late", simulate_s=1.0)
    rig.leader()
    rig.start_load()
    late, runs = busiest_agent(rig)
    with rig.fault():
        rig.devmaster.failover(late_agents=[late])
        # The framework is back on the new master before the agent is.
        wait_until(lambda: framework_connected(rig), 30, "the leader to subscribe again")
        rig.devmaster.agent_event(late, "reregister")
    assert_kept(rig.finish(recovered=each_finished(rig, runs)))


def test_an_agent_removed_with_tasks_running(make_rig: Callable[..., Rig], run: int) -> None:
    rig = make_rig("agent removed with tasks running", agents=3, simulate_s=1.0)
    rig.leader()
    rig.start_load()
    agent, runs = busiest_agent(rig)
    with rig.fault():
        rig.devmaster.remove_agent(agent)
    # Recovered once each run lost with the agent was made again and finished.
    assert_kept(rig.finish(recovered=each_finished(rig, runs)))
