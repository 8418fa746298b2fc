"""SQS and S3 queues through boto3 against moto's standalone server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from hippo.shared.sources.base import Fetched, PollRequest
from hippo.shared.sources.s3bucket import S3BucketSettings, S3BucketSource, new_keys
from hippo.shared.sources.sqs import SqsSettings, SqsSource
from hippo.shared.store.leases import PollStore
from tests.conftest import wait_until
from tests.sources.conftest import (
    PollerThread,
    aws_settings,
    boto_client,
    create_queue,
    queue_fields,
    task_data,
)


def _sqs_queue(moto_endpoint: str, **attributes: str) -> tuple[Any, str, str]:
    sqs = boto_client("sqs", moto_endpoint)
    name = f"work-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return sqs, name, url


def _messages_in(sqs: Any, url: str) -> int:
    """Messages SQS still holds, received (in flight) or not: all but the deleted ones."""
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def test_sqs_messages_become_tasks_and_are_deleted_after_they_are_stored(
    api: TestClient,
    raw_redis: redis.Redis,
    moto_endpoint: str,
    start_poller: Callable[..., PollerThread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A message received and not deleted is delivered again after 1 s.
    sqs, name, url = _sqs_queue(moto_endpoint, VisibilityTimeout="1")
    for start in range(0, 35, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, min(start + 10, 35))
            ],
        )
    queue_id = create_queue(api, "sqs", {**aws_settings(moto_endpoint), "queuename": name})

    # The first store of a poll's tasks fails as if Redis refused it: its messages must
    # stay in SQS and come again.
    stores: list[int] = []
    real_store_poll = PollStore.store_poll

    async def store_poll(self: PollStore, queue_id: str, token: str, **kw: Any) -> int:
        if kw["tasks"]:
            stores.append(len(kw["tasks"]))
            if len(stores) == 1:
                raise redis.ConnectionError("Redis refused the store (test)")
        return await real_store_poll(self, queue_id, token, **kw)

    # Each deletion from SQS notes the messages it deletes whose task is not yet stored.
    # (Read at the moment of the delete: SQS's message counts are approximate, and a
    # message whose visibility ends while they are read is counted in neither.)
    deleted_unstored: list[str] = []
    real_acknowledge = SqsSource.acknowledge_blocking

    def acknowledge(self: SqsSource, request: Any, fetched: Fetched) -> None:
        stored = set(task_data(raw_redis, queue_id))
        deleted_unstored.extend(i.data for i in fetched.items if i.data not in stored)
        real_acknowledge(self, request, fetched)

    monkeypatch.setattr(PollStore, "store_poll", store_poll)
    monkeypatch.setattr(SqsSource, "acknowledge_blocking", acknowledge)
    start_poller(HIPPO_POLL_RETRY_S="0.1")
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 35, 20, "35 tasks")
    # None lost, the refused poll's messages included (they came again), none twice.
    assert sorted(task_data(raw_redis, queue_id)) == sorted(f"m{i}" for i in range(35))
    wait_until(lambda: _messages_in(sqs, url) == 0, what="messages deleted")
    assert len(stores) >= 2, stores  # the refused store, then the ones that worked
    # No message was deleted before its task was stored.
    assert deleted_unstored == []


def test_sqs_message_delivered_again_makes_no_second_task(moto_endpoint: str) -> None:
    sqs, name, url = _sqs_queue(moto_endpoint)
    sqs.send_message(QueueUrl=url, MessageBody="once")
    source = SqsSource()
    settings = SqsSettings.model_validate({**aws_settings(moto_endpoint), "queuename": name})
    request = PollRequest("q", settings, 25, None, time.time(), 0)
    first = asyncio.run(source.fetch(request))
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=first.receipt[1][0][1], VisibilityTimeout=0
    )  # as if the worker died before deleting
    again = asyncio.run(source.fetch(request))
    assert [i.key for i in first.items] == [i.key for i in again.items]  # same idempotency key
    asyncio.run(source.acknowledge(request, again))
    assert asyncio.run(source.fetch(request)).items == []


def test_missing_sqs_queue_is_recorded_on_the_queue(
    api: TestClient,
    raw_redis: redis.Redis,
    moto_endpoint: str,
    start_poller: Callable[..., PollerThread],
) -> None:
    queue_id = create_queue(
        api, "sqs", {**aws_settings(moto_endpoint), "queuename": "no-such-queue"}
    )
    start_poller()
    wait_until(lambda: "last_error" in queue_fields(raw_redis, queue_id), what="error")
    error = queue_fields(raw_redis, queue_id)["last_error"]
    assert "no-such-queue" in error and "testing-secret" not in error


def test_new_keys_sharing_a_timestamp_are_neither_lost_nor_repeated() -> None:
    objects = [(10.0, "a"), (10.0, "b"), (10.0, "c"), (11.0, "d"), (9.0, "old"), (12.0, "dir/")]
    taken, mark = new_keys(objects, None, 0, 2)
    assert taken == [(9.0, "old"), (10.0, "a")]
    taken2, mark = new_keys(objects, mark, 0, 1)
    assert taken2 == [(10.0, "b")] and mark == {"mtime": 10.0, "keys": ["a", "b"]}
    taken3, mark = new_keys(objects, mark, 0, 10)
    assert taken3 == [(10.0, "c"), (11.0, "d")]
    assert new_keys(objects, mark, 0, 10) == ([], None)
    assert new_keys(objects, None, 10.5, 10)[0] == [(11.0, "d")]  # earliest_unix_tstamp


def test_s3_keys_of_a_prefix_become_tasks_once(
    api: TestClient,
    raw_redis: redis.Redis,
    moto_endpoint: str,
    start_poller: Callable[..., PollerThread],
) -> None:
    s3 = boto_client("s3", moto_endpoint)
    bucket = f"bucket-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for key in ("in/a.txt", "in/b.txt", "in/sub/", "other/c.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    queue_id = create_queue(
        api, "s3bucket", {**aws_settings(moto_endpoint), "bucket_name": f"{bucket}/in/"}
    )
    start_poller()
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 2, what="2 tasks")
    s3.put_object(Bucket=bucket, Key="in/d.txt", Body=b"x")
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 3, what="the new key")
    assert sorted(task_data(raw_redis, queue_id)) == ["in/a.txt", "in/b.txt", "in/d.txt"]
    polls = int(queue_fields(raw_redis, queue_id)["items_taken"])
    assert polls == 3


@pytest.mark.slow
def test_s3_fetch_pages_through_more_than_1000_keys(moto_endpoint: str) -> None:
    s3 = boto_client("s3", moto_endpoint)
    bucket = f"bucket-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"k{i:05d}", Body=b""), range(1005))
        )
    settings = S3BucketSettings.model_validate(
        {**aws_settings(moto_endpoint), "bucket_name": bucket, "earliest_unix_tstamp": 0}
    )
    request = PollRequest("q", settings, 2000, None, time.time(), 0)
    assert len(asyncio.run(S3BucketSource().fetch(request)).items) == 1005
