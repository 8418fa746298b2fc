"""Reconciliation: asking Mesos for the state of tasks Hippo believes are on agents.

Explicit for every active task at each SUBSCRIBED, and asked again, with truncated
exponential backoff, until each has had an update since (docs/reconciliation.md in
apache/mesos: "This reconciliation algorithm must be run after each (re-)registration";
after a master failover the master answers nothing for an agent that has not
re-registered, until its --agent_reregister_timeout marks it unreachable). Explicit
again for tasks staging past the deadline, and implicit every `reconcile_interval_s`.
The answers are ordinary status updates, without uuid.

How long a task may hold its `max_concurrent` slot without Mesos vouching for it: a
task still unanswered `unreachable_timeout_s` after it was first asked, or
TASK_UNREACHABLE for that long, is given up: recorded TASK_LOST with a message saying
so, which spends a system retry. Mesos' default agent_reregister_timeout is 10 min, so
the default 15 min gives the master time to answer first. Should the task come back
(RUNNING with REASON_AGENT_REREGISTERED), the status recorder kills it: one run per task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from hippo.shared.settings import Settings
from hippo.shared.store.leadership import ActiveTask, LeaderStore
from hippo.shared.tunables import (
    RECONCILE_CHUNK,
    RECONCILE_RETRY_CAP_S,
    RECONCILE_RETRY_FIRST_S,
    RECONCILE_TICK_S,
    RECONCILED_CACHE_LIMIT,
)
from hippo.worker.cadence import Cadence
from hippo.worker.call_retry import call_retry_s
from hippo.worker.mesos import MesosError, MesosSchedulerClient, TaskStatus

log = logging.getLogger(__name__)


Pair = tuple[str, str | None]  # (mesos_id, agent_id)


@dataclass
class Asked:
    """A task asked about and not answered yet (times in monotonic s)."""

    agent_id: str | None
    first_s: float
    attempts: int
    due_s: float  # when to ask again


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


def ask_again(unanswered: Mapping[str, Asked], now: float) -> list[Pair]:
    """Pure. The unanswered tasks whose backoff has passed at `now`."""
    return [(mid, a.agent_id) for mid, a in unanswered.items() if a.due_s <= now]


def asked_again(asked: Asked, now: float) -> Asked:
    """Pure. `asked` after one more unanswered ask at `now`: its next one waits
    RECONCILE_RETRY_FIRST_S doubling per attempt, truncated at RECONCILE_RETRY_CAP_S."""
    attempts = asked.attempts + 1
    wait_s = call_retry_s(attempts, RECONCILE_RETRY_FIRST_S, RECONCILE_RETRY_CAP_S)
    return Asked(asked.agent_id, asked.first_s, attempts, now + wait_s)


def to_give_up(
    unanswered: Mapping[str, Asked],
    unreachable: Iterable[ActiveTask],
    *,
    now: float,
    monotonic_now: float,
    timeout_s: float,
) -> list[tuple[Pair, str]]:
    """Pure. Tasks Mesos has not vouched for in `timeout_s`, each with why: unanswered
    since first asked (monotonic s), or TASK_UNREACHABLE since stored (epoch s)."""
    found = [
        ((mid, a.agent_id), f"no answer from Mesos to reconciliation for {timeout_s:.0f} s")
        for mid, a in unanswered.items()
        if monotonic_now - a.first_s >= timeout_s
    ]
    found += [
        ((t.mesos_id, t.agent_id), f"unreachable for {timeout_s:.0f} s")
        for t in unreachable
        if t.mesos_id not in unanswered and now - t.updated_tstamp >= timeout_s
    ]
    return found


def chunks(pairs: Sequence[Pair], size: int = RECONCILE_CHUNK) -> list[Sequence[Pair]]:
    return [pairs[i : i + size] for i in range(0, len(pairs), size)]


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        store: LeaderStore,
        give_up: Callable[[TaskStatus], None] = lambda status: None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.give_up = give_up  # takes a made-up TASK_LOST for a run given up
        self.reconciled: dict[str, float] = {}  # mesos id -> when last asked (monotonic s)
        self.unanswered: dict[str, Asked] = {}  # asked, no update since

    async def all(self, client: MesosSchedulerClient) -> None:
        """Explicit reconciliation of every task Hippo believes is on an agent; the
        previous one, if still running, is replaced (one at a time, as the guide asks)."""
        # A task still unanswered keeps its first ask: a flapping stream does not
        # postpone its give-up forever.
        firsts = {mid: asked.first_s for mid, asked in self.unanswered.items()}
        self.unanswered.clear()
        tasks = await self.store.active_tasks()
        log.info("leader: reconciling %d tasks explicitly", len(tasks))
        await self._explicit(client, [(t.mesos_id, t.agent_id) for t in tasks], firsts)

    def answered(self, mesos_id: str) -> None:
        """An update for the task arrived (an answer or any other)."""
        self.unanswered.pop(mesos_id, None)

    async def stuck(self, client: MesosSchedulerClient) -> None:
        """Tasks staging past the deadline: ask Mesos (an unknown one comes back lost)."""
        timeout_s = self.settings.staging_timeout_s
        now = time.time()
        stuck = stuck_staging(
            await self.store.staging_since(now - timeout_s),
            now=now,
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

    async def unvouched(self) -> None:
        """Give up the runs Mesos has not vouched for in `unreachable_timeout_s`."""
        timeout_s = self.settings.unreachable_timeout_s
        found = to_give_up(
            self.unanswered,
            await self.store.active_tasks(("TASK_UNREACHABLE",)),
            now=time.time(),
            monotonic_now=time.monotonic(),
            timeout_s=timeout_s,
        )
        for (mesos_id, agent_id), why in found:
            self.unanswered.pop(mesos_id, None)
            log.warning(
                "task %s: %s; given up (retried; killed should it come back)",
                mesos_id,
                why,
                extra={"task": mesos_id},
            )
            self.give_up(
                TaskStatus(
                    raw={},
                    task_id=mesos_id,
                    state="TASK_LOST",
                    agent_id=agent_id,
                    uuid=None,  # made by Hippo: nothing to acknowledge
                    message=f"Hippo gave the task up: {why}",
                    reason=None,
                    source=None,
                )
            )

    async def serve(self, client: MesosSchedulerClient) -> None:
        """Asks again, stuck-staging checks, give-ups and implicit reconciliation,
        while subscribed."""
        s, start = self.settings, time.monotonic()
        staging = Cadence(max(0.5, s.staging_timeout_s / 4), start, at_once=True)
        implicit = Cadence(s.reconcile_interval_s, start)
        while True:
            await asyncio.sleep(RECONCILE_TICK_S)
            if client.stream_id is None:
                continue
            now = time.monotonic()
            again = ask_again(self.unanswered, now)
            if again:
                log.info("leader: %d tasks unanswered; reconciling them again", len(again))
                for mesos_id, _ in again:
                    self.unanswered[mesos_id] = asked_again(self.unanswered[mesos_id], now)
                await self._send(client, again)
            if staging.due(now):
                await self.stuck(client)
                await self.unvouched()
            if implicit.due(now):
                with contextlib.suppress(MesosError):
                    await client.reconcile()

    async def _explicit(
        self,
        client: MesosSchedulerClient,
        pairs: Sequence[Pair],
        firsts: Mapping[str, float] | None = None,
    ) -> None:
        now = time.monotonic()
        first_wait_s = call_retry_s(1, RECONCILE_RETRY_FIRST_S, RECONCILE_RETRY_CAP_S)
        for mesos_id, agent_id in pairs:
            self.reconciled[mesos_id] = now
            if mesos_id not in self.unanswered:
                first_s = (firsts or {}).get(mesos_id, now)
                self.unanswered[mesos_id] = Asked(agent_id, first_s, 1, now + first_wait_s)
        await self._send(client, pairs)

    async def _send(self, client: MesosSchedulerClient, pairs: Sequence[Pair]) -> None:
        """A failed call is not fatal: the tasks stay unanswered and are asked again."""
        for chunk in chunks(pairs):
            try:
                await client.reconcile(chunk)
            except MesosError as e:
                log.info("leader: RECONCILE failed (asked again later): %s", e)
                return
