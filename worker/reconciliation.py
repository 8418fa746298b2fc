"""Reconciliation: asking Mesos for the state of tasks Hippo believes are on agents.

Explicit for every active task at each SUBSCRIBED (an unknown task comes back TASK_LOST:
how runs claimed by a leader that died before its ACCEPT are found and retried),
explicit again for tasks staging past the deadline, and implicit every
`reconcile_interval_s`. The answers are ordinary status updates, without uuid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence

from hippo.shared.settings import Settings
from hippo.shared.store.leadership import ActiveTask, LeaderStore
from hippo.shared.tunables import RECONCILE_CHUNK, RECONCILE_TICK_S, RECONCILED_CACHE_LIMIT
from hippo.worker.cadence import Cadence
from hippo.worker.mesos import MesosError, MesosSchedulerClient

log = logging.getLogger(__name__)


Pair = tuple[str, str | None]  # (mesos_id, agent_id)


def stuck_staging(
    staging: Iterable[ActiveTask],
    *,
    now: float,
    monotonic_now: float,
    staging_timeout_s: float,
    reconciled: Mapping[str, float],
) -> list[Pair]:
    """Tasks staging for longer than the timeout (by their stored `updated_tstamp`, epoch
    s) and not reconciled within it (by `reconciled`, monotonic s): once per timeout each."""
    deadline, again = now - staging_timeout_s, monotonic_now - staging_timeout_s
    return [
        (t.mesos_id, t.agent_id)
        for t in staging
        if t.updated_tstamp < deadline and reconciled.get(t.mesos_id, -math.inf) < again
    ]


def chunks(pairs: Sequence[Pair], size: int = RECONCILE_CHUNK) -> list[Sequence[Pair]]:
    return [pairs[i : i + size] for i in range(0, len(pairs), size)]


class Reconciler:
    def __init__(self, settings: Settings, store: LeaderStore) -> None:
        self.settings = settings
        self.store = store
        self.reconciled: dict[str, float] = {}  # mesos id -> when last asked (monotonic s)

    async def all(self, client: MesosSchedulerClient) -> None:
        """Explicit reconciliation of every task Hippo believes is on an agent."""
        tasks = await self.store.active_tasks()
        log.info("leader: reconciling %d tasks explicitly", len(tasks))
        await self._explicit(client, [(t.mesos_id, t.agent_id) for t in tasks])

    async def stuck(self, client: MesosSchedulerClient) -> None:
        """Tasks staging past the deadline: ask Mesos (an unknown one comes back lost)."""
        timeout_s = self.settings.staging_timeout_s
        stuck = stuck_staging(
            await self.store.active_tasks(("TASK_STAGING",)),
            now=time.time(),
            monotonic_now=time.monotonic(),
            staging_timeout_s=timeout_s,
            reconciled=self.reconciled,
        )
        if stuck:
            log.info(
                "leader: %d tasks staging for over %.0f s; reconciling them", len(stuck), timeout_s
            )
            await self._explicit(client, stuck)
        if len(self.reconciled) > RECONCILED_CACHE_LIMIT:
            self.reconciled.clear()

    async def serve(self, client: MesosSchedulerClient) -> None:
        """Stuck-staging checks and implicit reconciliation, while subscribed."""
        s, start = self.settings, time.monotonic()
        staging = Cadence(max(0.5, s.staging_timeout_s / 4), start, at_once=True)
        implicit = Cadence(s.reconcile_interval_s, start)
        while True:
            await asyncio.sleep(RECONCILE_TICK_S)
            if client.stream_id is None:
                continue
            now = time.monotonic()
            if staging.due(now):
                await self.stuck(client)
            if implicit.due(now):
                with contextlib.suppress(MesosError):
                    await client.reconcile()

    async def _explicit(self, client: MesosSchedulerClient, pairs: Sequence[Pair]) -> None:
        now = time.monotonic()
        for mesos_id, _ in pairs:
            self.reconciled[mesos_id] = now
        for chunk in chunks(pairs):
            try:
                await client.reconcile(chunk)
            except MesosError as e:
                log.info("leader: RECONCILE failed (retried later): %s", e)
                return
