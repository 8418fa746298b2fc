"""The leader's chores that need no Mesos: trimming finished task records past their
retention (a fenced store call) and the waiting-tasks gauge."""

from __future__ import annotations

import asyncio
import logging
import time

from hippo.shared.settings import Settings
from hippo.shared.store.leadership import LeaderStore
from hippo.shared.tunables import HOUSEKEEPING_TICK_S, WAITING_GAUGE_S
from hippo.worker.cadence import Cadence
from hippo.worker.mesos import MesosSchedulerClient
from hippo.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)


class Housekeeping:
    def __init__(
        self, settings: Settings, store: LeaderStore, epoch: int, metrics: WorkerMetrics
    ) -> None:
        self.settings = settings
        self.store = store
        self.epoch = epoch
        self.metrics = metrics

    async def serve(self, client: MesosSchedulerClient) -> None:
        """The chores, while subscribed (a leader Mesos does not hear from may be stale)."""
        s, start = self.settings, time.monotonic()
        gauge = Cadence(WAITING_GAUGE_S, start, at_once=True)
        trim = Cadence(s.trim_interval_s, start)
        while True:
            await asyncio.sleep(HOUSEKEEPING_TICK_S)
            if client.stream_id is None:
                continue
            now = time.monotonic()
            if gauge.due(now):
                self.metrics.waiting_tasks.set(await self.store.waiting_count())
            if trim.due(now):
                await self.trim()

    async def trim(self) -> int:
        """Delete records finished more than `task_retention_s` ago; returns how many."""
        deleted = await self.store.trim_finished(
            self.epoch, now=time.time(), max_age_s=self.settings.task_retention_s
        )
        if deleted:
            log.info("leader: %d finished task records trimmed", deleted)
        return deleted
