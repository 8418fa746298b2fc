"""Per-queue leases and the atomic poll store, against our Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis
from starlette.testclient import TestClient

from hippo.shared.store import connect
from hippo.shared.store.keys import Keys
from hippo.shared.store.leases import NewTask, PollStore, StoreOutcome
from tests.sources.conftest import create_queue

T = TypeVar("T")


def run(redis_url: str, action: Callable[[PollStore], Awaitable[T]]) -> T:
    async def main() -> T:
        client = connect(redis_url)
        try:
            return await action(PollStore(client, Keys("hippo:"), idempotency_ttl_s=60))
        finally:
            await client.aclose()

    return asyncio.run(main())


def _queue(api: TestClient, **block: Any) -> str:
    return create_queue(api, "cron", {"cronstring": "* * * * *"}, **block)


def _task(queue_id: str, n: int) -> NewTask:
    return NewTask(f"{queue_id}.{n}", queue_id, b'{"cmd":"x"}', b'{"id":"%s"}' % queue_id.encode())


def test_a_due_queue_is_leased_to_one_claim_until_its_lease_expires(
    api: TestClient, redis_url: str
) -> None:
    queue_ids = {_queue(api) for _ in range(5)}

    async def claims(store: PollStore) -> tuple[Any, Any]:
        return await store.claim_due_queues(3, 30), await store.claim_due_queues(10, 30)

    first, second = run(redis_url, claims)
    got = [q.queue_id for q in first.queues] + [q.queue_id for q in second.queues]
    assert sorted(got) == sorted(queue_ids)  # each queue to one claim only
    third = run(redis_url, lambda s: s.claim_due_queues(10, 30))
    assert third.queues == [] and third.next_due is not None and third.next_due > third.now + 25


def test_a_poll_whose_lease_expired_and_was_taken_stores_nothing(
    api: TestClient, redis_url: str, raw_redis: redis.Redis
) -> None:
    queue_id = _queue(api)

    async def scenario(store: PollStore) -> tuple[int, int]:
        old = (await store.claim_due_queues(1, 0)).queues[0]  # lease 0 s: expires at once
        new = (await store.claim_due_queues(1, 30)).queues[0]
        lost = await store.store_poll(
            queue_id,
            old.token,
            item_keys=["k"],
            tasks=[_task(queue_id, 1)],
            items_taken=1,
            watermark=None,
            delay_s=5,
        )
        kept = await store.store_poll(
            queue_id,
            new.token,
            item_keys=["k"],
            tasks=[_task(queue_id, 2)],
            items_taken=1,
            watermark='{"w":1}',
            delay_s=5,
        )
        return lost, kept

    assert run(redis_url, scenario) == (StoreOutcome.LEASE_LOST, StoreOutcome.STORED)
    assert raw_redis.zrange(f"hippo:tasks:queue:{queue_id}", 0, -1) == [f"{queue_id}.2".encode()]
    assert raw_redis.hget(f"hippo:queue:{queue_id}", "poll_watermark") == b'{"w":1}'
    assert raw_redis.exists(f"hippo:idem:item:{queue_id}:k")


def test_a_queue_deleted_or_disabled_mid_poll_creates_nothing(
    api: TestClient, redis_url: str, raw_redis: redis.Redis
) -> None:
    deleted, disabled = _queue(api), _queue(api)

    async def scenario(store: PollStore) -> list[int]:
        claimed = {q.queue_id: q for q in (await store.claim_due_queues(10, 30)).queues}
        api.delete(f"/queues/{deleted}/")
        api.get(f"/queues/{disabled}/disable/")
        return [
            await store.store_poll(
                q,
                claimed[q].token,
                item_keys=["k"],
                tasks=[_task(q, 1)],
                items_taken=1,
                watermark=None,
                delay_s=5,
            )
            for q in (deleted, disabled)
        ]

    assert run(redis_url, scenario) == [StoreOutcome.LEASE_LOST] * 2
    assert not raw_redis.exists(f"hippo:tasks:queue:{deleted}", f"hippo:tasks:queue:{disabled}")
    assert not raw_redis.exists(f"hippo:queue:{deleted}")  # the store did not recreate it
    assert raw_redis.zscore("hippo:queues:due", deleted) is None


def test_an_item_key_already_stored_refuses_the_whole_poll(
    api: TestClient, redis_url: str, raw_redis: redis.Redis
) -> None:
    queue_id = _queue(api)
    raw_redis.set(f"hippo:idem:item:{queue_id}:seen", "1")

    async def scenario(store: PollStore) -> tuple[set[str], int]:
        claimed = (await store.claim_due_queues(1, 30)).queues[0]
        seen = await store.seen_item_keys(queue_id, ["seen", "new"])
        outcome = await store.store_poll(
            queue_id,
            claimed.token,
            item_keys=["new", "seen"],
            tasks=[_task(queue_id, 1)],
            items_taken=2,
            watermark=None,
            delay_s=5,
        )
        return seen, outcome

    assert run(redis_url, scenario) == ({"seen"}, StoreOutcome.KEY_SEEN)
    assert not raw_redis.exists(f"hippo:tasks:queue:{queue_id}", f"hippo:idem:item:{queue_id}:new")


def test_disabled_queues_are_not_claimed_and_enabling_makes_them_due(
    api: TestClient, redis_url: str
) -> None:
    queue_id = _queue(api, status="DISABLED")
    assert run(redis_url, lambda s: s.claim_due_queues(10, 30)).queues == []
    api.get(f"/queues/{queue_id}/enable/")
    assert [q.queue_id for q in run(redis_url, lambda s: s.claim_due_queues(10, 30)).queues] == [
        queue_id
    ]


def test_queues_missing_from_the_due_set_are_reconciled(
    api: TestClient, redis_url: str, raw_redis: redis.Redis
) -> None:
    queue_id = _queue(api)
    raw_redis.delete("hippo:queues:due")  # as if created before polling existed
    assert run(redis_url, lambda s: s.reconcile_due()) == 1
    assert run(redis_url, lambda s: s.reconcile_due()) == 0
    assert [q.queue_id for q in run(redis_url, lambda s: s.claim_due_queues(10, 30)).queues] == [
        queue_id
    ]


def test_a_failed_poll_records_the_error_and_the_retry_time(
    api: TestClient, redis_url: str, raw_redis: redis.Redis
) -> None:
    queue_id = _queue(api)

    async def scenario(store: PollStore) -> tuple[bool, Any]:
        claimed = (await store.claim_due_queues(1, 30)).queues[0]
        recorded = await store.fail_poll(queue_id, claimed.token, "boom", 7)
        return recorded, await store.claim_due_queues(1, 30)

    recorded, claim = run(redis_url, scenario)
    fields = raw_redis.hgetall(f"hippo:queue:{queue_id}")
    assert recorded and fields[b"last_error"] == b"boom" and fields[b"poll_failures"] == b"1"
    assert claim.queues == [] and 6 < claim.next_due - claim.now <= 7
    shown = api.get(f"/queues/{queue_id}/").json()["queue"]
    assert shown["last_error"] == "boom" and shown["last_error_tstamp"] > 0
