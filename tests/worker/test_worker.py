"""Real worker processes against our Redis and a dev master: tasks from the API run,
retry, get killed, respect max_concurrent and constraints."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from tests.conftest import RedisServer, free_port, wait_until
from tests.mesos.recording_proxy import RecordingProxy

from .conftest import Cluster

JOB = {"container": {"docker": {"image": "alpine"}}, "mem": 32, "cpus": 0.1}


def post_task(api: TestClient, cmd: str, **fields: Any) -> dict[str, Any]:
    response = api.post("/tasks/", json={**JOB, "cmd": cmd, **fields})
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def runs(api: TestClient, task_id: str) -> list[dict[str, Any]]:
    """Every run of a task id, oldest first."""
    page = api.get(f"/tasks/?id={task_id}&limit=1000").json()
    return sorted(page, key=lambda r: r["created_tstamp"])


def state_of(api: TestClient, mesos_id: str) -> str:
    return str(api.get(f"/tasks/{mesos_id}/").json()["mesos_state"])


def test_tasks_from_the_api_run_and_finish_with_their_env(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster()
    cluster.start_worker()
    cluster.start_worker()
    cluster.leader()
    ok = post_task(
        api,
        'test "$HIPPO_TASK_NAME" = hello && test "$GREETING" = hi && test -z "$HIPPO_DATA"',
        id="hello",
        env={"GREETING": "hi"},
    )
    bad = post_task(api, "exit 3", id="bad")
    wait_until(lambda: state_of(api, ok["mesos_id"]) == "TASK_FINISHED", 20, "hello finished")
    record = api.get(f"/tasks/{ok['mesos_id']}/").json()
    assert record["agent_id"] and record["agent_hostname"] and record["started_tstamp"]
    wait_until(lambda: state_of(api, bad["mesos_id"]) == "TASK_FAILED", 20, "bad failed")
    assert len(runs(api, "bad")) == 1  # task_retries defaults to 0


def test_failed_task_is_retried_task_retries_times(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster()
    cluster.start_worker()
    cluster.leader()
    post_task(api, "exit 1", id="flaky", task_retries=2, system_retries=5)

    def third_failed() -> bool:
        found = runs(api, "flaky")
        return len(found) >= 3 and found[2]["mesos_state"] == "TASK_FAILED"

    wait_until(third_failed, 30, "the third run to fail")
    # A retry is created in the same step that stores the failure it follows, so a fourth
    # run would already be listed next to the third failed one.
    found = runs(api, "flaky")
    assert [r["mesos_state"] for r in found] == ["TASK_FAILED"] * 3
    assert [r["task_retries_left"] for r in found] == [2, 1, 0]
    assert [r["system_retries_left"] for r in found] == [5, 5, 5]
    assert found[1]["previous_mesos_id"] == found[0]["mesos_id"]
    assert found[2]["previous_mesos_id"] == found[1]["mesos_id"]


@pytest.mark.parametrize(
    "heard, state, reason",
    [
        (True, "TASK_LOST", "REASON_AGENT_REMOVED"),
        # Unknown task on an agent the master no longer has: case (6) of
        # Master::reconcile, TASK_UNKNOWN to a partition-aware framework.
        (False, "TASK_UNKNOWN", "REASON_RECONCILIATION"),
    ],
    ids=["update-heard", "found-by-reconciliation"],
)
def test_lost_task_spends_system_retries(
    make_cluster: Callable[..., Cluster], api: TestClient, heard: bool, state: str, reason: str
) -> None:
    # TASK_LOST spends a system retry whatever its reason (retries.py), unlike TASK_FAILED,
    # where only a reason blaming the cluster does. REASON_RECONCILIATION blames nothing:
    # a lost task counted as a failed one would spend a task retry there.
    cluster = make_cluster(agents=1, heartbeat_interval_s=0.5)
    cluster.start_worker()
    cluster.leader()
    first = post_task(api, "sleep 60", id="lost", task_retries=3, system_retries=1)
    wait_until(lambda: state_of(api, first["mesos_id"]) == "TASK_RUNNING", 20, "running")
    agent = cluster.mesos_tasks()[0]["agent_id"]
    if heard:
        cluster.devmaster.remove_agent(agent)
    else:
        # In one step on the master: the subscription goes silent, then the agent and its
        # task go. The update is never heard; the worker re-subscribes after the missed
        # heartbeats, reconciles, and the master answers that it knows no such task.
        master = cluster.devmaster.master
        assert master is not None
        framework_id = cluster.devmaster.state()["frameworks"][0]["id"]

        def lose_unheard() -> None:
            master.drop_stream(framework_id, mute=True)
            master.remove_agent(agent)

        cluster.devmaster.call(lose_unheard)
    wait_until(lambda: len(runs(api, "lost")) == 2, 20, "a second run")
    found = runs(api, "lost")
    assert (found[0]["mesos_state"], found[0]["status_reason"]) == (state, reason)
    assert (found[1]["system_retries_left"], found[1]["task_retries_left"]) == (0, 3)
    cluster.devmaster.add_agent()
    wait_until(lambda: state_of(api, found[1]["mesos_id"]) == "TASK_RUNNING", 20, "rerun")
    api.post(f"/tasks/{found[1]['mesos_id']}/kill/")


def test_kill_reaches_mesos_and_is_not_retried(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(kill_grace_s=0.5)
    cluster.start_worker()
    cluster.leader()
    task = post_task(api, "sleep 60", id="sleeper", task_retries=3)
    wait_until(lambda: state_of(api, task["mesos_id"]) == "TASK_RUNNING", 20, "running")
    assert api.post(f"/tasks/{task['mesos_id']}/kill/").status_code == 202
    # How soon is a benchmark (bench/scheduler.py); the deadline only bounds the wait.
    wait_until(lambda: state_of(api, task["mesos_id"]) == "TASK_KILLED", 60, "killed")
    assert len(runs(api, "sleeper")) == 1


def test_a_waiting_task_killed_is_never_launched(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(agents=1, cpus=1)
    cluster.start_worker()
    cluster.leader()
    big = post_task(api, "sleep 60", id="big", cpus=1)
    wait_until(lambda: state_of(api, big["mesos_id"]) == "TASK_RUNNING", 20, "big running")
    waiting = post_task(api, "true", id="later")  # no room left: it waits
    assert api.post(f"/tasks/{waiting['mesos_id']}/kill/").status_code == 200
    # The same shape, created after the kill: rounds take waiting tasks oldest first, so
    # `later`, were it still launchable, would be launched no later than this one.
    witness = post_task(api, "true", id="witness")
    api.post(f"/tasks/{big['mesos_id']}/kill/")
    wait_until(lambda: state_of(api, witness["mesos_id"]) == "TASK_FINISHED", 20, "witness ran")
    launched = cluster.launched_task_ids()
    assert witness["mesos_id"] in launched
    assert waiting["mesos_id"] not in launched
    assert state_of(api, waiting["mesos_id"]) == "TASK_KILLED"


def test_max_concurrent_holds(make_cluster: Callable[..., Cluster], api: TestClient) -> None:
    cluster = make_cluster(agents=3, simulate_s=0.4)
    cluster.start_worker()
    cluster.start_worker()
    cluster.leader()
    for _ in range(8):
        post_task(api, "true", id="capped", max_concurrent=2)
    most = 0

    def all_finished() -> bool:
        nonlocal most
        running = [
            t
            for t in cluster.mesos_tasks()
            if t["id"].startswith("capped.") and t["state"] != "TASK_FINISHED"
        ]
        most = max(most, len(running))
        found = runs(api, "capped")
        return len(found) == 8 and all(r["mesos_state"] == "TASK_FINISHED" for r in found)

    wait_until(all_finished, 30, "8 capped tasks finished")
    assert 1 <= most <= 2


def test_constraints_hold(make_cluster: Callable[..., Cluster], api: TestClient) -> None:
    cluster = make_cluster(agents=3, attributes="rack:r{i}", simulate_s=30)
    cluster.start_worker()
    cluster.leader()
    for _ in range(3):
        post_task(api, "true", id="pinned", constraints=[["rack", "EQUAL", "r2"]])
        post_task(api, "true", id="spread", constraints=[["hostname", "UNIQUE"]])
    post_task(api, "true", id="spread", constraints=[["hostname", "UNIQUE"]])  # no 4th host

    def placed() -> list[dict[str, Any]]:
        found = runs(api, "pinned") + runs(api, "spread")
        staged = [r for r in found if r["agent_id"]]
        return staged if len(staged) == 6 else []

    staged = wait_until(placed, 20, "six tasks placed")
    agents = {a["id"]: a for a in cluster.devmaster.state()["agents"]}
    racks = {json.dumps(agents[r["agent_id"]]["attributes"]) for r in staged if r["id"] == "pinned"}
    assert len(racks) == 1 and '"r2"' in racks.pop()
    assert len({r["agent_id"] for r in staged if r["id"] == "spread"}) == 3
    assert sum(r["mesos_state"] == "WAITING_ON_OFFERS" for r in runs(api, "spread")) == 1


def test_metrics_show_the_leader_and_launches(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(simulate_s=0.1)
    port = free_port()
    cluster.start_worker(metrics_port=port)
    cluster.leader()
    task = post_task(api, "true", id="measured")
    wait_until(lambda: state_of(api, task["mesos_id"]) == "TASK_FINISHED", 20, "finished")

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    text = str(
        wait_until(lambda: "hippo_tasks_launched_total 1.0" in scrape() and scrape(), 10, "metrics")
    )
    assert "hippo_worker_leader 1.0" in text
    assert 'hippo_status_updates_total{state="TASK_FINISHED"} 1.0' in text
    assert "hippo_launch_latency_seconds_count 1.0" in text
    assert "hippo_poll_last_claim_timestamp_seconds" in text  # polling metrics too


def test_healthz_tells_leader_last_poll_and_redis(
    make_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    server = RedisServer(tmp_path)  # a Redis of this test's own, to stop and start
    server.start()
    try:
        _check_health_while_redis_comes_and_goes(make_cluster, server)
    finally:
        server.stop()  # also when the test fails before its end


def _check_health_while_redis_comes_and_goes(
    make_cluster: Callable[..., Cluster], server: RedisServer
) -> None:
    cluster = make_cluster()
    cluster.redis.close()
    cluster.redis_url, cluster.redis = server.url, redis.Redis.from_url(server.url)
    leader_port, standby_port = free_port(), free_port()
    cluster.start_worker(metrics_port=leader_port)
    cluster.leader()
    cluster.start_worker(metrics_port=standby_port)

    def health(port: int) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
        except urllib.error.URLError:  # not listening yet
            return 0, {"last_poll_tstamp": None}

    status, body = wait_until(
        lambda: (h := health(leader_port))[1]["last_poll_tstamp"] and h, 10, "a first poll"
    )
    assert status == 200 and body["leader"] is True and body["redis_reachable"] is True
    assert abs(body["last_poll_tstamp"] - time.time()) < 30
    status, body = wait_until(
        lambda: (h := health(standby_port))[1]["last_poll_tstamp"] and h,
        10,
        "the standby's first poll",
    )
    assert status == 200 and body["leader"] is False

    server.stop()
    status, body = health(standby_port)
    assert status == 503 and body["redis_reachable"] is False


@pytest.mark.slow
def test_sigterm_hands_leadership_over_without_waiting_for_expiry(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(simulate_s=600)
    # A lock that would expire only after an hour: a standby leading within the
    # deadline below got it released, not expired. (How soon: bench/scheduler.py.)
    cluster.start_worker(HIPPO_LOCK_EXPIRE_S="3600")
    cluster.start_worker(HIPPO_LOCK_EXPIRE_S="3600")
    first = cluster.leader()
    task = post_task(api, "true", id="survivor")
    wait_until(lambda: state_of(api, task["mesos_id"]) == "TASK_RUNNING", 20, "running")
    epoch = cluster.epoch()
    assert first.terminate() == 0
    second = cluster.leader(timeout_s=60, after_epoch=epoch)
    assert second is not first
    # No TEARDOWN: the task still runs, under the same framework.
    assert [t["state"] for t in cluster.mesos_tasks()] == ["TASK_RUNNING"]
    assert len(cluster.devmaster.state()["frameworks"]) == 1


def test_worker_authenticates_with_principal_and_secret(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(credentials={"hippo-prod": "s3cret"})
    worker = cluster.start_worker(HIPPO_MESOS_PRINCIPAL="hippo-prod", HIPPO_MESOS_SECRET="s3cret")
    cluster.leader()
    task = post_task(api, "true", id="authenticated")
    wait_until(lambda: state_of(api, task["mesos_id"]) == "TASK_FINISHED", 20, "task finished")
    # The dev master answers 401 without these credentials, so the task could not run.
    assert "s3cret" not in worker.log


def test_acknowledgements_carry_the_authorization_header_when_a_secret_is_set(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(credentials={"hippo-prod": "s3cret"}, simulate_s=0.2)
    host, _, port = cluster.devmaster.address.rpartition(":")
    proxy = RecordingProxy(host, int(port)).start()
    try:
        cluster.start_worker(
            HIPPO_MESOS_MASTER=proxy.address,
            HIPPO_MESOS_PRINCIPAL="hippo-prod",
            HIPPO_MESOS_SECRET="s3cret",
        )
        cluster.leader()
        task = post_task(api, "true", id="acknowledged")
        wait_until(lambda: state_of(api, task["mesos_id"]) == "TASK_FINISHED", 20, "finished")
        # The master forgets a task once every update of it is acknowledged.
        wait_until(lambda: not cluster.mesos_tasks(), 20, "every update acknowledged")
        acks = proxy.calls("ACKNOWLEDGE")
        basic = "Basic " + base64.b64encode(b"hippo-prod:s3cret").decode()
        assert len(acks) >= 3  # STARTING, RUNNING, FINISHED
        assert {c.headers.get("authorization") for c in acks} == {basic}
    finally:
        proxy.stop()
