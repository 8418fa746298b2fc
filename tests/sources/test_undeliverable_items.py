"""Items a process cannot receive never become tasks that fail on every retry: an item
(or batch) over HIPPO_MAX_ITEM_BYTES, one with a NUL, or one that would make an
environment string longer than execve takes. Such an item becomes a dead letter of its
queue (taken from its source like the others, which become tasks), where it can be
seen, run again once it can run, or discarded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from hippo.worker.polling_tasks import TaskTemplate, undeliverable
from tests.conftest import wait_until
from tests.test_api_openapi import check_exchange

from .conftest import PollerThread, aws_settings, create_queue, queue_fields, task_data
from .test_aws import _messages_in, _sqs_queue

QUEUE = {
    "container": {"docker": {"image": "busybox"}},
    "mem": 32,
    "cpus": 0.1,
    "cmd": 'printf %s "$HIPPO_DATA"',
    "queue": {"type": "redis", "max_concurrent": 10},
}


def problem(data: str, max_item_bytes: int = 96000, **queue: Any) -> str | None:
    spec = TaskTemplate("q", {**QUEUE, **queue}).spec(data)
    return undeliverable(data, spec, max_item_bytes)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("x" * 200_000, "200000 bytes, over HIPPO_MAX_ITEM_BYTES (96000)"),
        ("ü" * 50_000, "100000 bytes, over HIPPO_MAX_ITEM_BYTES (96000)"),  # UTF-8 bytes
        ("a\x00b", "contains a NUL character (at index 1)"),
    ],
)
def test_items_no_process_can_receive_are_named(data: str, expected: str) -> None:
    found = problem(data)
    assert found is not None and expected in found


def test_an_item_within_the_limit_is_deliverable() -> None:
    assert problem("x" * 96000) is None
    assert problem("ünïcödé ✓ 😀 $(x) \n") is None


def test_an_env_value_made_too_long_by_the_item_is_caught() -> None:
    env = {"TWICE": "$HIPPO_DATA$HIPPO_DATA"}
    found = problem("x" * 90_000, env=env)
    assert found is not None and "TWICE" in found and "131072" in found


def test_the_limit_is_a_setting() -> None:
    found = problem("x" * 2000, max_item_bytes=1000)
    assert found is not None and "over HIPPO_MAX_ITEM_BYTES (1000)" in found


def dead_letters(api: TestClient, queue_id: str) -> list[dict[str, Any]]:
    url = f"/queues/{queue_id}/deadletters/"
    response = api.get(url)
    check_exchange(api.get("/openapi.json").json(), "GET", url, None, response)
    assert response.status_code == 200, response.text
    return list(response.json())


@pytest.mark.parametrize(
    ("item", "runnable"),
    [
        ("x" * 97_000, True),  # over HIPPO_MAX_ITEM_BYTES, within what a process takes
        ("x" * 200_000, False),
        ("bad\x00item", False),
    ],
)
def test_an_undeliverable_redis_item_becomes_a_dead_letter_and_the_queue_moves_on(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
    item: str,
    runnable: bool,
) -> None:
    source = redis.Redis(
        host=redis_source["host"], port=redis_source["port"], db=redis_source["db"]
    )
    source.rpush(redis_source["name"], "before", item, "after")
    queue_id = create_queue(api, "redis", redis_source)
    start_poller()
    wait_until(lambda: dead_letters(api, queue_id), what="the dead letter")
    [dead] = dead_letters(api, queue_id)
    assert dead["cause"] == "undeliverable"
    assert dead["data"] == item and dead["runs"] == [] and dead["mesos_state"] is None
    assert dead["status_message"].startswith("never run: the item ")
    assert "HIPPO_MAX_ITEM_BYTES" in dead["status_message"] or "NUL" in dead["status_message"]
    # The items around it became tasks, and nothing is left in the source.
    wait_until(lambda: sorted(task_data(raw_redis, queue_id)) == ["after", "before"], what="tasks")
    held = [k for k in source.scan_iter(f"{redis_source['name']}*") if source.type(k) == b"list"]
    assert [v for k in held for v in source.lrange(k, 0, -1)] == []
    assert "last_error" not in queue_fields(raw_redis, queue_id)
    # Run again: an item no process can receive still cannot run (409, naming why); one
    # only over HIPPO_MAX_ITEM_BYTES, within what a process takes, can.
    rerun = api.post(f"/queues/{queue_id}/deadletters/{dead['id']}/rerun/")
    if not runnable:
        assert rerun.status_code == 409, rerun.text
        why = "must not contain a NUL character" if "\x00" in item else "is 200000 bytes"
        assert f"env.HIPPO_DATA: {why}" in rerun.json()["error"]
        assert len(rerun.json()["error"]) < 2000  # the data is not echoed whole
        assert [d["id"] for d in dead_letters(api, queue_id)] == [dead["id"]]
    else:
        assert rerun.status_code == 201, rerun.text
        assert rerun.json()["queue_id"] == queue_id
        assert rerun.json()["mesos_state"] == "WAITING_ON_OFFERS"
        assert rerun.json()["env"]["HIPPO_DATA"] == item
        assert dead_letters(api, queue_id) == []
    source.close()


def test_an_oversized_sqs_message_becomes_a_dead_letter(
    api: TestClient,
    raw_redis: redis.Redis,
    moto_endpoint: str,
    start_poller: Callable[..., PollerThread],
) -> None:
    """The reported instance: a 200,000-character SQS message."""
    sqs, name, url = _sqs_queue(moto_endpoint, VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="x" * 200_000)
    queue_id = create_queue(api, "sqs", {**aws_settings(moto_endpoint), "queuename": name})
    start_poller()
    wait_until(lambda: dead_letters(api, queue_id), what="the dead letter")
    [dead] = dead_letters(api, queue_id)
    assert "over HIPPO_MAX_ITEM_BYTES" in dead["status_message"]
    assert len(dead["data"]) == 200_000
    assert task_data(raw_redis, queue_id) == []
    wait_until(lambda: _messages_in(sqs, url) == 0, what="the message deleted from SQS")
