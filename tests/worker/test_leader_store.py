"""The leader's fenced writes, straight on our Redis: claims and their undoing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis

from hippo.shared.errors import StaleEpoch
from hippo.shared.model import parse_task
from hippo.shared.store import Store, connect
from hippo.shared.store.keys import Keys
from hippo.shared.store.leadership import CappedId, Claim, LeaderStore, StatusUpdate
from tests.examples import task


def _run(redis_url: str, scenario: Any) -> Any:
    async def main() -> Any:
        client = connect(redis_url)
        try:
            keys = Keys("hippo:")
            return await scenario(Store(client, keys), LeaderStore(client, keys), client)
        finally:
            await client.aclose()

    return asyncio.run(main())


async def _claimed_task(
    store: Store, leader: LeaderStore, client: Any, **fields: Any
) -> tuple[str, int]:
    record, _ = await store.create_task(parse_task(task(**fields)), now=1.0)
    mesos_id = json.loads(record)["mesos_id"]
    await client.set("hippo:lock:test", "me")
    epoch = await leader.take_epoch("hippo:lock:test", "me")
    assert epoch
    assert await leader.claim(epoch, 2.0, [Claim(mesos_id, "S1", "host1", 10, None)]) == [mesos_id]
    return mesos_id, epoch


def test_a_refused_accept_puts_its_tasks_back_to_waiting(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    async def scenario(store: Store, leader: LeaderStore, client: Any) -> dict[str, Any]:
        mesos_id, epoch = await _claimed_task(store, leader, client, id="t", system_retries=0)
        assert await leader.unclaim(epoch, 3.0, [mesos_id]) == 1
        return json.loads(await store.get_task(mesos_id) or b"{}")

    record = _run(redis_url, scenario)
    assert record["mesos_state"] == "WAITING_ON_OFFERS"
    assert record["agent_id"] is None and record["system_retries_left"] == 0
    assert raw_redis.zcard("hippo:tasks:active:id:t") == 0
    assert raw_redis.zscore("hippo:tasks:state:WAITING_ON_OFFERS", record["mesos_id"])
    assert raw_redis.zcard("hippo:tasks:state:TASK_STAGING") == 0


def test_a_task_killed_meanwhile_ends_killed_instead(redis_url: str) -> None:
    async def scenario(store: Store, leader: LeaderStore, client: Any) -> dict[str, Any]:
        mesos_id, epoch = await _claimed_task(store, leader, client, id="k")
        await store.request_kill(mesos_id, now=2.5)
        await leader.unclaim(epoch, 3.0, [mesos_id])
        return json.loads(await store.get_task(mesos_id) or b"{}")

    assert _run(redis_url, scenario)["mesos_state"] == "TASK_KILLED"


def test_an_old_leader_cannot_unclaim(redis_url: str) -> None:
    async def scenario(store: Store, leader: LeaderStore, client: Any) -> None:
        mesos_id, epoch = await _claimed_task(store, leader, client, id="o")
        await leader.take_epoch("hippo:lock:test", "me")  # a newer leader
        with pytest.raises(StaleEpoch):
            await leader.unclaim(epoch, 3.0, [mesos_id])

    _run(redis_url, scenario)


def test_runs_behind_an_id_at_its_cap_are_not_starved(redis_url: str) -> None:
    async def scenario(store: Store, leader: LeaderStore, client: Any) -> list[str]:
        first, epoch = await _claimed_task(store, leader, client, id="x", max_concurrent=1)
        for _ in range(1500):  # more than a round looks at, all blocked by x's cap
            await store.create_task(parse_task(task(id="x", max_concurrent=1)), now=1.0)
        other, _ = await store.create_task(parse_task(task(id="other")), now=1.0)
        found = await leader.launchable(1000, 10_000)
        assert found.next_start is None
        assert found.capped == [CappedId("x", 1, 1)]  # why x's runs wait: worker/pending.py
        assert found.active_by_id == {"other": 0}
        assert json.loads(found.runs[0].status or b"{}")["mesos_id"] == found.runs[0].mesos_id
        return [run.mesos_id.split(".")[0] for run in found.runs]

    assert _run(redis_url, scenario) == ["other"]


def test_launchable_takes_each_id_up_to_its_free_slots_oldest_first(redis_url: str) -> None:
    async def scenario(store: Store, leader: LeaderStore, client: Any) -> list[str]:
        made = []
        for n in range(4):
            for task_id, cap in (("a", 2), ("b", 10)):
                record, _ = await store.create_task(
                    parse_task(task(id=task_id, max_concurrent=cap)), now=float(n)
                )
                made.append(json.loads(record)["mesos_id"])
        launchable = [run.mesos_id for run in (await leader.launchable(1000, 10_000)).runs]
        # a: its 2 oldest runs (cap 2, none active); b: all 4; in creation order
        assert launchable == [
            m
            for m in made
            if m.startswith("b.") or m in [x for x in made if x.startswith("a.")][:2]
        ]
        return launchable

    assert len(_run(redis_url, scenario)) == 6


def test_launchable_goes_on_from_where_it_stopped(redis_url: str) -> None:
    async def scenario(store: Store, leader: LeaderStore, client: Any) -> list[str]:
        for n in range(5):
            await store.create_task(parse_task(task(id=f"t{n}")), now=float(n))
        seen, start = [], 0
        while start is not None:
            found = await leader.launchable(2, 10_000, start)
            seen += [run.mesos_id.split(".")[0] for run in found.runs]
            start = found.next_start
        return seen

    assert _run(redis_url, scenario) == ["t0", "t1", "t2", "t3", "t4"]


def test_staging_runs_are_indexed_by_when_they_entered_staging(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """The staging check reads only runs staging since before its deadline; a run leaves
    the index with TASK_STAGING (launched, given back, or deleted)."""

    async def scenario(store: Store, leader: LeaderStore, client: Any) -> dict[str, Any]:
        started, _ = await _claimed_task(store, leader, client, id="started")
        back, _ = await _claimed_task(store, leader, client, id="back")
        stays, epoch = await _claimed_task(store, leader, client, id="stays")  # the latest
        found: dict[str, Any] = {
            "early": await leader.staging_since(1.5),
            "late": {t.mesos_id for t in await leader.staging_since(2.5)},
            "ids": (started, back, stays),
        }
        update = StatusUpdate(started, "TASK_STARTING", "", "", "S1", "", "")
        await leader.record_updates(epoch, 3.0, [update])
        await leader.unclaim(epoch, 3.0, [back])
        found["after"] = [t.mesos_id for t in await leader.staging_since(10.0)]
        return found

    found = _run(redis_url, scenario)
    started, back, stays = found["ids"]
    assert found["early"] == []
    assert found["late"] == {started, back, stays}
    assert found["after"] == [stays]
    assert raw_redis.zrange("hippo:tasks:staging:since", 0, -1, withscores=True) == [
        (stays.encode(), 2.0)
    ]
