"""A run's state history (state, time, reason, message, agent) and its chain of runs,
retries linked both ways, as GET /tasks/{mesos_id}/history/ answers them with a real
worker and the dev master; kept with the record, and trimmed with it by retention."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from tests.conftest import wait_until

from .conftest import Cluster
from .test_worker import post_task, runs


def three_failed(api: TestClient, task_id: str) -> Callable[[], bool]:
    def check() -> bool:
        found = runs(api, task_id)
        return len(found) == 3 and found[2]["mesos_state"] == "TASK_FAILED"

    return check


def test_a_runs_history_and_its_chain_of_retries(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster()
    cluster.start_worker()
    cluster.leader()
    post_task(api, "exit 2", id="thrice", task_retries=2)
    wait_until(three_failed(api, "thrice"), 40, "three failed runs")
    first, middle, last = runs(api, "thrice")
    assert (first["next_mesos_id"], middle["previous_mesos_id"]) == (
        middle["mesos_id"],
        first["mesos_id"],
    )
    assert (middle["next_mesos_id"], last["previous_mesos_id"]) == (
        last["mesos_id"],
        middle["mesos_id"],
    )
    assert last["next_mesos_id"] is None

    found = api.get(f"/tasks/{middle['mesos_id']}/history/").json()
    history = found["history"]
    states = [e["state"] for e in history]
    assert states[:2] == ["WAITING_ON_OFFERS", "TASK_STAGING"]
    assert "TASK_RUNNING" in states and states[-1] == "TASK_FAILED"
    times = [e["tstamp"] for e in history]
    assert times == sorted(times)
    assert times[0] == middle["created_tstamp"] and times[-1] == middle["finished_tstamp"]
    assert history[1]["agent_id"] == middle["agent_id"]  # placed on its agent at STAGING
    assert history[-1]["message"] == middle["status_message"]
    assert history[-1]["reason"] == middle["status_reason"]
    assert [r["mesos_id"] for r in found["runs"]] == [
        first["mesos_id"],
        middle["mesos_id"],
        last["mesos_id"],
    ]
    assert [r["attempt"] for r in found["runs"]] == [1, 2, 3]
    assert [r["mesos_state"] for r in found["runs"]] == ["TASK_FAILED"] * 3
    # The same chain from either end.
    for end in (first, last):
        chain = api.get(f"/tasks/{end['mesos_id']}/history/").json()["runs"]
        assert [r["mesos_id"] for r in chain] == [r["mesos_id"] for r in found["runs"]]
    assert api.get("/tasks/thrice.nope/history/").status_code == 404


def test_history_is_kept_with_the_record_and_trimmed_with_it(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster()
    cluster.start_worker(HIPPO_TASK_RETENTION_PER_ID="2")
    cluster.leader()
    post_task(api, "exit 2", id="kept", task_retries=2)

    def third_failed_and_first_trimmed() -> bool:
        found = runs(api, "kept")
        return len(found) == 2 and found[1]["mesos_state"] == "TASK_FAILED"

    wait_until(third_failed_and_first_trimmed, 40, "the third run failed, the first trimmed")
    middle, last = runs(api, "kept")
    first_id = middle["previous_mesos_id"]
    assert api.get(f"/tasks/{first_id}/history/").status_code == 404
    found = api.get(f"/tasks/{last['mesos_id']}/history/").json()
    # The chain ends where retention trimmed it; each kept run keeps its whole history.
    assert [r["mesos_id"] for r in found["runs"]] == [middle["mesos_id"], last["mesos_id"]]
    assert found["history"][-1]["state"] == "TASK_FAILED"
    middle_history = api.get(f"/tasks/{middle['mesos_id']}/history/").json()["history"]
    assert middle_history[0]["state"] == "WAITING_ON_OFFERS"
    assert middle_history[-1]["state"] == "TASK_FAILED"
