"""Items a process cannot receive never become tasks that fail on every retry: an item
(or batch) over HIPPO_MAX_ITEM_BYTES, one with a NUL, or one that would make an
environment string longer than execve takes. Nothing of that poll is stored or
acknowledged: the item stays in its source, and the queue's last_error says why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from hippo.worker.polling_tasks import TaskTemplate, undeliverable
from tests.conftest import wait_until

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


@pytest.mark.parametrize("item", ["x" * 200_000, "bad\x00item"])
def test_an_undeliverable_redis_item_stays_in_its_source(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
    item: str,
) -> None:
    source = redis.Redis(
        host=redis_source["host"], port=redis_source["port"], db=redis_source["db"]
    )
    source.rpush(redis_source["name"], item)
    queue_id = create_queue(api, "redis", redis_source)
    start_poller()
    wait_until(lambda: "last_error" in queue_fields(raw_redis, queue_id), what="the error")
    error = queue_fields(raw_redis, queue_id)["last_error"]
    assert "it stays in the source" in error
    assert task_data(raw_redis, queue_id) == []
    held = [k for k in source.scan_iter(f"{redis_source['name']}*") if source.type(k) == b"list"]
    assert [v for k in held for v in source.lrange(k, 0, -1)] == [item.encode()]
    source.close()


def test_an_oversized_sqs_message_is_not_deleted(
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
    wait_until(lambda: "last_error" in queue_fields(raw_redis, queue_id), what="the error")
    assert "over HIPPO_MAX_ITEM_BYTES" in queue_fields(raw_redis, queue_id)["last_error"]
    assert task_data(raw_redis, queue_id) == []
    assert _messages_in(sqs, url) == 1  # still in SQS, not deleted
