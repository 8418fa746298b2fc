"""Redis list queues: items become tasks once, are removed only after they are stored."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from hippo.shared.sources.base import Item
from hippo.worker.polling_tasks import batch_payloads, batches
from tests.conftest import wait_until
from tests.sources.conftest import PollerThread, create_queue, queue_fields, task_data


def _source(redis_source: dict[str, Any]) -> redis.Redis:
    return redis.Redis(host=redis_source["host"], port=redis_source["port"], db=redis_source["db"])


def test_each_item_becomes_one_task_with_hippo_data(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    source = _source(redis_source)
    source.lpush(redis_source["name"], *[f"item-{i}" for i in range(50)])
    queue_id = create_queue(api, "redis", redis_source)
    start_poller()
    wait_until(lambda: len(task_data(raw_redis, queue_id)) >= 50, what="50 tasks")
    assert task_data(raw_redis, queue_id) == [f"item-{i}" for i in range(50)]  # oldest first
    wait_until(
        lambda: source.llen(f"{redis_source['name']}:hippo:processing:{queue_id}") == 0,
        what="processing list emptied",
    )
    assert source.llen(redis_source["name"]) == 0
    fields = queue_fields(raw_redis, queue_id)
    assert int(fields["items_taken"]) == 50 and int(fields["tasks_created"]) == 50
    assert float(fields["last_run_tstamp"]) > 0
    shown = api.get(f"/queues/{queue_id}/").json()["queue"]
    assert shown["items_taken"] == 50 and shown["tasks_created"] == 50


def test_task_is_built_from_the_queue_definition(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    _source(redis_source).lpush(redis_source["name"], "a b")
    queue_id = create_queue(api, "redis", redis_source, max_concurrent=7)
    start_poller()
    wait_until(lambda: task_data(raw_redis, queue_id), what="a task")
    mesos_id = raw_redis.zrange(f"hippo:tasks:queue:{queue_id}", 0, 0)[0].decode()
    record = json.loads(api.get(f"/tasks/{mesos_id}/").content)
    assert record["id"] == queue_id and record["queue_id"] == queue_id
    assert record["max_concurrent"] == 7
    assert record["cmd"] == "echo $HIPPO_DATA"  # the shell expands it from the env
    assert record["env"] == {"ITEM": "item=a b", "HIPPO_DATA": "a b", "HIPPO_DATA_BASE64": "YSBi"}
    assert record["mesos_state"] == "WAITING_ON_OFFERS"
    assert raw_redis.zscore("hippo:tasks:state:WAITING_ON_OFFERS", mesos_id) is not None


def test_items_are_batched_by_batch_size_with_the_separator(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    _source(redis_source).lpush(redis_source["name"], *"abcdefg")
    queue_id = create_queue(api, "redis", redis_source, batch_size=3, batch_separator=",")
    start_poller()
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 3, what="3 tasks")
    assert task_data(raw_redis, queue_id) == ["a,b,c", "d,e,f", "g"]


def test_backpressure_takes_at_most_max_concurrent_times_batch_size_minus_open_tasks(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    source = _source(redis_source)
    source.lpush(redis_source["name"], *[str(i) for i in range(100)])
    queue_id = create_queue(api, "redis", redis_source, max_concurrent=5, batch_size=2)
    start_poller()
    wait_until(
        lambda: int(queue_fields(raw_redis, queue_id).get("items_taken", 0)) >= 10,
        what="first poll",
    )
    # 5 open tasks of 2 items: capacity 5 x 2 - 5 = 5 more items, then 5 x 2 - 8 = 2, ...
    wait_until(lambda: len(task_data(raw_redis, queue_id)) >= 9, what="9 tasks")
    open_key = f"hippo:tasks:open:queue:{queue_id}"

    def stays() -> bool:
        return raw_redis.zcard(open_key) == 10

    wait_until(stays, what="10 open tasks")
    taken = int(queue_fields(raw_redis, queue_id)["items_taken"])
    assert source.llen(redis_source["name"]) == 100 - taken
    # Finishing tasks (as the leader does) frees capacity again.
    raw_redis.delete(open_key)
    wait_until(lambda: source.llen(redis_source["name"]) < 100 - taken, what="more taken")


def test_items_left_in_the_processing_list_are_taken_again_once(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    from hippo.shared.sources.redislist import RedisListSource

    source = _source(redis_source)
    queue_id = create_queue(api, "redis", redis_source, status="DISABLED")
    processing = RedisListSource.processing_list(redis_source["name"], queue_id)
    # A dead worker's poll: two items moved to the processing list, never removed.
    source.lpush(processing, "left-1")
    source.lpush(processing, "left-2")
    source.hset(processing + ":seq", mapping={"epoch": "e1", "head": 0, "next": 2})
    source.lpush(redis_source["name"], "new-1")
    api.put(f"/queues/{queue_id}/enable/")
    assert api.get(f"/queues/{queue_id}/enable/").status_code == 200
    start_poller()
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 3, what="3 tasks")
    assert task_data(raw_redis, queue_id) == ["left-1", "left-2", "new-1"]
    wait_until(lambda: source.llen(processing) == 0, what="processing list emptied")


def test_items_already_stored_are_removed_without_a_second_task(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    from hippo.shared.sources.redislist import RedisListSource

    source = _source(redis_source)
    queue_id = create_queue(api, "redis", redis_source, status="DISABLED")
    processing = RedisListSource.processing_list(redis_source["name"], queue_id)
    # A worker stored the task of seq 0 and died before removing the item.
    source.lpush(processing, "stored-before")
    source.hset(processing + ":seq", mapping={"epoch": "e1", "head": 0, "next": 1})
    raw_redis.set(f"hippo:idem:item:{queue_id}:e1:0", "1")
    source.lpush(redis_source["name"], "fresh")
    api.get(f"/queues/{queue_id}/enable/")
    start_poller()
    wait_until(
        lambda: source.llen(processing) == 0 and task_data(raw_redis, queue_id),
        what="processing list emptied",
    )
    assert task_data(raw_redis, queue_id) == ["fresh"]
    assert int(queue_fields(raw_redis, queue_id)["items_taken"]) == 1  # the stored one: no


def test_unreachable_redis_records_an_error_without_the_password_and_others_go_on(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    from tests.conftest import free_port

    bad = create_queue(
        api,
        "redis",
        {"host": "127.0.0.1", "port": free_port(), "name": "x", "password": "hunter2-secret"},
        frequency_seconds=30,
    )
    _source(redis_source).lpush(redis_source["name"], "ok")
    good = create_queue(api, "redis", redis_source)
    start_poller()
    wait_until(lambda: task_data(raw_redis, good), what="the good queue's task")
    wait_until(lambda: "last_error" in queue_fields(raw_redis, bad), what="error recorded")
    fields = queue_fields(raw_redis, bad)
    assert "hunter2" not in fields["last_error"]
    assert float(fields["last_error_tstamp"]) > 0
    assert int(fields["poll_failures"]) >= 1
    # Backoff: due again after poll_retry_s (1 s) first, not after 30 s.
    due = raw_redis.zscore("hippo:queues:due", bad)
    assert due is not None and due - float(fields["last_error_tstamp"]) < 2.5
    shown = api.get(f"/queues/{bad}/").json()["queue"]
    assert shown["last_error"] and "hunter2" not in json.dumps(shown)


def test_many_idle_queues_are_each_polled_every_period_with_few_slots(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    queue_ids = [
        create_queue(api, "redis", {**redis_source, "name": f"idle-{n}"}, frequency_seconds=1)
        for n in range(100)
    ]
    start_poller(HIPPO_POLL_CONCURRENCY="4")

    def last_runs() -> list[float]:
        return [float(queue_fields(raw_redis, q).get("last_run_tstamp", 0)) for q in queue_ids]

    wait_until(lambda: all(last_runs()), 10, what="every queue polled once")
    first = last_runs()
    wait_until(
        lambda: all(a > b for a, b in zip(last_runs(), first, strict=True)),
        5,
        what="every queue polled again one period later",
    )


def test_left_overs_of_a_failed_poll_never_exceed_the_next_poll_limit(redis_url: str) -> None:
    import asyncio
    from urllib.parse import urlsplit

    import redis as redis_sync

    from hippo.shared.sources.base import PollRequest
    from hippo.shared.sources.redislist import RedisListSettings, RedisListSource

    url = urlsplit(redis_url)
    settings = RedisListSettings(host=url.hostname or "", port=url.port or 6379, db=2, name="jobs")
    redis_sync.Redis(port=url.port, db=2).lpush("jobs", *[f"item{n}" for n in range(6)])

    async def scenario() -> list[list[str]]:
        source = RedisListSource()
        try:
            first = await source.fetch(PollRequest("q", settings, 5, None, 0.0, 0.0))
            # not stored, not acknowledged: all five stay in the processing list
            second = await source.fetch(PollRequest("q", settings, 2, None, 0.0, 0.0))
            await source.acknowledge(PollRequest("q", settings, 2, None, 0.0, 0.0), second)
            third = await source.fetch(PollRequest("q", settings, 10, None, 0.0, 0.0))
            return [[i.data for i in f.items] for f in (first, second, third)] + [
                [i.key for i in second.items + third.items]
            ]
        finally:
            await source.close()

    first, second, third, keys = asyncio.run(scenario())
    assert first == ["item0", "item1", "item2", "item3", "item4"]
    assert second == ["item0", "item1"]
    assert third == ["item2", "item3", "item4", "item5"]
    assert len(set(keys)) == 6


def _queue_of_abc(api: TestClient, redis_source: dict[str, Any]) -> tuple[redis.Redis, str]:
    """A list holding a, b and c (a oldest), and a queue on it."""
    source = _source(redis_source)
    source.lpush(redis_source["name"], "a", "b", "c")
    return source, create_queue(api, "redis", redis_source)


def test_items_of_a_queue_deleted_mid_poll_go_back_to_the_list(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hippo.shared.sources.redislist import RedisListSource

    source, queue_id = _queue_of_abc(api, redis_source)
    original = RedisListSource.fetch

    async def fetch_then_queue_deleted(self: RedisListSource, request: Any) -> Any:
        fetched = await original(self, request)
        api.delete(f"/queues/{queue_id}/")  # the user deletes it while the poll runs
        return fetched

    monkeypatch.setattr(RedisListSource, "fetch", fetch_then_queue_deleted)
    start_poller()
    processing = f"{redis_source['name']}:hippo:processing:{queue_id}"
    wait_until(lambda: raw_redis.exists(f"hippo:queue:{queue_id}") == 0, what="the deletion")
    wait_until(
        lambda: source.llen(processing) == 0 and source.llen(redis_source["name"]) == 3,
        what="the items back in the list",
    )
    assert source.lrange(redis_source["name"], 0, -1) == [b"c", b"b", b"a"]  # a is next
    assert task_data(raw_redis, queue_id) == []


def test_a_poll_slower_than_the_lease_keeps_its_lease_and_is_stored(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from hippo.shared.sources.redislist import RedisListSource

    source, queue_id = _queue_of_abc(api, redis_source)
    original = RedisListSource.fetch

    async def slow_fetch(self: RedisListSource, request: Any) -> Any:
        await asyncio.sleep(2.5)  # a slow source: longer than the 1 s lease
        return await original(self, request)

    monkeypatch.setattr(RedisListSource, "fetch", slow_fetch)
    start_poller(HIPPO_QUEUE_LEASE_S="1")
    wait_until(
        lambda: len(task_data(raw_redis, queue_id)) == 3, timeout_s=15, what="the slow poll's tasks"
    )
    assert sorted(task_data(raw_redis, queue_id)) == ["a", "b", "c"]
    assert "last_error" not in queue_fields(raw_redis, queue_id)


def test_invalid_utf8_reaches_the_task_as_its_original_bytes_in_base64(
    api: TestClient,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    """HIPPO_DATA is text (invalid UTF-8 replaced by U+FFFD); HIPPO_DATA_BASE64 carries
    the item's bytes unchanged, one item alone or joined in a batch."""
    raw = [b"caf\xe9", b"\xff\xfe ok"]
    _source(redis_source).rpush(redis_source["name"], *raw)
    single = create_queue(api, "redis", redis_source)
    start_poller()
    wait_until(lambda: len(task_data(raw_redis, single)) == 2, what="two tasks")
    envs = []
    for member in raw_redis.zrange(f"hippo:tasks:queue:{single}", 0, -1):
        envs.append(json.loads(api.get(f"/tasks/{member.decode()}/").content)["env"])
    assert sorted(base64.b64decode(e["HIPPO_DATA_BASE64"]) for e in envs) == sorted(raw)
    assert sorted(e["HIPPO_DATA"] for e in envs) == sorted(["caf\ufffd", "\ufffd\ufffd ok"])


def test_a_batch_of_byte_items_joins_their_bytes() -> None:
    items = [Item("caf\ufffd", "k1", raw=b"caf\xe9"), Item("ok", "k2")]
    assert batch_payloads(items, 2, "|") == [b"caf\xe9|ok"]
    assert batches(items, 2, "|") == ["caf\ufffd|ok"]
