"""A claim or a batch of status updates changes the indexes by state, of staging runs
and of the waiting ids at the end of its script call, in a few variadic commands
(task_lua.batched / flush_indexes, waiting_settle): the indexes end as if each
change had been made at once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis

from hippo.shared.model import parse_task
from hippo.shared.store import Store, connect
from hippo.shared.store.keys import Keys
from hippo.shared.store.leadership import Claim, LeaderStore, StatusUpdate
from tests.examples import task


def _run(redis_url: str, scenario: Any, **retention: int) -> Any:
    async def main() -> Any:
        client = connect(redis_url)
        try:
            keys = Keys("hippo:")
            leader = LeaderStore(client, keys, **retention)
            await client.set("hippo:lock:test", "me")
            epoch = await leader.take_epoch("hippo:lock:test", "me")
            assert epoch
            return await scenario(Store(client, keys), leader, epoch)
        finally:
            await client.aclose()

    return asyncio.run(main())


async def _waiting(store: Store, task_id: str, now: float = 1.0) -> str:
    record, _ = await store.create_task(parse_task(task(id=task_id)), now=now)
    return str(json.loads(record)["mesos_id"])


def _by_state(raw_redis: redis.Redis) -> dict[str, list[str]]:
    """Every non-empty index by state: {state: its mesos_ids}."""
    found = {}
    for key in raw_redis.scan_iter("hippo:tasks:state:*"):
        state = key.decode().removeprefix("hippo:tasks:state:")
        found[state] = sorted(m.decode() for m in raw_redis.zrange(key, 0, -1))
    return found


def test_a_run_moved_twice_in_one_batch_is_indexed_where_the_second_move_put_it(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """Its last change in each index wins: out of TASK_STARTING (added, then removed in
    the same call), in TASK_RUNNING, out of the staging runs."""

    async def scenario(store: Store, leader: LeaderStore, epoch: int) -> str:
        mid = await _waiting(store, "twice")
        assert await leader.claim(epoch, 2.0, [Claim(mid, "S1", "h1", None, None)]) == [mid]
        outcomes = await leader.record_updates(
            epoch,
            3.0,
            [
                StatusUpdate(mid, "TASK_STARTING", "", "", "S1", "", ""),
                StatusUpdate(mid, "TASK_RUNNING", "", "", "S1", "", ""),
            ],
        )
        assert [o.outcome for o in outcomes] == ["stored", "stored"]
        return mid

    mid = _run(redis_url, scenario)
    assert _by_state(raw_redis) == {"TASK_RUNNING": [mid]}
    assert raw_redis.zscore("hippo:tasks:state:TASK_RUNNING", mid) == raw_redis.zscore(
        "hippo:tasks:all", mid
    )
    assert raw_redis.zcard("hippo:tasks:staging:since") == 0
    history = json.loads(raw_redis.hget(f"hippo:task:{mid}", "history") or b"[]")
    assert [(e["state"], e["tstamp"], e["agent_id"]) for e in history] == [
        ("TASK_STAGING", 2.0, "S1"),
        ("TASK_STARTING", 3.0, "S1"),
        ("TASK_RUNNING", 3.0, "S1"),
    ]


def test_a_run_retention_deletes_in_the_batch_that_ended_it_leaves_every_index(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """The first run ends, then the second run of its id ends in the same call and,
    with one finished run kept per id, retention deletes the first: its entry in the
    index of its end state, due at the end of the call, must not outlive it."""

    async def scenario(store: Store, leader: LeaderStore, epoch: int) -> list[str]:
        first = await _waiting(store, "kept1", now=1.0)
        second = await _waiting(store, "kept1", now=1.5)
        claims = [Claim(m, "S1", "h1", None, None) for m in (first, second)]
        assert await leader.claim(epoch, 2.0, claims) == [first, second]
        outcomes = await leader.record_updates(
            epoch,
            3.0,
            [
                StatusUpdate(first, "TASK_RUNNING", "", "", "S1", "", ""),
                StatusUpdate(first, "TASK_FINISHED", "", "", "S1", "", ""),
                StatusUpdate(second, "TASK_FINISHED", "", "", "S1", "", ""),
            ],
        )
        assert [o.outcome for o in outcomes] == ["stored", "stored", "stored"]
        return [first, second]

    first, second = _run(redis_url, scenario, keep_per_id=1)
    assert not raw_redis.exists(f"hippo:task:{first}")
    assert _by_state(raw_redis) == {"TASK_FINISHED": [second]}
    assert raw_redis.zrange("hippo:tasks:all", 0, -1) == [second.encode()]
    assert raw_redis.zcard("hippo:tasks:staging:since") == 0


def test_a_claim_of_more_runs_than_one_command_takes_moves_them_all(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """1,205 runs of as many ids in one claim: more than the members one batched
    command takes (task_lua.UNPACK_MAX), so the indexes change in several."""
    count = 1205

    async def scenario(store: Store, leader: LeaderStore, epoch: int) -> tuple[list[str], str]:
        made = [await _waiting(store, f"many{n}", now=float(n)) for n in range(count)]
        last = await _waiting(store, "many0", now=float(count))  # its id keeps a run waiting
        claims = [Claim(m, "S1", "h1", 10, None) for m in made]
        assert await leader.claim(epoch, 5000.0, claims) == made
        return made, last

    made, last = _run(redis_url, scenario)
    assert _by_state(raw_redis) == {"TASK_STAGING": sorted(made), "WAITING_ON_OFFERS": [last]}
    staging = raw_redis.zrange("hippo:tasks:staging:since", 0, -1, withscores=True)
    assert sorted(staging) == sorted((m.encode(), 5000.0) for m in made)
    assert raw_redis.zrange("hippo:tasks:waiting:ids", 0, -1, withscores=True) == [
        (b"many0", raw_redis.zscore("hippo:tasks:all", last))
    ]
    assert raw_redis.hgetall("hippo:tasks:caps") == {b"many0": b"10"}


def test_a_batch_failing_midway_leaves_the_runs_it_moved_indexed_where_they_are(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """A script failing on a record it cannot decode keeps what it wrote before (Redis
    does not roll a script back): the index changes of those runs are made all the same,
    so the indexes agree with their records."""

    async def scenario(store: Store, leader: LeaderStore, epoch: int) -> list[str]:
        good, bad, second = [await _waiting(store, n) for n in ("good", "bad", "second")]
        claims = [Claim(m, "S1", "h1", None, None) for m in (good, bad)]
        assert await leader.claim(epoch, 2.0, claims) == [good, bad]
        await store.redis.hset(f"hippo:task:{bad}", "status", "{not json")
        updates = [StatusUpdate(m, "TASK_STARTING", "", "", "S1", "", "") for m in (good, bad)]
        with pytest.raises(redis.ResponseError):
            await leader.record_updates(epoch, 3.0, updates)
        await store.redis.hset(f"hippo:task:{good}", "status", "{not json")
        claims = [Claim(m, "S1", "h1", None, None) for m in (second, good)]
        with pytest.raises(redis.ResponseError):
            await leader.claim(epoch, 4.0, claims)
        return [good, bad, second]

    good, bad, second = _run(redis_url, scenario)
    assert _by_state(raw_redis) == {"TASK_STARTING": [good], "TASK_STAGING": sorted([bad, second])}
    assert raw_redis.zrange("hippo:tasks:staging:since", 0, -1, withscores=True) == [
        (bad.encode(), 2.0),
        (second.encode(), 4.0),
    ]
    assert raw_redis.zcard("hippo:tasks:waiting:ids") == 0
