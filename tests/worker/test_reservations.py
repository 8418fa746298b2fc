"""A worker in a role launches on resources reserved for that role, exactly as offered."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from tests.conftest import wait_until

from .conftest import Cluster
from .test_worker import post_task, state_of


@pytest.mark.parametrize(
    "resources",
    [
        "cpus(hippo):2;mem(hippo):2048",
        # 0.05 reserved cpus are not enough for 0.1: the rest comes unreserved.
        "cpus(hippo):0.05;mem(hippo):2048;cpus:1;mem:512",
    ],
)
def test_task_on_resources_reserved_for_the_role_finishes(
    make_cluster: Callable[..., Cluster], api: TestClient, resources: str
) -> None:
    cluster = make_cluster(agents=1, resources=resources)
    cluster.start_worker(HIPPO_MESOS_ROLE="hippo")
    cluster.leader()
    task = post_task(api, "true", id="reserved")
    wait_until(lambda: state_of(api, task["mesos_id"]) == "TASK_FINISHED", 20, "reserved finished")
    [framework] = cluster.devmaster.state()["frameworks"]
    assert task["mesos_id"] in framework["completed_tasks"]
