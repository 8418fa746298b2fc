"""Recording status updates: store them (one fenced script per batch), act on what the
store says, and only then acknowledge them to Mesos, which resends every update until
it is acknowledged. An update is therefore never lost between Mesos and Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hippo.shared.store.leadership import LeaderStore, StatusUpdate, UpdateOutcome
from hippo.shared.tunables import UPDATE_BATCH
from hippo.worker.kills import KillSender
from hippo.worker.mesos import MesosError, MesosHTTPError, MesosSchedulerClient, TaskStatus
from hippo.worker.metrics import WorkerMetrics
from hippo.worker.retries import retry_budget

log = logging.getLogger(__name__)

# A task in one of these states is alive on an agent the master can reach.
RUNS_ON_AN_AGENT = frozenset({"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING"})


def to_store(statuses: Sequence[TaskStatus]) -> list[StatusUpdate]:
    """What the record script needs of each update, with the retry budget its end
    spends and, for an end, a fresh uuid to name the next run, should the script make
    one."""
    return [
        StatusUpdate(
            s.task_id,
            s.state,
            s.message or "",
            s.reason or "",
            s.agent_id or "",
            retry_budget(s.state, s.reason, s.message) or "",
            str(uuid.uuid4()) if s.terminal else "",
        )
        for s in statuses
    ]


@dataclass
class Consequences:
    """What the leader does about a batch once the store has answered."""

    stored: list[TaskStatus] = field(default_factory=list)  # counted by state
    launch_latencies_s: list[float] = field(default_factory=list)  # creation to RUNNING
    retried: list[tuple[TaskStatus, str]] = field(default_factory=list)  # (end, next run)
    ended: list[str] = field(default_factory=list)  # runs whose KILL need not be resent
    # (update, stale | missing): running in Mesos, ended in Hippo or unknown to it
    to_kill: list[tuple[TaskStatus, str]] = field(default_factory=list)
    freed: bool = False  # a run ended: a slot under a cap, resources on an agent


def consequences(
    statuses: Sequence[TaskStatus], outcomes: Sequence[UpdateOutcome], now: float
) -> Consequences:
    """Pure. `outcomes` are the store's, one per status; `now` in epoch seconds."""
    found = Consequences()
    for status, result in zip(statuses, outcomes, strict=True):
        if result.outcome in ("stored", "retried"):
            found.stored.append(status)
            if status.state == "TASK_RUNNING" and result.detail:
                found.launch_latencies_s.append(max(0.0, now - float(result.detail)))
            if status.terminal:
                found.freed = True
                found.ended.append(status.task_id)
            if result.outcome == "retried":
                found.retried.append((status, result.detail))
        elif result.outcome in ("stale", "missing") and status.state in RUNS_ON_AN_AGENT:
            # Running, yet Hippo ended (or never had) it: e.g. unreachable, given up and
            # retried, then back with REASON_AGENT_REREGISTERED. One run per task: kill
            # this one. (Not for TASK_UNREACHABLE: nothing can be killed behind a
            # partition, and the master would answer the KILL with TASK_UNREACHABLE again.)
            found.to_kill.append((status, result.outcome))
    return found


class UpdateRecorder:
    def __init__(
        self,
        store: LeaderStore,
        epoch: int,
        metrics: WorkerMetrics,
        kills: KillSender,
        on_freed: Callable[[], None],
    ) -> None:
        self.store = store
        self.epoch = epoch
        self.metrics = metrics
        self.kills = kills
        self.on_freed = on_freed
        # Updates not yet taken into a batch, oldest first, and a flag set when one
        # arrives (an asyncio.Queue's put and get cost five times as much per update).
        self._pending: list[TaskStatus] = []
        self._arrived = asyncio.Event()

    def put(self, status: TaskStatus) -> None:
        """An update from the event stream, recorded in the next batch."""
        self._pending.append(status)
        self._arrived.set()

    async def _next_batch(self) -> list[TaskStatus]:
        """The oldest updates waiting, up to UPDATE_BATCH; waits for one if none does."""
        while not self._pending:
            self._arrived.clear()
            await self._arrived.wait()
        batch = self._pending[:UPDATE_BATCH]
        del self._pending[:UPDATE_BATCH]
        return batch

    async def serve(self, client: MesosSchedulerClient) -> None:
        """Record updates in batches of what has arrived, up to UPDATE_BATCH. A store
        failure ends the term (nothing acknowledged: Mesos resends).

        A batch is acknowledged once stored, while the next one is stored: at most one
        batch's acknowledgements are in flight, sent in batch order (the round trip to
        the master no longer holds up the next store; the tasks' next updates wait for
        these acknowledgements at the agent)."""
        acking: asyncio.Task[None] | None = None
        try:
            while True:
                batch = await self._next_batch()
                await self.store_and_act(client, batch)
                if acking is not None:
                    await acking
                acking = asyncio.create_task(self.acknowledge(client, batch))
        finally:
            if acking is not None and not acking.done():
                acking.cancel()  # stored: unacknowledged, Mesos sends them again
            elif acking is not None and not acking.cancelled() and acking.exception():
                # A bug (Mesos errors are logged in acknowledge): not left unretrieved.
                log.error("leader: acknowledging updates failed", exc_info=acking.exception())

    async def store_and_act(
        self, client: MesosSchedulerClient, statuses: Sequence[TaskStatus]
    ) -> None:
        """Store updates and act on the outcomes (metrics, kills, retries logged, a
        round woken when resources were freed). Raises the store's errors."""
        outcomes = await self.store.record_updates(self.epoch, time.time(), to_store(statuses))
        found = consequences(statuses, outcomes, time.time())
        for state, count in Counter(s.state for s in found.stored).items():
            self.metrics.status_updates.labels(state).inc(count)
        for latency_s in found.launch_latencies_s:
            self.metrics.launch_latency.observe(latency_s)
        for mesos_id in found.ended:
            self.kills.forget(mesos_id)
        for status, next_run in found.retried:
            # No budget of its own: a run max_runtime_seconds killed, which the store
            # retried as the command's failure (leader_scripts.RECORD_UPDATES).
            self.metrics.task_retries.labels(
                retry_budget(status.state, status.reason, status.message) or "task"
            ).inc()
            log.info(
                "task %s: %s; retried as %s",
                status.task_id,
                status.state,
                next_run,
                extra={"task": status.task_id},
            )
        for status, outcome in found.to_kill:
            log.warning(
                "task %s: %s from Mesos but the task is %s in Hippo; killing it",
                status.task_id,
                status.state,
                outcome,
                extra={"task": status.task_id},
            )
            self.kills.send_soon(client, status.task_id, status.agent_id)
        if found.freed:
            self.on_freed()

    async def acknowledge(
        self, client: MesosSchedulerClient, statuses: Sequence[TaskStatus]
    ) -> None:
        """Acknowledge stored updates; a refusal or failure is logged (Mesos resends)."""
        try:
            await client.acknowledge_updates(statuses)
        except MesosHTTPError as e:
            log.warning("leader: ACKNOWLEDGE refused (Mesos resends the updates): %s", e)
        except MesosError as e:
            log.info("leader: ACKNOWLEDGE failed (Mesos resends the updates): %s", e)
