"""Dead letters against real workers and a dev master: a queue item whose task spends
its retries is kept with its data, its runs and the last reason, and can be run again
or discarded; a finished item, or one a user killed, is not a dead letter."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
from starlette.testclient import TestClient

from tests.conftest import wait_until
from tests.test_api_openapi import check_exchange

from .conftest import Cluster


def make_queue(api: TestClient, redis_url: str, cmd: str, **fields: Any) -> tuple[str, str]:
    """A redis queue on database 1 of our Redis running `cmd`; (queue id, list name)."""
    parts = urlsplit(redis_url)
    name = f"work-{uuid.uuid4().hex[:8]}"
    body = {
        "id": f"q-{uuid.uuid4().hex[:8]}",
        "container": {"docker": {"image": "alpine"}},
        "mem": 32,
        "cpus": 0.1,
        "cmd": cmd,
        **fields,
        "queue": {
            "type": "redis",
            "frequency_seconds": 0.2,
            "redis": {"host": parts.hostname, "port": parts.port, "db": 1, "name": name},
        },
    }
    response = api.post("/queues/", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), name


def list_client(redis_url: str) -> redis.Redis:
    """Our Redis, database 1: where make_queue's lists are."""
    parts = urlsplit(redis_url)
    return redis.Redis(host=parts.hostname, port=parts.port, db=1)


def documented(api: TestClient, method: str, url: str) -> Any:
    """The answer to a request, checked against /openapi.json."""
    response = api.request(method, url)
    check_exchange(api.get("/openapi.json").json(), method, url, None, response)
    return response


def dead_letters(api: TestClient, queue_id: str) -> list[dict[str, Any]]:
    response = documented(api, "GET", f"/queues/{queue_id}/deadletters/")
    assert response.status_code == 200, response.text
    return list(response.json())


def queue_runs(api: TestClient, queue_id: str) -> list[dict[str, Any]]:
    page = api.get(f"/tasks/?queue_id={queue_id}&limit=1000").json()
    return sorted(page, key=lambda r: r["created_tstamp"])


def test_an_item_whose_task_spends_its_retries_is_a_dead_letter_run_again_or_discarded(
    make_cluster: Callable[..., Cluster], api: TestClient, redis_url: str
) -> None:
    queue_id, name = make_queue(
        api, redis_url, 'test "$HIPPO_DATA" = good || exit 3', task_retries=1
    )
    source = list_client(redis_url)
    source.rpush(name, "bad-one", "good")
    cluster = make_cluster()
    cluster.start_worker()
    wait_until(lambda: dead_letters(api, queue_id), 30, "a dead letter")
    [dead] = dead_letters(api, queue_id)
    runs = [r for r in queue_runs(api, queue_id) if r["env"]["HIPPO_DATA"] == "bad-one"]
    assert [r["mesos_state"] for r in runs] == ["TASK_FAILED", "TASK_FAILED"]
    assert dead["id"] == runs[1]["mesos_id"]  # the last run
    assert dead["cause"] == "retries_exhausted"
    assert dead["queue_id"] == queue_id and dead["task_id"] == queue_id
    assert dead["data"] == "bad-one" and dead["data_base64"] == "YmFkLW9uZQ=="
    assert dead["mesos_state"] == "TASK_FAILED"
    assert dead["status_message"] and "3" in dead["status_message"]
    assert [r["mesos_id"] for r in dead["runs"]] == [r["mesos_id"] for r in runs]
    assert [r["mesos_state"] for r in dead["runs"]] == ["TASK_FAILED"] * 2
    assert all(r["agent_hostname"] and r["finished_tstamp"] for r in dead["runs"])
    # The finished item is no dead letter.
    assert len(dead_letters(api, queue_id)) == 1
    assert api.get(f"/queues/{queue_id}/deadletters/{dead['id']}/").json() == dead

    # Run again: a new task of the queue with the item's data and fresh retries, which
    # fails twice more and is a dead letter again, its runs going back through the first.
    rerun = documented(api, "POST", f"/queues/{queue_id}/deadletters/{dead['id']}/rerun/")
    assert rerun.status_code == 201, rerun.text
    task = rerun.json()
    assert task["env"]["HIPPO_DATA"] == "bad-one" and task["task_retries_left"] == 1
    assert task["previous_mesos_id"] == dead["id"] and task["queue_id"] == queue_id
    # The worker may run the new task and spend its retries before the next read, so
    # "no dead letter now" cannot be asserted; "the old one is gone" can: the item's one
    # dead letter ends up being the new task's, never beside the old one.
    wait_until(
        lambda: [d["id"] for d in dead_letters(api, queue_id)] not in ([], [dead["id"]]),
        30,
        "the dead letter again",
    )
    [again] = dead_letters(api, queue_id)
    assert len(again["runs"]) == 4 and again["runs"][2]["mesos_id"] == task["mesos_id"]
    assert api.post(f"/queues/{queue_id}/deadletters/{dead['id']}/rerun/").status_code == 404

    # Discard one, then all; run all again.
    source.rpush(name, "bad-two")
    wait_until(lambda: len(dead_letters(api, queue_id)) == 2, 30, "a second dead letter")
    newest, oldest = dead_letters(api, queue_id)
    assert newest["data"] == "bad-two" and oldest["id"] == again["id"]
    page = api.get(f"/queues/{queue_id}/deadletters/?limit=1")
    assert [d["id"] for d in page.json()] == [newest["id"]]
    rest = api.get(
        f"/queues/{queue_id}/deadletters/?limit=1&cursor={page.headers['X-Next-Cursor']}"
    )
    assert [d["id"] for d in rest.json()] == [oldest["id"]] and "X-Next-Cursor" not in rest.headers
    all_again = documented(api, "POST", f"/queues/{queue_id}/deadletters/rerun/")
    assert all_again.status_code == 200
    assert {r["id"] for r in all_again.json()["rerun"]} == {newest["id"], oldest["id"]}
    assert all_again.json()["refused"] == []
    wait_until(lambda: len(dead_letters(api, queue_id)) == 2, 30, "both dead again")
    first = dead_letters(api, queue_id)[0]
    assert documented(api, "DELETE", f"/queues/{queue_id}/deadletters/{first['id']}/").json() == {
        "id": first["id"],
        "discarded": True,
    }
    assert len(dead_letters(api, queue_id)) == 1
    assert documented(api, "DELETE", f"/queues/{queue_id}/deadletters/").json() == {
        "queue_id": queue_id,
        "discarded": 1,
    }
    assert dead_letters(api, queue_id) == []
    source.close()


def test_a_killed_item_is_not_a_dead_letter_and_a_deleted_queue_takes_its_own(
    make_cluster: Callable[..., Cluster], api: TestClient, redis_url: str, raw_redis: redis.Redis
) -> None:
    cluster = make_cluster()
    cluster.start_worker()
    cluster.leader()
    queue_id, name = make_queue(api, redis_url, 'test "$HIPPO_DATA" = fail && exit 1; sleep 60')
    source = list_client(redis_url)
    source.rpush(name, "fail", "long")
    wait_until(lambda: dead_letters(api, queue_id), 30, "the failed item's dead letter")

    def running() -> list[dict[str, Any]]:
        return [r for r in queue_runs(api, queue_id) if r["mesos_state"] == "TASK_RUNNING"]

    [long_run] = wait_until(running, 30, "the long item running")  # type: ignore[misc]
    assert api.post(f"/tasks/{long_run['mesos_id']}/kill/").status_code == 202
    wait_until(
        lambda: api.get(f"/tasks/{long_run['mesos_id']}/").json()["mesos_state"] == "TASK_KILLED",
        30,
        "the kill",
    )
    assert [d["data"] for d in dead_letters(api, queue_id)] == ["fail"]
    assert api.delete(f"/queues/{queue_id}/").status_code == 200
    assert api.get(f"/queues/{queue_id}/deadletters/").status_code == 404
    assert not list(raw_redis.scan_iter(f"hippo:deadletters:*{queue_id}"))
    source.close()


def test_an_item_no_offer_was_taken_for_within_max_pending_seconds_is_a_dead_letter(
    make_cluster: Callable[..., Cluster], api: TestClient, redis_url: str
) -> None:
    cluster = make_cluster()
    cluster.start_worker()
    cluster.leader()
    queue_id, name = make_queue(api, redis_url, "true", cpus=500, max_pending_seconds=1)
    source = list_client(redis_url)
    source.rpush(name, "too-big")
    [dead] = wait_until(lambda: dead_letters(api, queue_id), 30, "a dead letter")  # type: ignore[misc]
    assert dead["cause"] == "retries_exhausted" and dead["data"] == "too-big"
    assert dead["mesos_state"] == "TASK_FAILED"
    assert dead["status_reason"] == "HIPPO_MAX_PENDING_EXCEEDED"
    assert [r["started_tstamp"] for r in dead["runs"]] == [None]
    source.close()
