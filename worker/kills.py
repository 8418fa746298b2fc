"""Sending kills: KILL for each active run whose kill was requested (the API adds it to
the store's kill set and publishes `kill`), resent until the run ends, and for a run
Mesos reports running that Hippo has ended or never had.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable

from hippo.shared.store.leadership import ActiveTask, LeaderStore
from hippo.shared.tunables import KILL_RESEND_S, KILL_SWEEP_S
from hippo.worker.background import Spawn
from hippo.worker.call_retry import call_retry_s
from hippo.worker.mesos import MesosError, MesosSchedulerClient
from hippo.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)


class KillBook:
    """When a KILL last went out for each run. Pure: times are monotonic s, passed in."""

    def __init__(self, resend_s: float = KILL_RESEND_S) -> None:
        self.resend_s = resend_s
        self._sent: dict[str, float] = {}
        self._failures: dict[str, int] = {}  # KILLs Mesos did not take, in a row

    def due(self, running: Iterable[ActiveTask], now: float) -> list[ActiveTask]:
        """The runs to send a KILL to: never sent, or sent `resend_s` ago or more."""
        return [t for t in running if now - self._sent.get(t.mesos_id, -math.inf) >= self.resend_s]

    def sent(self, mesos_id: str, now: float) -> None:
        self._sent[mesos_id] = now

    def taken(self, mesos_id: str) -> None:
        """Mesos took the KILL: a later failure starts its backoff afresh."""
        self._failures.pop(mesos_id, None)

    def failed(self, mesos_id: str, now: float) -> float:
        """Mesos did not take the KILL: due again after a backoff doubling with each
        failure in a row (never later than `resend_s`); returns that backoff."""
        failures = self._failures.get(mesos_id, 0) + 1
        self._failures[mesos_id] = failures
        wait_s = min(call_retry_s(failures), self.resend_s)
        self._sent[mesos_id] = now - self.resend_s + wait_s
        return wait_s

    def forget(self, mesos_id: str) -> None:
        """The run ended: nothing to wait for."""
        self._sent.pop(mesos_id, None)
        self._failures.pop(mesos_id, None)

    def forget_all(self) -> None:
        self._sent.clear()
        self._failures.clear()


class KillSender:
    def __init__(self, store: LeaderStore, metrics: WorkerMetrics, spawn: Spawn) -> None:
        self.store = store
        self.metrics = metrics
        self.book = KillBook()
        self._spawn = spawn
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A kill was requested: sweep now."""
        self._wake.set()

    def resend_all(self) -> None:
        """After a (re-)subscription: every requested kill goes out again at once."""
        self.book.forget_all()
        self._wake.set()

    def forget(self, mesos_id: str) -> None:
        self.book.forget(mesos_id)

    def send_soon(self, client: MesosSchedulerClient, mesos_id: str, agent_id: str | None) -> None:
        self._spawn(self.send(client, mesos_id, agent_id))

    async def serve(self, client: MesosSchedulerClient) -> None:
        """Sweep the kill set when woken, and every KILL_SWEEP_S anyway."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), KILL_SWEEP_S)
            self._wake.clear()
            running, ended = await self.store.kill_requests()
            await self.store.forget_kills(ended)
            due = self.book.due(running, time.monotonic())
            await asyncio.gather(*(self.send(client, t.mesos_id, t.agent_id) for t in due))

    async def send(self, client: MesosSchedulerClient, mesos_id: str, agent_id: str | None) -> None:
        self.book.sent(mesos_id, time.monotonic())
        try:
            await client.kill(mesos_id, agent_id)
        except MesosError as e:
            retry_s = self.book.failed(mesos_id, time.monotonic())
            log.warning(
                "task %s: KILL failed (sent again in %.1f s): %s",
                mesos_id,
                retry_s,
                e,
                extra={"task": mesos_id},
            )
            return
        self.book.taken(mesos_id)
        self.metrics.kills_sent.inc()
        log.info("task %s: KILL sent", mesos_id, extra={"task": mesos_id})
