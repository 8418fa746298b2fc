"""The /tasks/ routes: one-off tasks, records, pagination, filters, idempotency, kills."""

from __future__ import annotations

import json
import time

import pytest
import redis
from starlette.testclient import TestClient

from tests.examples import SPEC_TASK, task


def test_spec_task_is_created_waiting_on_offers(api: TestClient) -> None:
    response = api.post("/tasks/", json=SPEC_TASK)
    assert response.status_code == 201
    record = response.json()
    assert record["id"] == "myId"
    assert record["mesos_id"].startswith("myId.")
    assert record["mesos_state"] == "WAITING_ON_OFFERS"
    assert record["task_retries_left"] == 0
    assert record["system_retries_left"] == 2
    assert record["max_concurrent"] == 10
    assert record["queue_id"] is None
    assert record["created_tstamp"] == pytest.approx(time.time(), abs=60)
    assert api.get(f"/tasks/{record['mesos_id']}/").json() == record
    assert api.get(f"/tasks/{record['mesos_id']}").json() == record


def test_id_is_generated_when_missing(api: TestClient) -> None:
    body = task()
    del body["id"]
    record = api.post("/tasks", json=body).json()
    assert record["id"]
    assert record["mesos_id"].startswith(record["id"] + ".")


def test_env_values_become_strings(api: TestClient) -> None:
    record = api.post("/tasks/", json=task(env={"N": 3, "F": 1.5, "B": True})).json()
    assert record["env"] == {"N": "3", "F": "1.5", "B": "true"}


def test_idempotency_key_returns_the_first_task(api: TestClient) -> None:
    first = api.post("/tasks/", json=SPEC_TASK, headers={"Idempotency-Key": "abc-1"})
    again = api.post("/tasks/", json=SPEC_TASK, headers={"Idempotency-Key": "abc-1"})
    other = api.post("/tasks/", json=SPEC_TASK, headers={"Idempotency-Key": "abc-2"})
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json()["mesos_id"] == first.json()["mesos_id"]
    assert other.json()["mesos_id"] != first.json()["mesos_id"]
    assert len(api.get("/tasks/").json()) == 2


def test_bad_idempotency_key_is_refused(api: TestClient) -> None:
    response = api.post("/tasks/", json=SPEC_TASK, headers={"Idempotency-Key": "has space"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


def test_list_pages_newest_first_with_a_cursor(api: TestClient) -> None:
    made = [api.post("/tasks/", json=task(id=f"t{n}")).json()["mesos_id"] for n in range(7)]
    seen = []
    url = "/tasks/?limit=3"
    pages = 0
    while url:
        response = api.get(url)
        seen += [t["mesos_id"] for t in response.json()]
        pages += 1
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else ""
        assert (response.headers.get("x-next-cursor") is None) == (not link)
    assert seen == made[::-1]
    assert pages == 3


def test_tasks_created_while_paging_do_not_shift_the_pages(api: TestClient) -> None:
    made = [api.post("/tasks/", json=task(id=f"t{n}")).json()["mesos_id"] for n in range(6)]
    first = api.get("/tasks/?limit=3")
    for n in range(4):
        api.post("/tasks/", json=task(id=f"late{n}"))
    cursor = first.headers["x-next-cursor"]
    second = api.get(f"/tasks/?limit=3&cursor={cursor}")
    assert [t["mesos_id"] for t in first.json() + second.json()] == made[::-1]
    assert "x-next-cursor" not in second.headers


@pytest.mark.parametrize(
    "query, expected",
    [
        ("id=a", ["a2", "a1"]),
        ("queue_id=q1", []),
        ("state=TASK_KILLED", ["b1"]),
        ("state=WAITING_ON_OFFERS&id=a", ["a2", "a1"]),
        ("state=TASK_KILLED&id=a", []),
    ],
)
def test_list_filters(api: TestClient, query: str, expected: list[str]) -> None:
    names = {}
    for name in ("a1", "b1", "a2"):
        names[api.post("/tasks/", json=task(id=name[0])).json()["mesos_id"]] = name
    killed = next(m for m, n in names.items() if n == "b1")
    api.post(f"/tasks/{killed}/kill/")
    listed = api.get(f"/tasks/?{query}").json()
    assert [names[t["mesos_id"]] for t in listed] == expected


def test_list_filters_by_queue(api: TestClient, raw_redis: redis.Redis) -> None:
    record = api.post("/tasks/", json=task()).json()
    api.post("/tasks/", json=task())
    # Queue tasks are made by pollers (a later part); index one by hand here.
    raw_redis.zadd("hippo:tasks:queue:q9", {record["mesos_id"]: 1})
    assert [t["mesos_id"] for t in api.get("/tasks/?queue_id=q9").json()] == [record["mesos_id"]]


@pytest.mark.parametrize(
    "query, field",
    [
        ("state=RUNNING", "state"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("cursor=x", "cursor"),
        ("id=a/b", "id"),
    ],
)
def test_bad_list_parameters_are_named(api: TestClient, query: str, field: str) -> None:
    response = api.get(f"/tasks/?{query}")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_waiting_task_killed_is_never_left_waiting(api: TestClient) -> None:
    mesos_id = api.post("/tasks/", json=SPEC_TASK).json()["mesos_id"]
    response = api.get(f"/tasks/{mesos_id}/kill/")
    assert response.status_code == 200
    record = response.json()
    assert record["mesos_state"] == "TASK_KILLED"
    assert record["kill_requested"] is True
    assert record["finished_tstamp"] is not None
    assert api.get("/tasks/?state=WAITING_ON_OFFERS").json() == []
    assert api.post(f"/tasks/{mesos_id}/kill/").status_code == 409


def test_kill_of_a_running_task_is_queued_for_the_leader(
    api: TestClient, raw_redis: redis.Redis
) -> None:
    mesos_id = api.post("/tasks/", json=SPEC_TASK).json()["mesos_id"]
    _pretend_running(raw_redis, mesos_id)
    pubsub = raw_redis.pubsub()
    pubsub.subscribe("hippo:events")
    pubsub.get_message(timeout=1)

    response = api.post(f"/tasks/{mesos_id}/kill")

    assert response.status_code == 202
    assert response.json()["mesos_state"] == "TASK_RUNNING"
    assert response.json()["kill_requested"] is True
    assert raw_redis.smembers("hippo:kills") == {mesos_id.encode()}
    assert pubsub.get_message(timeout=1)["data"] == b"kill"
    pubsub.close()


def test_delete_removes_the_record_everywhere(api: TestClient) -> None:
    mesos_id = api.post("/tasks/", json=SPEC_TASK).json()["mesos_id"]
    assert api.delete(f"/tasks/{mesos_id}/").json() == {"mesos_id": mesos_id, "deleted": True}
    assert api.get(f"/tasks/{mesos_id}/").status_code == 404
    assert api.get("/tasks/?id=myId").json() == []
    assert api.delete(f"/tasks/{mesos_id}/").status_code == 404


def test_delete_of_a_running_task_is_refused(api: TestClient, raw_redis: redis.Redis) -> None:
    mesos_id = api.post("/tasks/", json=SPEC_TASK).json()["mesos_id"]
    _pretend_running(raw_redis, mesos_id)
    response = api.delete(f"/tasks/{mesos_id}/")
    assert response.status_code == 409
    assert "kill it first" in response.json()["error"]
    assert api.get(f"/tasks/{mesos_id}/").status_code == 200


def test_unknown_task_is_404_json(api: TestClient) -> None:
    for response in (api.get("/tasks/nope.1/"), api.post("/tasks/nope.1/kill/")):
        assert response.status_code == 404
        assert response.json() == {"error": "no task nope.1"}


def _pretend_running(client: redis.Redis, mesos_id: str) -> None:
    """What the leader will do on TASK_RUNNING (a later part), done by hand."""
    key = f"hippo:task:{mesos_id}"
    status = json.loads(client.hget(key, "status"))
    status["mesos_state"] = "TASK_RUNNING"
    seq = client.hget(key, "seq")
    client.hset(key, "status", json.dumps(status))
    client.zrem("hippo:tasks:state:WAITING_ON_OFFERS", mesos_id)
    client.zadd("hippo:tasks:state:TASK_RUNNING", {mesos_id: int(seq)})
