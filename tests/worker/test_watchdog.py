"""The leader's ownership watchdog (worker/leader.py): python-redis-lock's renewal thread
can die silently, so the leader checks on a timer that the lock still holds its id and
that no newer epoch was taken, and steps down on any doubt: another holder, a newer
epoch, or no confirmation for as long as the lock's remaining expiry guaranteed. A slow
or failed check within that time is not a doubt (a loaded machine is not a lost lock)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from hippo.shared.errors import StoreUnavailable
from hippo.shared.store import connect
from hippo.shared.store.keys import Keys
from hippo.shared.store.leadership import LeaderStore
from hippo.worker.leader import _watch_lease, watchdog_interval_s
from tests.conftest import DEADLINE_SCALE

LOCK = "hippo:lock:watchdog"


@pytest.mark.parametrize("doubt", ["lock taken by another", "lock expired", "newer epoch"])
def test_the_watchdog_steps_down_on_any_doubt(redis_url: str, doubt: str) -> None:
    async def scenario() -> bool:
        client = connect(redis_url)
        try:
            store = LeaderStore(client, Keys("hippo:"))
            await client.set(LOCK, "me")
            epoch = await store.take_epoch(LOCK, "me")
            assert epoch is not None
            lost = asyncio.Event()
            watch = asyncio.create_task(_watch_lease(store, LOCK, "me", epoch, 0.2, lost))
            assert await store.still_leader(LOCK, "me", epoch)
            if doubt == "lock taken by another":
                await client.set(LOCK, "another")
            elif doubt == "lock expired":
                await client.delete(LOCK)
            else:
                await client.incr("hippo:leader:epoch")
            try:
                await asyncio.wait_for(lost.wait(), 10)  # a bound, not a synchronisation
            finally:
                watch.cancel()
            return lost.is_set()
        finally:
            await client.aclose()

    assert asyncio.run(scenario())


def test_the_watchdog_steps_down_when_redis_cannot_answer() -> None:
    async def scenario() -> bool:
        client = connect("redis://127.0.0.1:1/0")  # nothing listens on port 1
        try:
            lost = asyncio.Event()
            store = LeaderStore(client, Keys("hippo:"))
            await asyncio.wait_for(_watch_lease(store, LOCK, "me", 1, 0.05, lost), 10)
            return lost.is_set()
        finally:
            await client.aclose()

    assert asyncio.run(scenario())


@pytest.mark.parametrize("lock_expire_s", [1, 2, 5, 30, 60])
def test_the_watchdog_checks_well_within_the_lock_expiry(lock_expire_s: int) -> None:
    assert watchdog_interval_s(lock_expire_s) <= lock_expire_s / 2


class FlakyChecks:
    """The leader's store, whose ownership checks fail while `failing` is set, as they
    would with Redis too slow to answer; counts the checks."""

    def __init__(self, store: LeaderStore) -> None:
        self.store = store
        self.failing = False
        self.checks = 0

    async def still_leader(self, *args: Any) -> float:
        self.checks += 1
        if self.failing:
            raise StoreUnavailable("Redis did not answer in time")
        return await self.store.still_leader(*args)


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10 * DEADLINE_SCALE
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("from_the_start", [False, True])
def test_checks_failing_while_the_lock_is_certainly_ours_do_not_step_down(
    redis_url: str, from_the_start: bool
) -> None:
    """`from_the_start`: the new leader's first checks fail (it starts heavy work at
    once); the lock it has just taken with a 60 s expiry is its own meanwhile. Else one
    check confirms 60 s first, then checks fail."""

    async def scenario() -> bool:
        client = connect(redis_url)
        try:
            store = LeaderStore(client, Keys("hippo:"))
            taken_at = time.monotonic()
            await client.set(LOCK, "me", px=60_000)  # its renewal thread keeps it so
            epoch = await store.take_epoch(LOCK, "me")
            assert epoch is not None
            flaky, lost = FlakyChecks(store), asyncio.Event()
            certain_until = taken_at + 60 if from_the_start else None
            watch = asyncio.create_task(
                _watch_lease(flaky, LOCK, "me", epoch, 0.05, lost, certain_until)  # type: ignore[arg-type]
            )
            try:
                if not from_the_start:
                    await until(lambda: lost.is_set() or flaky.checks >= 1)  # 60 s confirmed
                # Six failed checks, 0.3 s: past the 2 intervals a lock not yet
                # confirmed is trusted by default, well within the 60 s.
                flaky.failing, failed_from = True, flaky.checks
                await until(lambda: lost.is_set() or flaky.checks >= failed_from + 6)
                flaky.failing, answered_from = False, flaky.checks
                await until(lambda: lost.is_set() or flaky.checks >= answered_from + 1)
                stepped_down = lost.is_set()
                await client.set(LOCK, "another")  # a real doubt still steps down
                await asyncio.wait_for(lost.wait(), 10)  # a bound, not a synchronisation
            finally:
                watch.cancel()
            return stepped_down
        finally:
            await client.aclose()

    assert not asyncio.run(scenario()), "the leader stepped down on checks that only failed"
