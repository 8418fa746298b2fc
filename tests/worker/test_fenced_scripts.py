"""Each fenced leader script, straight on our Redis: a leader holding an older epoch
writes nothing; the claim holds both `max_concurrent` caps on its own; status updates
never move a task backwards and are applied once.

These are the guarantees "one fenced leader" and "caps hold" (docs/architecture.md):
every other layer (the offer round's pre-filter, the watchdog) may be wrong or late,
the scripts may not.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from hippo.shared.errors import StaleEpoch
from hippo.shared.model import parse_task
from hippo.shared.records import WAITING, new_task_status
from hippo.shared.store import Store, connect, task_scripts
from hippo.shared.store.keys import Keys
from hippo.shared.store.leadership import Claim, LeaderStore, StatusUpdate
from tests.examples import task

KEYS = Keys("hippo:")
LOCK = "hippo:lock:test"


class Leaders:
    """Two leaders' stores on one Redis, and a helper to take epochs as a lock holder."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.store = Store(client, KEYS)
        self.leader = LeaderStore(client, KEYS)

    async def epoch(self, holder: str = "me") -> int:
        await self.client.set(LOCK, holder)
        epoch = await self.leader.take_epoch(LOCK, holder)
        assert epoch is not None
        return epoch

    async def task(self, **fields: Any) -> str:
        record, _ = await self.store.create_task(parse_task(task(**fields)), now=1.0)
        return str(json.loads(record)["mesos_id"])

    async def queue_task(self, queue_id: str, task_id: str) -> str:
        """A run made by a queue's poll (CREATE_TASKS with a queue id, as polling does)."""
        definition = parse_task(task(id=task_id))
        mesos_id = f"{task_id}.{uuid.uuid4()}"
        spec = definition.model_dump_json(exclude={"id"}, exclude_none=True)
        status = new_task_status(definition, task_id, mesos_id, 1.0, queue_id=queue_id)
        create = self.client.register_script(task_scripts.CREATE_TASKS)
        args = [KEYS.prefix, "", 60, mesos_id, task_id, queue_id, spec, json.dumps(status)]
        await create(args=args)
        return mesos_id

    async def status(self, mesos_id: str) -> dict[str, Any]:
        raw = await self.client.hget(KEYS.task(mesos_id), "status")
        return dict(json.loads(raw))

    async def claim(
        self, epoch: int, *mesos_ids: str, id_cap: int | None = 10, queue_cap: int | None = None
    ) -> list[str]:
        claims = [Claim(m, "S1", "host1", id_cap, queue_cap) for m in mesos_ids]
        return await self.leader.claim(epoch, 2.0, claims)

    async def record(
        self,
        epoch: int,
        mesos_id: str,
        state: str,
        *,
        budget: str = "",
        reason: str = "",
        now: float = 3.0,
    ) -> str:
        update = StatusUpdate(
            mesos_id, state, f"{state} message", reason, "S1", budget, str(uuid.uuid4())
        )
        (outcome,) = await self.leader.record_updates(epoch, now, [update])
        return outcome.outcome


def run(redis_url: str, scenario: Callable[[Leaders], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        client = connect(redis_url)
        try:
            return await scenario(Leaders(client))
        finally:
            await client.aclose()

    return asyncio.run(main())


def dump(raw: redis.Redis) -> dict[bytes, Any]:
    """Every key of our Redis with its value: to prove a refused script wrote nothing."""
    found: dict[bytes, Any] = {}
    for key in raw.scan_iter("*"):
        kind = raw.type(key)
        if kind == b"string":
            found[key] = raw.get(key)
        elif kind == b"hash":
            found[key] = raw.hgetall(key)
        elif kind == b"zset":
            found[key] = raw.zrange(key, 0, -1, withscores=True)
        elif kind == b"set":
            found[key] = raw.smembers(key)
        else:
            found[key] = kind
    return found


# --- the epoch -------------------------------------------------------------------------


def test_an_epoch_is_taken_only_while_the_lock_holds_our_id(redis_url: str) -> None:
    async def scenario(t: Leaders) -> tuple[int | None, int | None, int | None]:
        await t.client.set(LOCK, "someone-else")
        refused = await t.leader.take_epoch(LOCK, "me")
        await t.client.delete(LOCK)
        expired = await t.leader.take_epoch(LOCK, "me")
        await t.client.set(LOCK, "me")
        return refused, expired, await t.leader.take_epoch(LOCK, "me")

    refused, expired, taken = run(redis_url, scenario)
    assert refused is None and expired is None
    assert taken == 1  # the refusals did not move the epoch either


# --- a stale leader writes nothing -----------------------------------------------------


@pytest.mark.parametrize(
    "write",
    ["claim", "record", "unclaim", "save_framework_id", "fail_waiting", "trim", "deadlines"],
)
def test_a_leader_with_an_older_epoch_writes_nothing(
    redis_url: str, raw_redis: redis.Redis, write: str
) -> None:
    async def prepare(t: Leaders) -> tuple[int, str, str]:
        old = await t.epoch()
        waiting = await t.task(id="w", max_pending_seconds=1)
        staging = await t.task(id="s", max_runtime_seconds=1)
        assert await t.claim(old, staging) == [staging]
        await t.leader.save_framework_id(old, "framework-1")
        await t.epoch()  # a newer leader
        return old, waiting, staging

    old, waiting, staging = run(redis_url, prepare)
    before = dump(raw_redis)

    async def attempt(t: Leaders) -> None:
        with pytest.raises(StaleEpoch):
            if write == "claim":
                await t.claim(old, waiting)
            elif write == "record":
                await t.record(old, staging, "TASK_FAILED", budget="task")
            elif write == "unclaim":
                await t.leader.unclaim(old, 3.0, [staging])
            elif write == "fail_waiting":
                await t.leader.fail_waiting(old, 3.0, [(waiting, "cannot be decoded")])
            elif write == "trim":
                await t.leader.trim_finished(old, now=1e12, max_age_s=0)
            elif write == "deadlines":
                await t.leader.due_deadlines(old, 1e12)
            else:
                await t.leader.save_framework_id(old, "framework-2")

    run(redis_url, attempt)
    assert dump(raw_redis) == before


# --- the caps hold in the claim itself -------------------------------------------------


def test_the_claim_holds_a_task_ids_max_concurrent_by_itself(redis_url: str) -> None:
    async def scenario(t: Leaders) -> tuple[list[str], list[str], list[str]]:
        epoch = await t.epoch()
        runs = [await t.task(id="capped", max_concurrent=2) for _ in range(4)]
        first = await t.claim(epoch, *runs[:3], id_cap=2)  # one call asks for 3
        second = await t.claim(epoch, runs[3], id_cap=2)  # a later round asks again
        return runs, first, second

    runs, first, second = run(redis_url, scenario)
    assert first == runs[:2]
    assert second == []


def test_the_claim_holds_a_queues_max_concurrent_by_itself(redis_url: str) -> None:
    async def scenario(t: Leaders) -> tuple[list[str], list[str]]:
        epoch = await t.epoch()
        runs = [await t.queue_task("q1", f"item{n}") for n in range(3)]
        return runs, await t.claim(epoch, *runs, queue_cap=2)

    runs, claimed = run(redis_url, scenario)
    assert claimed == runs[:2]


def test_two_leaders_racing_at_the_claim_never_exceed_either_cap(redis_url: str) -> None:
    """A leader claims, loses its lock, and a new leader claims the same offer's worth of
    tasks: the caps count the old leader's claims, and the old leader's next claim is
    refused."""

    async def scenario(t: Leaders) -> dict[str, Any]:
        old = await t.epoch("old")
        by_id = [await t.task(id="one", max_concurrent=1) for _ in range(2)]
        by_queue = [await t.queue_task("q2", f"item{n}") for n in range(3)]
        old_claims = await t.claim(old, by_id[0], by_queue[0], id_cap=1, queue_cap=2)
        new = await t.epoch("new")
        new_claims = await t.claim(new, by_id[1], *by_queue[1:], id_cap=1, queue_cap=2)
        with pytest.raises(StaleEpoch):
            await t.claim(old, by_id[1], *by_queue[1:], id_cap=1, queue_cap=2)
        return {
            "old": old_claims,
            "new": new_claims,
            "by_id": by_id,
            "by_queue": by_queue,
            "active_id": await t.client.zcard(KEYS.tasks_active_by_id("one")),
            "active_queue": await t.client.zcard(KEYS.tasks_active_by_queue("q2")),
        }

    found = run(redis_url, scenario)
    assert found["old"] == [found["by_id"][0], found["by_queue"][0]]
    assert found["new"] == [found["by_queue"][1]]  # the id is full; the queue has 1 slot
    assert found["active_id"] == 1 and found["active_queue"] == 2


def test_the_claim_skips_runs_no_longer_waiting_or_whose_kill_was_requested(
    redis_url: str,
) -> None:
    async def scenario(t: Leaders) -> tuple[list[str], str]:
        epoch = await t.epoch()
        killed, claimed_twice = await t.task(id="k"), await t.task(id="c")
        await t.store.request_kill(killed, now=1.5)
        assert await t.claim(epoch, claimed_twice) == [claimed_twice]
        return await t.claim(epoch, killed, claimed_twice), killed

    again, _ = run(redis_url, scenario)
    assert again == []


# --- status updates: never backwards, applied once -------------------------------------


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["TASK_RUNNING", "TASK_STARTING"], "TASK_RUNNING"),
        (["TASK_RUNNING", "TASK_STAGING"], "TASK_RUNNING"),
        (["TASK_KILLING", "TASK_RUNNING"], "TASK_KILLING"),
        (["TASK_FINISHED", "TASK_RUNNING"], "TASK_FINISHED"),
        (["TASK_FAILED", "TASK_FINISHED"], "TASK_FAILED"),
        (["TASK_STARTING", "TASK_RUNNING", "TASK_RUNNING"], "TASK_RUNNING"),
    ],
)
def test_an_older_or_repeated_update_never_moves_a_task_backwards(
    redis_url: str, states: list[str], expected: str
) -> None:
    async def scenario(t: Leaders) -> tuple[dict[str, Any], list[str]]:
        epoch = await t.epoch()
        mesos_id = await t.task(id="o")
        await t.claim(epoch, mesos_id)
        outcomes = [await t.record(epoch, mesos_id, s, now=3.0 + n) for n, s in enumerate(states)]
        return await t.status(mesos_id), outcomes

    status, outcomes = run(redis_url, scenario)
    assert status["mesos_state"] == expected
    assert outcomes[0] == "stored" and outcomes[-1] in ("same", "stale")
    assert status["status_message"] == f"{expected} message"


def test_a_failure_delivered_twice_makes_one_retry(redis_url: str) -> None:
    async def scenario(t: Leaders) -> tuple[list[str], int]:
        epoch = await t.epoch()
        mesos_id = await t.task(id="f", task_retries=3)
        await t.claim(epoch, mesos_id)
        outcomes = [await t.record(epoch, mesos_id, "TASK_FAILED", budget="task") for _ in range(2)]
        return outcomes, await t.client.zcard(KEYS.tasks_by_state(WAITING))

    outcomes, waiting = run(redis_url, scenario)
    assert outcomes == ["retried", "stale"]
    assert waiting == 1


def test_the_retried_run_has_every_field_of_a_new_task_record(redis_url: str) -> None:
    """The run the script makes and the run the API makes are the same shape."""

    async def scenario(t: Leaders) -> tuple[dict[str, Any], dict[str, Any]]:
        epoch = await t.epoch()
        first = await t.task(id="r", task_retries=1)
        await t.claim(epoch, first)
        update = StatusUpdate(first, "TASK_FAILED", "", "", "S1", "task", "fresh")
        (outcome,) = await t.leader.record_updates(epoch, 3.0, [update])
        assert outcome.outcome == "retried"
        return await t.status(first), await t.status(outcome.detail)

    first, retried = run(redis_url, scenario)
    assert set(retried) == set(first)
    assert retried["mesos_state"] == WAITING and retried["previous_mesos_id"] == first["mesos_id"]
    assert (retried["task_retries_left"], retried["system_retries_left"]) == (0, 2)


def test_a_run_that_can_never_launch_ends_as_task_error_with_the_reason(
    redis_url: str,
) -> None:
    async def scenario(t: Leaders) -> tuple[int, dict[str, Any], dict[str, Any], int]:
        epoch = await t.epoch()
        broken, launched = await t.task(id="broken"), await t.task(id="launched")
        await t.claim(epoch, launched)
        moved = await t.leader.fail_waiting(
            epoch, 3.0, [(broken, "definition cannot be decoded"), (launched, "no")]
        )
        waiting = await t.client.zcard(KEYS.tasks_by_state(WAITING))
        return moved, await t.status(broken), await t.status(launched), waiting

    moved, broken, launched, waiting = run(redis_url, scenario)
    assert moved == 1 and waiting == 0
    assert broken["mesos_state"] == "TASK_ERROR" and broken["finished_tstamp"] == 3.0
    assert broken["status_message"] == "definition cannot be decoded"
    assert launched["mesos_state"] == "TASK_STAGING"  # only waiting runs are failed
