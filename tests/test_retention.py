"""Finished task records are trimmed by age and by count per task id."""

from __future__ import annotations

import asyncio
import time

import redis

from hippo.shared.model import parse_task
from hippo.shared.store import Store, connect
from hippo.shared.store.keys import Keys
from hippo.shared.store.leadership import LeaderStore
from tests.examples import task


def _run(redis_url: str, scenario) -> object:  # type: ignore[no-untyped-def]
    async def main() -> object:
        client = connect(redis_url)
        try:
            return await scenario(Store(client, Keys("hippo:"), keep_per_id=3))
        finally:
            await client.aclose()

    return asyncio.run(main())


async def _finished_task(store: Store, task_id: str, now: float) -> str:
    record, _ = await store.create_task(parse_task(task(id=task_id)), now=now)
    mesos_id = record.decode().split('"mesos_id":"')[1].split('"')[0]
    await store.request_kill(mesos_id, now=now)  # waiting → TASK_KILLED: finished
    return mesos_id


def test_only_the_newest_finished_runs_of_an_id_are_kept(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    async def scenario(store: Store) -> tuple[list[str], list[str]]:
        made = [await _finished_task(store, "a", now=1000 + n) for n in range(5)]
        other = await _finished_task(store, "b", now=1000)
        waiting, _ = await store.create_task(parse_task(task(id="a")), now=2000)
        page = await store.list_tasks(task_id="a")
        import json

        kept = [t["mesos_id"] for t in json.loads(page.records) if t["finished_tstamp"]]
        return made, kept + [other]

    made, kept = _run(redis_url, scenario)  # type: ignore[misc]
    assert kept[:3] == made[:1:-1]  # the newest three of "a", newest first
    assert raw_redis.exists(f"hippo:task:{made[0]}") == 0
    assert raw_redis.zscore("hippo:tasks:all", made[0]) is None
    assert raw_redis.exists(f"hippo:task:{kept[3]}") == 1  # "b" is counted on its own


def test_records_finished_before_the_retention_age_are_deleted(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    now = time.time()

    async def scenario(store: Store) -> tuple[int, list[str]]:
        old = await _finished_task(store, "old", now=now - 7200)
        recent = await _finished_task(store, "recent", now=now - 60)
        waiting, _ = await store.create_task(parse_task(task(id="old")), now=now - 9000)
        leader = LeaderStore(store.redis, store.keys)
        await store.redis.set("hippo:lock:test", "me")
        epoch = await leader.take_epoch("hippo:lock:test", "me")
        assert epoch is not None
        deleted = await leader.trim_finished(epoch, now=now, max_age_s=3600)
        return deleted, [old, recent]

    deleted, (old, recent) = _run(redis_url, scenario)  # type: ignore[misc]
    assert deleted == 1
    assert raw_redis.exists(f"hippo:task:{old}") == 0
    assert raw_redis.exists(f"hippo:task:{recent}") == 1
    # the waiting task, however old, is not finished and stays
    assert raw_redis.zcard("hippo:tasks:state:WAITING_ON_OFFERS") == 1
    assert raw_redis.zcard("hippo:tasks:all") == 2
    assert raw_redis.exists("hippo:tasks:id:old") == 1


def test_runs_finishing_at_the_same_time_never_delete_themselves(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    async def scenario(store: Store) -> list[str]:
        return [await _finished_task(store, "same", now=1000.0) for _ in range(6)]

    made = _run(redis_url, scenario)  # type: ignore[misc]
    assert raw_redis.exists(f"hippo:task:{made[-1]}") == 1
    records = {key.decode().removeprefix("hippo:task:") for key in raw_redis.keys("hippo:task:*")}
    indexed = {m.decode() for m in raw_redis.zrange("hippo:tasks:all", 0, -1)}
    assert records == indexed  # no record outside the indexes (no orphan)
    assert len(records) == 3  # keep_per_id


def test_waiting_indexes_are_emptied_when_nothing_waits(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    async def scenario(store: Store) -> None:
        await _finished_task(store, "gone", now=1.0)  # created waiting, then killed

    _run(redis_url, scenario)
    assert raw_redis.zcard("hippo:tasks:waiting:ids") == 0
    assert raw_redis.exists("hippo:tasks:waiting:id:gone", "hippo:tasks:caps") == 0
