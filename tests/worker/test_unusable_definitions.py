"""A waiting run whose stored definition cannot be decoded can never launch: the leader
ends it as TASK_ERROR saying why, and, with nothing else waiting, suppresses offers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import redis
from starlette.testclient import TestClient

from hippo.shared.model import parse_task
from hippo.shared.records import new_task_status
from hippo.shared.store import task_scripts
from tests.conftest import wait_until

from .conftest import Cluster

GOOD = {"container": {"docker": {"image": "alpine"}}, "cpus": 0.1, "mem": 32, "cmd": "true"}


def create_run(r: redis.Redis, task_id: str, spec: dict[str, object]) -> str:
    """A waiting run stored as a poller would, with `spec` as its definition, unchecked
    (the API would refuse a bad one; a record written by an older Hippo may hold one)."""
    mesos_id = f"{task_id}.{uuid.uuid4()}"
    status = new_task_status(parse_task(GOOD), task_id, mesos_id, time.time())
    create = r.register_script(task_scripts.CREATE_TASKS)
    create(args=["hippo:", "", 60, mesos_id, task_id, "", json.dumps(spec), json.dumps(status)])
    r.publish("hippo:events", "waiting")
    return mesos_id


def test_a_run_that_cannot_be_decoded_ends_as_task_error_and_offers_are_suppressed(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(agents=1)
    broken = create_run(cluster.redis, "broken", {**GOOD, "constraints": [["rack", "NEAR", "r1"]]})
    fine = create_run(cluster.redis, "fine", GOOD)
    cluster.start_worker()
    cluster.leader()

    def ended() -> dict[str, object] | None:
        record: dict[str, object] = api.get(f"/tasks/{broken}/").json()
        return record if record["mesos_state"] == "TASK_ERROR" else None

    record = wait_until(ended, 20, "the undecodable run to end")
    message = str(record["status_message"])
    assert message.startswith("definition cannot be decoded: constraints.0"), message
    assert record["finished_tstamp"]
    assert len(api.get("/tasks/?id=broken").json()) == 1  # no retry: it would fail alike
    # The run next to it is not held up, and nothing is left waiting: no offers wanted.
    wait_until(
        lambda: api.get(f"/tasks/{fine}/").json()["mesos_state"] == "TASK_FINISHED", 20, "fine"
    )

    def suppressed() -> bool:
        frameworks = cluster.devmaster.state()["frameworks"]
        return bool(frameworks) and frameworks[0]["suppressed_roles"] == ["*"]

    wait_until(suppressed, 20, "the leader to suppress offers")
    assert [m.split(".")[0] for m in cluster.launched_task_ids()] == ["fine"]
