"""`hippo tasks logs [--stderr] [--follow]`, `hippo status` and the waiting reason in
`hippo tasks list`, against a real `hippo api`, a worker and the dev master."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import start_hippo_api, wait_until

from .conftest import Cluster


@pytest.fixture
def api_for(redis_url: str) -> Iterator[Callable[[Cluster], str]]:
    """Factory: a `hippo api` process reading sandboxes through the cluster's dev master."""
    started: list[subprocess.Popen[bytes]] = []

    def start(cluster: Cluster) -> str:
        process, url = start_hippo_api(redis_url, HIPPO_MESOS_MASTER=cluster.devmaster.url)
        started.append(process)
        return url

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def hippo(url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hippo", *argv, "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_logs_follow_prints_everything_the_task_prints_then_ends(
    make_cluster: Callable[..., Cluster], api_for: Callable[[Cluster], str]
) -> None:
    cluster = make_cluster()
    url = api_for(cluster)
    body = {
        "id": "chatty",
        "container": {"docker": {"image": "alpine"}},
        "cpus": 0.1,
        "mem": 32,
        "cmd": "echo one; sleep 2; echo two; echo bad >&2; sleep 1; echo three",
    }
    mid = httpx.post(f"{url}/tasks/", json=body).json()["mesos_id"]
    # Started before any worker: --follow waits for the launch, then for the end.
    follower = subprocess.Popen(
        [sys.executable, "-m", "hippo", "tasks", "logs", mid, "--follow", "--url", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The worker starts only once the follower said it waits (both are new Python
        # processes: on a loaded machine the worker could launch the task first).
        assert follower.stderr is not None
        told = follower.stderr.readline()
        assert "has not launched" in told and "waiting for it to launch" in told, told
        cluster.start_worker()
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 0, err
    assert out == "one\ntwo\nthree\n"

    stderr = hippo(url, "tasks", "logs", mid, "--stderr")
    assert stderr.returncode == 0 and stderr.stdout.endswith("bad\n")
    plain = hippo(url, "tasks", "logs", mid)
    assert plain.stdout == "one\ntwo\nthree\n"


def test_status_and_the_waiting_reason_in_the_cli(
    make_cluster: Callable[..., Cluster], api_for: Callable[[Cluster], str]
) -> None:
    cluster = make_cluster(cpus=1.0)
    url = api_for(cluster)
    alone = hippo(url, "status")
    assert alone.returncode == 0
    assert "none: no worker leads" in alone.stdout

    cluster.start_worker()
    cluster.leader()
    body = {"id": "huge", "container": {"docker": {"image": "alpine"}}, "cpus": 3, "mem": 32}
    httpx.post(f"{url}/tasks/", json={**body, "cmd": "true"})

    def listed() -> str:
        return hippo(url, "tasks", "list").stdout

    wait_until(lambda: "no offer has enough cpus" in listed(), 30, "the reason in the list")
    shown = hippo(url, "status")
    assert shown.returncode == 0
    lines = dict(line.split(None, 1) for line in shown.stdout.splitlines() if " " in line)
    assert lines["leader"].endswith(f":{cluster.workers[0].pid} (epoch 1)")
    assert lines["master"].startswith(cluster.devmaster.url)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", lines["subscribed_since"])
    assert lines["waiting"] == "1"
