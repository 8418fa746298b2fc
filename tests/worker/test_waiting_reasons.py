"""A waiting task says why it waits (pending_reason), and GET /status/ tells what the
leader knows of Mesos: real workers, our Redis and the dev master."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import free_port, wait_until

from .conftest import Cluster
from .test_worker import post_task, state_of


def reason_of(api: TestClient, mesos_id: str) -> str:
    return str(api.get(f"/tasks/{mesos_id}/").json()["pending_reason"])


def test_waiting_tasks_say_why_and_status_shows_the_leader_s_view(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(agents=2, cpus=1.0, attributes="rack:r{i}")
    cluster.start_worker()
    cluster.leader()
    big = post_task(api, "true", id="big", cpus=2)
    placed = post_task(api, "true", id="placed", constraints=[["rack", "IS", "r9"]])
    first = post_task(api, "sleep 60", id="solo", max_concurrent=1)
    wait_until(lambda: state_of(api, first["mesos_id"]) == "TASK_RUNNING", 20, "solo running")
    second = post_task(api, "true", id="solo", max_concurrent=1)

    wait_until(lambda: "no offer has enough cpus" in reason_of(api, big["mesos_id"]), 20, "big")
    # The largest offer: a whole agent, or the one running solo (0.1 cpus, 32 MiB).
    assert re.fullmatch(
        r"no offer has enough cpus and mem: it needs 2 cpus and 32 MiB; the largest offers "
        r"seen had (1|0\.9) cpus and (8192|8160) MiB",
        reason_of(api, big["mesos_id"]),
    )
    wait_until(lambda: "constraints" in reason_of(api, placed["mesos_id"]), 20, "placed")
    # Which agents it names depends on the offers the round had at hand.
    assert reason_of(api, placed["mesos_id"]).startswith(
        'constraints match no agent: ["rack", "IS", "r9"] holds on none of '
    )
    wait_until(lambda: "max_concurrent" in reason_of(api, second["mesos_id"]), 20, "solo's cap")
    assert (
        reason_of(api, second["mesos_id"])
        == "task id solo is at its max_concurrent: 1 of 1 running"
    )
    # Listed, the same reasons; a running task has none.
    listed = {r["mesos_id"]: r for r in api.get("/tasks/").json()}
    assert listed[big["mesos_id"]]["pending_reason"].startswith("no offer has enough")
    assert listed[first["mesos_id"]]["pending_reason"] is None

    status = api.get("/status/").json()
    assert status["leader"]["worker_id"].endswith(f":{cluster.workers[0].pid}")
    assert status["framework_id"] and status["subscribed_since"] and status["last_offer_tstamp"]
    assert status["master"].startswith(cluster.devmaster.url)
    assert status["agents_seen"] == 2 and status["offers_seen"] >= 2
    assert (status["waiting"], status["staging"], status["running"]) == (3, 0, 1)
    assert status["waiting_reason"] is None


def test_without_a_leader_waiting_tasks_say_so(api: TestClient) -> None:
    task = post_task(api, "true", id="alone")
    assert reason_of(api, task["mesos_id"]).startswith("no leader: no worker holds the leader")
    status = api.get("/status/").json()
    assert status["leader"] is None and status["waiting"] == 1
    assert status["waiting_reason"].startswith("no leader")


def test_an_unreachable_master_is_the_reason_and_the_last_error(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster()
    nobody = f"http://127.0.0.1:{free_port()}"
    cluster.start_worker(HIPPO_MESOS_MASTER=nobody)
    cluster.leader()
    task = post_task(api, "true", id="stuck")

    def status() -> dict[str, Any]:
        return dict(api.get("/status/").json())

    wait_until(lambda: status()["last_mesos_error"], 20, "the subscription's error")
    found = status()
    assert found["leader"] is not None and found["subscribed_since"] is None
    assert "127.0.0.1" in found["last_mesos_error"] and found["last_mesos_error_tstamp"]
    assert reason_of(api, task["mesos_id"]).startswith("the Mesos master is unreachable")
