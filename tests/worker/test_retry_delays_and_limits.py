"""Retry delays and run time limits with real workers, our Redis and the dev master: a
delayed retry waits without holding offers and launches once due; a run past
max_runtime_seconds is killed with a reason saying so and retried from task_retries,
across a leader failover too; a run no offer was taken for in time fails."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from starlette.testclient import TestClient

from tests.conftest import wait_until
from tests.mesos.recording_proxy import RecordingProxy
from tests.sources.conftest import create_queue

from .conftest import Cluster
from .test_worker import post_task, runs, state_of


def suppressed(cluster: Cluster) -> bool:
    frameworks = cluster.devmaster.state()["frameworks"]
    return bool(frameworks) and frameworks[0]["suppressed_roles"] == ["*"]


def test_a_delayed_retry_waits_without_holding_offers_then_launches_when_due(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster()
    host, _, port = cluster.devmaster.address.rpartition(":")
    proxy = RecordingProxy(host, int(port)).start()
    try:
        cluster.start_worker(HIPPO_MESOS_MASTER=proxy.address)
        cluster.leader()
        post_task(api, "exit 1", id="later", task_retries=1, retry_delay_seconds=10)
        wait_until(lambda: len(runs(api, "later")) == 2, 20, "the retry")
        first, retry = runs(api, "later")
        assert first["mesos_state"] == "TASK_FAILED"
        due = first["finished_tstamp"] + 10
        assert retry["retry_due_tstamp"] == due
        when = datetime.datetime.fromtimestamp(due, datetime.UTC)
        assert retry["pending_reason"] == f"retry due at {when:%Y-%m-%dT%H:%M:%SZ}"

        # While it is not due, nothing waits: offers are declined and suppressed.
        def suppressed_while_the_retry_waits() -> bool:
            return (
                suppressed(cluster)
                and api.get(f"/tasks/{retry['mesos_id']}/").json()["pending_reason"] is not None
            )

        wait_until(suppressed_while_the_retry_waits, 8, "offers suppressed before the retry is due")
        revives = len(proxy.calls("REVIVE"))
        wait_until(lambda: state_of(api, retry["mesos_id"]) == "TASK_FAILED", 30, "the retry ran")
        ran = api.get(f"/tasks/{retry['mesos_id']}/").json()
        assert ran["started_tstamp"] >= due and ran["pending_reason"] is None
        assert len(proxy.calls("REVIVE")) > revives  # due: offers asked for again
        assert len(runs(api, "later")) == 2
    finally:
        proxy.stop()


def test_a_run_past_max_runtime_seconds_is_killed_and_retried_from_task_retries(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster()
    cluster.start_worker()
    cluster.leader()
    post_task(api, "sleep 60", id="slowpoke", task_retries=1, max_runtime_seconds=1.5)

    def both_killed() -> bool:
        found = runs(api, "slowpoke")
        return len(found) == 2 and found[1]["mesos_state"] == "TASK_KILLED"

    wait_until(both_killed, 40, "both runs killed")
    for run in runs(api, "slowpoke"):
        assert run["timed_out"] == "max_runtime_seconds"
        assert run["status_reason"] == "HIPPO_MAX_RUNTIME_EXCEEDED"
        assert run["status_message"] == "killed: ran longer than max_runtime_seconds (1.5 s)"
        assert run["finished_tstamp"] - run["started_tstamp"] >= 1.5
    assert [r["task_retries_left"] for r in runs(api, "slowpoke")] == [1, 0]


def test_max_runtime_seconds_is_kept_across_a_leader_failover(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster()
    cluster.start_worker()
    cluster.start_worker()
    first = cluster.leader()
    task = post_task(api, "sleep 60", id="outlived", max_runtime_seconds=4)
    wait_until(lambda: state_of(api, task["mesos_id"]) == "TASK_RUNNING", 20, "running")
    epoch = cluster.epoch()
    first.kill()
    cluster.leader(after_epoch=epoch)
    wait_until(lambda: state_of(api, task["mesos_id"]) == "TASK_KILLED", 30, "killed")
    ended = api.get(f"/tasks/{task['mesos_id']}/").json()
    assert ended["status_reason"] == "HIPPO_MAX_RUNTIME_EXCEEDED"
    assert not cluster.mesos_tasks()


def test_a_run_no_offer_was_taken_for_within_max_pending_seconds_fails(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster()
    cluster.start_worker()
    cluster.leader()
    # No agent of the dev master has 64 cpus: no offer ever fits.
    task = post_task(api, "true", id="huge", cpus=64, max_pending_seconds=2, task_retries=2)
    wait_until(lambda: state_of(api, task["mesos_id"]) == "TASK_FAILED", 20, "failed")
    ended = api.get(f"/tasks/{task['mesos_id']}/").json()
    assert ended["timed_out"] == "max_pending_seconds"
    assert ended["status_reason"] == "HIPPO_MAX_PENDING_EXCEEDED"
    assert ended["started_tstamp"] is None
    assert len(runs(api, "huge")) == 1  # not retried


def test_a_queues_retry_delay_and_time_limit_apply_to_the_tasks_it_makes(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster()
    # One fire time on the first poll, then none for a minute.
    queue_id = create_queue(
        api,
        "cron",
        {"cronstring": "* * * * * *", "maxbacklog": 1},
        frequency_seconds=60,
    )
    body = api.get(f"/queues/{queue_id}/").json()
    body.update(cmd="sleep 60", task_retries=1, retry_delay_seconds=1.5, max_runtime_seconds=1)
    api.put(f"/queues/{queue_id}/", json=body).raise_for_status()
    cluster.start_worker()
    cluster.leader()

    def both_killed() -> bool:
        found = runs(api, queue_id)
        return len(found) == 2 and found[1]["mesos_state"] == "TASK_KILLED"

    wait_until(both_killed, 40, "both runs of the queue's task killed")
    first, retry = runs(api, queue_id)
    assert [r["status_reason"] for r in (first, retry)] == ["HIPPO_MAX_RUNTIME_EXCEEDED"] * 2
    assert retry["retry_due_tstamp"] == first["finished_tstamp"] + 1.5
    assert retry["started_tstamp"] >= retry["retry_due_tstamp"]
