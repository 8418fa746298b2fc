"""The leader's ownership watchdog (worker/leader.py): python-redis-lock's renewal thread
can die silently, so the leader checks on a timer that the lock still holds its id and
that no newer epoch was taken, and steps down on any doubt."""

from __future__ import annotations

import asyncio

import pytest

from hippo.shared.store import connect
from hippo.shared.store.keys import Keys
from hippo.shared.store.leadership import LeaderStore
from hippo.worker.leader import _watch_lease, watchdog_interval_s

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
