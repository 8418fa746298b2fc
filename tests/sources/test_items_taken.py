"""A queue's `items_taken` counts the distinct items its polls took into tasks: an item
handed out twice (by SQS within one poll, or left in a processing list after it was
stored) counts once; `tasks_created` counts tasks, `batch_size` items at most each."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from hippo.shared.sources.base import Item, PollRequest
from hippo.shared.sources.redislist import RedisListSource
from hippo.shared.sources.sqs import SqsSettings, SqsSource
from hippo.worker.polling_tasks import distinct_count
from tests.conftest import wait_until
from tests.sources.conftest import (
    PollerThread,
    aws_settings,
    boto_client,
    create_queue,
    queue_fields,
    task_data,
)


def _sqs_queue_handing_messages_out_again_at_once(
    moto_endpoint: str, count: int
) -> tuple[Any, str, str]:
    """An SQS queue with visibility timeout 0 holding `count` messages m0, m1, ..."""
    sqs = boto_client("sqs", moto_endpoint)
    name = f"vis0-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(count)]
    )
    return sqs, name, url


def _sqs_empty(sqs: Any, url: str) -> bool:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        attrs["ApproximateNumberOfMessages"] == "0"
        and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
    )


def test_sqs_fetch_takes_a_message_handed_out_again_within_the_poll_once(
    moto_endpoint: str,
) -> None:
    sqs, name, url = _sqs_queue_handing_messages_out_again_at_once(moto_endpoint, 5)
    source = SqsSource()
    settings = SqsSettings.model_validate({**aws_settings(moto_endpoint), "queuename": name})
    request = PollRequest("q", settings, 1000, None, time.time(), 0)
    fetched = asyncio.run(source.fetch(request))
    assert sorted(item.data for item in fetched.items) == [f"m{i}" for i in range(5)]
    assert len({item.key for item in fetched.items}) == 5
    asyncio.run(source.acknowledge(request, fetched))  # with each message's latest handle
    assert _sqs_empty(sqs, url)


class _RecordingSqs:
    """A boto3 SQS client (moto's) that records the receipt handles it hands out and the
    ones deletions use: moto deletes with any handle, SQS only surely with the latest."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.latest: dict[str, str] = {}
        self.deleted_with: list[str] = []

    def get_queue_url(self, **kwargs: Any) -> Any:
        return self.client.get_queue_url(**kwargs)

    def receive_message(self, **kwargs: Any) -> Any:
        answer = self.client.receive_message(**kwargs)
        for message in answer.get("Messages", []):
            self.latest[message["MessageId"]] = message["ReceiptHandle"]
        return answer

    def delete_message_batch(self, **kwargs: Any) -> Any:
        self.deleted_with += [entry["ReceiptHandle"] for entry in kwargs["Entries"]]
        return self.client.delete_message_batch(**kwargs)


def test_sqs_deletes_a_message_handed_out_twice_with_its_latest_receipt_handle(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs, name, _ = _sqs_queue_handing_messages_out_again_at_once(moto_endpoint, 3)
    source = SqsSource()
    recording = _RecordingSqs(sqs)
    monkeypatch.setattr(source._clients, "get", lambda service, settings: recording)
    settings = SqsSettings.model_validate({**aws_settings(moto_endpoint), "queuename": name})
    request = PollRequest("q", settings, 1000, None, time.time(), 0)
    fetched = asyncio.run(source.fetch(request))
    asyncio.run(source.acknowledge(request, fetched))
    assert len(fetched.items) == 3
    assert sorted(recording.deleted_with) == sorted(recording.latest.values())


def test_sqs_queue_with_visibility_timeout_0_counts_five_messages_as_five_items(
    api: TestClient,
    raw_redis: redis.Redis,
    moto_endpoint: str,
    start_poller: Callable[..., PollerThread],
) -> None:
    sqs, name, url = _sqs_queue_handing_messages_out_again_at_once(moto_endpoint, 5)
    queue_id = create_queue(
        api, "sqs", {**aws_settings(moto_endpoint), "queuename": name}, frequency_seconds=60
    )
    start_poller()
    wait_until(lambda: _sqs_empty(sqs, url), what="the messages deleted")
    wait_until(
        lambda: "poll_lease" not in queue_fields(raw_redis, queue_id), what="the poll released"
    )
    fields = queue_fields(raw_redis, queue_id)
    assert sorted(task_data(raw_redis, queue_id)) == [f"m{i}" for i in range(5)]
    assert int(fields["items_taken"]) == 5
    assert int(fields["tasks_created"]) == 5
    # Five messages are not a full poll: the queue waits its frequency, not polled at once.
    due = raw_redis.zscore("hippo:queues:due", queue_id)
    assert due is not None and due - float(fields["last_run_tstamp"]) > 30


def _redis_list(redis_source: dict[str, Any]) -> redis.Redis:
    return redis.Redis(host=redis_source["host"], port=redis_source["port"], db=redis_source["db"])


def _left_over_after_a_stored_poll(
    raw_redis: redis.Redis, source: redis.Redis, list_name: str, queue_id: str, values: list[str]
) -> None:
    """A worker stored tasks for `values` (seq 0...) and died before removing them from
    the queue's processing list."""
    processing = RedisListSource.processing_list(list_name, queue_id)
    for value in values:
        source.lpush(processing, value)
    source.hset(processing + ":seq", mapping={"epoch": "e1", "head": 0, "next": len(values)})
    for seq in range(len(values)):
        raw_redis.set(f"hippo:idem:item:{queue_id}:e1:{seq}", "1")


def test_equal_values_in_a_redis_list_are_items_each_and_stored_left_overs_none(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    source = _redis_list(redis_source)
    queue_id = create_queue(api, "redis", redis_source, status="DISABLED")
    _left_over_after_a_stored_poll(raw_redis, source, redis_source["name"], queue_id, ["old"])
    source.lpush(redis_source["name"], "a", "a", "b", "a")
    assert api.post(f"/queues/{queue_id}/enable/").status_code == 200
    start_poller()
    processing = RedisListSource.processing_list(redis_source["name"], queue_id)
    wait_until(
        lambda: len(task_data(raw_redis, queue_id)) == 4 and source.llen(processing) == 0,
        what="4 tasks, the processing list emptied",
    )
    wait_until(
        lambda: "poll_lease" not in queue_fields(raw_redis, queue_id), what="the poll released"
    )
    assert task_data(raw_redis, queue_id) == ["a", "a", "b", "a"]
    fields = queue_fields(raw_redis, queue_id)
    assert int(fields["items_taken"]) == 4
    assert int(fields["tasks_created"]) == 4


def test_batched_queue_counts_items_and_tasks_apart(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    source = _redis_list(redis_source)
    queue_id = create_queue(
        api, "redis", redis_source, status="DISABLED", batch_size=3, batch_separator=","
    )
    _left_over_after_a_stored_poll(
        raw_redis, source, redis_source["name"], queue_id, ["old1", "old2"]
    )
    source.lpush(redis_source["name"], *"abcdefg")
    assert api.post(f"/queues/{queue_id}/enable/").status_code == 200
    start_poller()
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 3, what="3 tasks")
    wait_until(
        lambda: "poll_lease" not in queue_fields(raw_redis, queue_id), what="the poll released"
    )
    assert task_data(raw_redis, queue_id) == ["a,b,c", "d,e,f", "g"]
    fields = queue_fields(raw_redis, queue_id)
    assert int(fields["items_taken"]) == 7
    assert int(fields["tasks_created"]) == 3


@pytest.mark.parametrize(
    "keys, expected",
    [([], 0), (["1", "2", "3"], 3), (["1", "2", "1", "1"], 2)],
)
def test_distinct_count_counts_each_key_once(keys: list[str], expected: int) -> None:
    assert distinct_count([Item(f"data{n}", key) for n, key in enumerate(keys)]) == expected
