"""The original Hippo's unpaged GET /tasks/ (every task, up to HIPPO_TASKS_UNPAGED_MAX)
beside Link paging, and its dedupe of one-off tasks (HIPPO_DEDUPE_ONE_OFF_TASKS)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis
from starlette.testclient import TestClient

from hippo.shared.model import parse_task
from hippo.shared.store.leadership import StatusUpdate
from hippo.shared.store.tasks import dedupe_digest
from tests.examples import task
from tests.worker.test_fenced_scripts import Leaders, run

MakeClient = Callable[..., TestClient]


def _post_tasks(api: TestClient, count: int) -> list[str]:
    return [api.post("/tasks/", json=task(cmd=f"job {n}")).json()["mesos_id"] for n in range(count)]


def test_an_unpaged_list_has_every_task_up_to_the_bound_and_a_link_beyond(
    make_client: MakeClient,
) -> None:
    api = make_client(HIPPO_TASKS_UNPAGED_MAX="130")
    made = _post_tasks(api, 120)
    everything = api.get("/tasks/")
    assert [t["mesos_id"] for t in everything.json()] == made[::-1]
    assert "Link" not in everything.headers

    paged = api.get("/tasks/?limit=100")  # new clients page as before
    assert len(paged.json()) == 100 and 'rel="next"' in paged.headers["Link"]

    made += _post_tasks(api, 20)
    bounded = api.get("/tasks/")
    assert [t["mesos_id"] for t in bounded.json()] == made[::-1][:130]
    link = bounded.headers["Link"].split(">")[0].lstrip("<")
    rest = api.get(link).json()
    assert [t["mesos_id"] for t in rest] == made[::-1][130:]


def test_duplicate_one_off_tasks_answer_the_live_one_only_when_asked_for(
    make_client: MakeClient, raw_redis: redis.Redis
) -> None:
    plain = make_client()
    first, second = (plain.post("/tasks/", json=task(id="t")) for _ in range(2))
    assert (first.status_code, second.status_code) == (201, 201)

    api = make_client(HIPPO_DEDUPE_ONE_OFF_TASKS="true")
    original = api.post("/tasks/", json=task(id="a", cmd="run it"))
    assert original.status_code == 201
    mesos_id = original.json()["mesos_id"]
    # Same cmd and image, anything else different: the waiting task answers.
    again = api.post("/tasks/", json=task(id="b", cmd="run it", cpus=2))
    assert (again.status_code, again.json()) == (200, api.get(f"/tasks/{mesos_id}/").json())
    assert api.post("/tasks/", json=task(cmd="other")).status_code == 201
    other_image = task(cmd="run it")
    other_image["container"]["docker"]["image"] = "other:1"
    assert api.post("/tasks/", json=other_image).status_code == 201

    api.post(f"/tasks/{mesos_id}/kill/")  # finished: no longer a duplicate
    after_kill = api.post("/tasks/", json=task(id="c", cmd="run it"))
    assert after_kill.status_code == 201
    newest = after_kill.json()["mesos_id"]
    api.post(f"/tasks/{newest}/kill/")
    api.delete(f"/tasks/{newest}/")
    digest = dedupe_digest(parse_task(task(cmd="run it")))
    keys = {k.decode() for k in raw_redis.keys("hippo:tasks:dedupe:*")}
    assert len(keys) == 2 and f"hippo:tasks:dedupe:{digest}" not in keys  # gone with its task


def test_a_duplicate_of_a_task_being_retried_is_its_current_run(redis_url: str) -> None:
    async def scenario(t: Leaders) -> tuple[str, dict[str, Any], bool]:
        epoch = await t.epoch()
        body = parse_task(task(id="r", cmd="flaky", task_retries=1))
        record, _ = await t.store.create_task(body, now=1.0, dedupe=True)
        first = json.loads(record)["mesos_id"]
        await t.claim(epoch, first)
        update = StatusUpdate(first, "TASK_FAILED", "", "", "S1", "task", "fresh")
        (outcome,) = await t.leader.record_updates(epoch, 3.0, [update])
        answer, created = await t.store.create_task(body, now=4.0, dedupe=True)
        return outcome.detail, json.loads(answer), created

    retry, answered, created = run(redis_url, scenario)
    assert not created and answered["mesos_id"] == retry
