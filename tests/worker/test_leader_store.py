"""The leader's fenced writes, straight on our Redis: claims and their undoing."""

from __future__ import annotations

import asyncio
import hashlib
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


def test_a_claim_of_several_runs_of_one_id_keeps_its_waiting_indexes_and_cap(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """One claim call settles an id's place among the waiting ids once, after its runs
    left (leader_scripts.CLAIM_TASKS), and counts the runs it claims against the cap."""

    async def scenario(store: Store, leader: LeaderStore, client: Any) -> list[list[str]]:
        made = []
        for n in range(4):
            record, _ = await store.create_task(
                parse_task(task(id="q", max_concurrent=3)), now=float(n)
            )
            made.append(json.loads(record)["mesos_id"])
        await client.set("hippo:lock:test", "me")
        epoch = await leader.take_epoch("hippo:lock:test", "me")
        assert epoch
        first = await leader.claim(epoch, 5.0, [Claim(m, "S1", "h1", 2, None) for m in made[:3]])
        assert raw_redis.zscore("hippo:tasks:waiting:ids", "q") == raw_redis.zscore(
            "hippo:tasks:waiting:id:q", made[2]
        )
        assert raw_redis.hget("hippo:tasks:caps", "q") == b"3"
        second = await leader.claim(epoch, 6.0, [Claim(m, "S1", "h1", 3, None) for m in made[2:]])
        return [first, second, made]

    first, second, made = _run(redis_url, scenario)
    assert first == made[:2]  # the third is over the cap of 2 given with the claims
    assert second == [made[2]]  # 2 active: one more under the cap of 3
    assert raw_redis.zrange("hippo:tasks:waiting:id:q", 0, -1) == [made[3].encode()]
    assert raw_redis.zscore("hippo:tasks:waiting:ids", "q") == raw_redis.zscore(
        "hippo:tasks:all", made[3]
    )
    assert raw_redis.zcard("hippo:tasks:active:id:q") == 3


def test_a_claim_that_takes_an_ids_last_waiting_runs_removes_the_id_from_the_rounds(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    async def scenario(store: Store, leader: LeaderStore, client: Any) -> list[str]:
        made = []
        for n in range(3):
            record, _ = await store.create_task(
                parse_task(task(id="q", max_concurrent=5)), now=float(n)
            )
            made.append(json.loads(record)["mesos_id"])
        await store.create_task(parse_task(task(id="other")), now=9.0)
        await client.set("hippo:lock:test", "me")
        epoch = await leader.take_epoch("hippo:lock:test", "me")
        assert epoch
        return await leader.claim(epoch, 5.0, [Claim(m, "S1", "h1", 5, None) for m in made])

    assert len(_run(redis_url, scenario)) == 3
    assert raw_redis.zrange("hippo:tasks:waiting:ids", 0, -1) == [b"other"]
    assert raw_redis.hget("hippo:tasks:caps", "q") is None
    assert raw_redis.zcard("hippo:tasks:waiting:id:q") == 0
    assert raw_redis.zcard("hippo:tasks:state:TASK_STAGING") == 3


def test_a_delayed_retry_killed_before_it_is_due_leaves_the_delayed_index(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """Leaving WAITING_ON_OFFERS, only a record with retry_due_tstamp is looked for in
    tasks:delayed (task_lua.set_state): a delayed retry's must go."""

    async def scenario(store: Store, leader: LeaderStore, client: Any) -> str:
        first, epoch = await _claimed_task(
            store, leader, client, id="later", task_retries=1, retry_delay_seconds=60
        )
        failed = StatusUpdate(first, "TASK_FAILED", "exit 1", "", "S1", "task", "r2")
        [outcome] = await leader.record_updates(epoch, 3.0, [failed])
        assert outcome.outcome == "retried"
        assert raw_redis.zscore("hippo:tasks:delayed", outcome.detail) == 63.0
        await store.request_kill(outcome.detail, now=4.0)
        return outcome.detail

    retry = _run(redis_url, scenario)
    assert raw_redis.zcard("hippo:tasks:delayed") == 0
    assert (
        json.loads(raw_redis.hget(f"hippo:task:{retry}", "status") or b"{}")["mesos_state"]
        == "TASK_KILLED"
    )


def test_a_rounds_read_ahead_is_on_the_wire_before_the_step_is_matched(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round over three steps of waiting runs: each next LAUNCHABLE has been written to
    Redis's socket before the leader matches the step before it, so Redis reads while the
    leader matches (worker/round_reads.py, READ_AHEAD_TURNS). Fails if redis-py takes more
    turns of the loop to write a call than the round gives it."""
    from hippo.shared.settings import Settings
    from hippo.shared.store import leader_scripts
    from hippo.worker import offer_round as round_module
    from hippo.worker import round_reads
    from hippo.worker.metrics import WorkerMetrics
    from hippo.worker.offer_book import OfferBook
    from tests.worker.test_leader_parts import raw_offer

    monkeypatch.setattr(round_module, "ROUND_READ_BATCH", 2)
    monkeypatch.setattr(round_reads, "ROUND_READ_BATCH", 2)
    monkeypatch.setattr(round_reads, "ROUND_IDS_PER_STEP", 2)
    launchable_sha = hashlib.sha1(leader_scripts.LAUNCHABLE.encode()).hexdigest().encode()
    journal: list[str] = []
    write, writelines = asyncio.StreamWriter.write, asyncio.StreamWriter.writelines

    def note(data: bytes) -> None:
        if launchable_sha in data:
            journal.append("sent")

    def noted_write(self: asyncio.StreamWriter, data: Any) -> None:
        note(bytes(data))
        write(self, data)

    def noted_writelines(self: asyncio.StreamWriter, data: Any) -> None:
        data = list(data)
        note(b"".join(bytes(d) for d in data))
        writelines(self, data)

    async def scenario(store: Store, leader: LeaderStore, client: Any) -> list[str]:
        for n in range(6):
            await store.create_task(parse_task(task(id=f"t{n}", constraints=[])), now=1.0)
        await client.set(leader.keys.leader_epoch, 1)
        book = OfferBook(hold_s=2)
        book.receive([raw_offer(1, cpus=16)], now=10.0)
        offer_round = round_module.OfferRound(
            Settings.from_env({}), leader, 1, WorkerMetrics(), book, print
        )
        read = offer_round.inputs.waiting

        async def waiting(runs: Any) -> Any:
            journal.append("match")
            return await read(runs)

        offer_round.inputs.waiting = waiting  # type: ignore[method-assign]
        await leader.launchable(1, 1)  # the script loaded, a connection in the pool
        journal.clear()
        monkeypatch.setattr(asyncio.StreamWriter, "write", noted_write)
        monkeypatch.setattr(asyncio.StreamWriter, "writelines", noted_writelines)
        assigned, *_ = await offer_round._match()
        assert len(assigned) == 6
        return journal

    # The first step is decoded before the round knows its runs' size (round_reads).
    assert _run(redis_url, scenario) == ["sent", "match", "sent", "sent", "match", "match"]
