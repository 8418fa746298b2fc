"""The runs' own times, acted on by the leader: delayed retries that have come due
join the launchable runs (retry_delay_seconds), waiting runs past max_pending_seconds
fail, running ones past max_runtime_seconds are killed.

The times live in Redis (store keys `tasks:delayed`, `tasks:deadline:*`) and each
decision is one fenced store call, so a new leader takes over exactly where the old one
stopped: nothing due is lost across a failover, and nothing is done twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from hippo.shared.store.leadership import LeaderStore
from hippo.shared.tunables import DEADLINES_TICK_S
from hippo.worker.mesos import MesosSchedulerClient

log = logging.getLogger(__name__)


def next_wait_s(next_in_s: float | None, tick_s: float = DEADLINES_TICK_S) -> float:
    """How long to sleep before looking again: until the next time is due, but at most
    `tick_s` (a run created meanwhile may carry an earlier one)."""
    if next_in_s is None:
        return tick_s
    return min(tick_s, max(0.0, next_in_s))


class Deadlines:
    def __init__(
        self,
        store: LeaderStore,
        epoch: int,
        on_released: Callable[[], None],
        on_kills: Callable[[], None],
    ) -> None:
        self.store = store
        self.epoch = epoch
        self.on_released = on_released
        self.on_kills = on_kills

    async def serve(self, client: MesosSchedulerClient) -> None:
        """While subscribed: a kill or a launch needs Mesos, and a leader Mesos does not
        hear from may be stale."""
        wait_s = 0.0
        while True:
            await asyncio.sleep(wait_s)
            if client.stream_id is None:
                wait_s = DEADLINES_TICK_S
                continue
            wait_s = next_wait_s(await self.once())

    async def once(self) -> float | None:
        """Act on what is due now; returns the seconds until the next time (None: none)."""
        found = await self.store.due_deadlines(self.epoch, time.time())
        if found.released:
            log.info("leader: %d delayed retries are due and wait for offers", found.released)
            self.on_released()
        if found.failed:
            log.info("leader: %d runs got no offer within max_pending_seconds", found.failed)
        if found.killed:
            log.info("leader: %d runs ran past max_runtime_seconds; killing", found.killed)
            self.on_kills()
        return found.next_in_s
