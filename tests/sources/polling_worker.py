"""A polling-only worker process for the multi-process tests, with observation hooks.

Run as `python -m tests.sources.polling_worker` with HIPPO_* variables and:
  OBSERVE_REDIS_URL   where to record polls (the test's Redis, db 0 key prefix `observe:`)
  STORE_DELAY_S       sleep this long just before storing a poll that has items
  STORE_DELAY_QUEUE   only for these queue ids, comma-separated (default: every queue)
  ACK_DELAY_S         sleep this long just after storing a poll that has items, before
                      acknowledging it to the source
The hooks mark `observe:in-store:<pid>` / `observe:in-ack:<pid>` (and add each queue held
in store to the set `observe:held:<pid>`) so a test knows when to
SIGKILL the process, count polls per pid, and flag a queue polled by two workers at once.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import redis

from hippo.shared.settings import Settings
from hippo.shared.store.leases import PollStore
from hippo.worker import polling


def install_hooks() -> None:
    observe = redis.Redis.from_url(os.environ["OBSERVE_REDIS_URL"])
    pid = str(os.getpid())
    lease_ms = int(Settings.from_env().queue_lease_s * 1000)
    store_delay = float(os.environ.get("STORE_DELAY_S", "0"))
    delay_queues = set(filter(None, os.environ.get("STORE_DELAY_QUEUE", "").split(",")))
    ack_delay = float(os.environ.get("ACK_DELAY_S", "0"))
    original_poll = polling.Poller.poll
    original_store = PollStore.store_poll

    original_release = PollStore.release_lease
    original_fail = PollStore.fail_poll

    def end_observation(queue_id: str) -> None:
        # Before the lease is released: right after it, another worker may rightly poll.
        key = f"observe:polling:{queue_id}"
        if observe.get(key) == pid.encode():
            observe.delete(key)

    async def poll(self: Any, claimed: Any, prepared: Any, now: float) -> None:
        key = f"observe:polling:{claimed.queue_id}"
        if not observe.set(key, pid, nx=True, px=lease_ms):
            observe.rpush(
                "observe:violations", f"{claimed.queue_id} by {pid} while {observe.get(key)!r}"
            )
        observe.hincrby("observe:polls", pid, 1)
        try:
            await original_poll(self, claimed, prepared, now)
        finally:
            end_observation(claimed.queue_id)

    async def release_lease(self: Any, queue_id: str, token: str, delay_s: float = 0) -> bool:
        end_observation(queue_id)
        return await original_release(self, queue_id, token, delay_s)

    async def fail_poll(self: Any, queue_id: str, token: str, *args: Any) -> bool:
        end_observation(queue_id)
        return await original_fail(self, queue_id, token, *args)

    async def store_poll(self: Any, queue_id: str, token: str, **kwargs: Any) -> int:
        has_items = kwargs["items_taken"] > 0
        if has_items and store_delay and (not delay_queues or queue_id in delay_queues):
            observe.set(f"observe:in-store:{pid}", queue_id)
            observe.sadd(f"observe:held:{pid}", queue_id)
            await asyncio.sleep(store_delay)
        if kwargs["delay_s"] is not None:
            end_observation(queue_id)
        outcome = await original_store(self, queue_id, token, **kwargs)
        if has_items and ack_delay:
            observe.set(f"observe:in-ack:{pid}", queue_id)
            await asyncio.sleep(ack_delay)
        return outcome

    polling.Poller.poll = poll  # type: ignore[method-assign]
    PollStore.store_poll = store_poll  # type: ignore[method-assign]
    PollStore.release_lease = release_lease  # type: ignore[method-assign]
    PollStore.fail_poll = fail_poll  # type: ignore[method-assign]
    observe.set(f"observe:ready:{pid}", time.time())


if __name__ == "__main__":
    install_hooks()
    polling.main()
