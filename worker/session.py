"""One leadership term: the Mesos framework subscription, wired to the parts that act
while the leader holds its epoch.

| part | module |
|---|---|
| held offers, DECLINE, SUPPRESS, REVIVE | offer_book.py |
| the offer round: match, claim, ACCEPT | offer_round.py (what it reads: round_inputs.py) |
| status updates: store, then acknowledge | status_updates.py |
| kills | kills.py |
| reconciliation | reconciliation.py |
| retention and the waiting gauge | housekeeping.py |
| delayed retries, max_pending_seconds, max_runtime_seconds | deadlines.py |
| the report on Mesos for GET /status/ | leader_status.py |
| why waiting runs wait (pending_reason) | pending.py, from offer_round.py |

Every Redis write goes through LeaderStore's fenced scripts; a StaleEpoch there, a
"Framework failed over" from Mesos, a Mesos silent for HIPPO_MESOS_SILENCE_S, or the
watchdog in leader.py ends the term.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Coroutine
from typing import Any

import redis.asyncio as aioredis

from hippo.shared.settings import Settings
from hippo.shared.store import events
from hippo.shared.store.leadership import LeaderStore
from hippo.shared.tunables import (
    LEADER_SHUTDOWN_WAIT_S,
    MESOS_ERROR_CAP_S,
    MESOS_ERROR_FIRST_S,
)
from hippo.worker.background import Background
from hippo.worker.call_retry import call_retry_s
from hippo.worker.deadlines import Deadlines
from hippo.worker.housekeeping import Housekeeping
from hippo.worker.kills import KillSender
from hippo.worker.leader_status import LeaderStatus, serve_status
from hippo.worker.mesos import (
    Disconnected,
    Failure,
    FrameworkFailedOver,
    FrameworkRemoved,
    FrameworkSettings,
    MesosFrameworkError,
    MesosSchedulerClient,
    Offers,
    Rescind,
    Subscribed,
    Update,
)
from hippo.worker.metrics import WorkerMetrics
from hippo.worker.offer_book import OfferBook
from hippo.worker.offer_round import OfferRound
from hippo.worker.reconciliation import Reconciler
from hippo.worker.status_updates import UpdateRecorder

log = logging.getLogger(__name__)


class LeadershipLost(Exception):
    """Another scheduler took over the framework (Mesos said so)."""


class MesosSilent(LeadershipLost):
    """No Mesos master sent this leader anything for HIPPO_MESOS_SILENCE_S: it may be cut
    off from Mesos while still holding Redis, so it makes way for a worker that is not."""


def mesos_silent(heard_at: float, now: float, limit_s: float) -> bool:
    """Whether a master last heard at `heard_at` (monotonic s) is silent past `limit_s`."""
    return now - heard_at > limit_s


class LeaderSession:
    def __init__(
        self,
        settings: Settings,
        redis: aioredis.Redis,
        store: LeaderStore,
        epoch: int,
        metrics: WorkerMetrics,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.store = store
        self.epoch = epoch
        self.metrics = metrics
        self.background = Background()
        spawn = self.background.spawn
        self.book = OfferBook(settings.offer_hold_s)
        self.round = OfferRound(settings, store, epoch, metrics, self.book, spawn)
        self.kills = KillSender(store, metrics, spawn)
        self.updates = UpdateRecorder(
            store, epoch, metrics, self.kills, lambda: self.round.trigger.wake(waiting=True)
        )
        self.reconciler = Reconciler(settings, store, give_up=self.updates.put)
        self.housekeeping = Housekeeping(settings, store, epoch, metrics)
        self.deadlines = Deadlines(
            store, epoch, lambda: self.round.trigger.wake(waiting=True), self.kills.wake
        )
        self.client: MesosSchedulerClient | None = None
        self.status = LeaderStatus(epoch, time.time())

    async def run(self) -> None:
        """Lead until cancelled or leadership is lost (raises LeadershipLost/StaleEpoch)."""
        framework_id = await self.store.framework_id()
        refusals = 0
        while True:
            try:
                await self._subscribe_and_serve(framework_id)
                return
            except FrameworkRemoved as e:
                log.error(
                    "leader: MESOS REMOVED FRAMEWORK %s (%s): its tasks are gone; "
                    "subscribing as a new framework, unfinished tasks will be reconciled "
                    "as lost and retried",
                    framework_id,
                    e,
                )
                await self.store.save_framework_id(self.epoch, None)
                framework_id = None
            except FrameworkFailedOver as e:
                raise LeadershipLost(f"Mesos: {e}") from e
            except MesosFrameworkError as e:
                # Any other ERROR (a role not in the master's --roles, a changed
                # principal, an authorization failure) comes again on every SUBSCRIBE:
                # back off, and say so loudly until an operator fixes it.
                refusals += 1
                delay_s = call_retry_s(refusals, MESOS_ERROR_FIRST_S, MESOS_ERROR_CAP_S)
                self.metrics.mesos_error = e.message
                self.status.refused(e.message, time.time())
                log.error(
                    "leader: MESOS REFUSED THE FRAMEWORK: %s; subscribing again in %.0f s "
                    "(check HIPPO_MESOS_ROLE, HIPPO_MESOS_PRINCIPAL and the master's flags)",
                    e,
                    delay_s,
                )
                await asyncio.sleep(delay_s)

    def _framework_settings(self) -> FrameworkSettings:
        s = self.settings
        return FrameworkSettings(
            name=s.framework_name,
            user=s.mesos_user,
            roles=(s.mesos_role,),
            failover_timeout_s=s.failover_timeout_s,
            hostname=socket.gethostname(),
            principal=s.mesos_principal or None,
        )

    async def _subscribe_and_serve(self, framework_id: str | None) -> None:
        self.book.forget_offers()
        client = MesosSchedulerClient(
            list(self.settings.mesos_master),
            self._framework_settings(),
            framework_id=framework_id,
            secret=self.settings.mesos_secret or None,
            ca_bundle=self.settings.mesos_ca_bundle or None,
        )
        self.client = client
        client.start()
        loops: dict[str, Coroutine[Any, Any, None]] = {
            "leader-events": self._events(client),
            "leader-rounds": self.round.serve(client),
            "leader-updates": self.updates.serve(client),
            "leader-kills": self.kills.serve(client),
            "leader-listen": self._listen(),
            "leader-reconcile": self.reconciler.serve(client),
            "leader-housekeeping": self.housekeeping.serve(client),
            "leader-deadlines": self.deadlines.serve(client),
            "leader-mesos-silence": self._watch_silence(client),
            "leader-status": serve_status(
                self.status, self.store, lambda: self.client, lambda: len(self.book.held)
            ),
        }
        try:
            jobs = [asyncio.create_task(coro, name=name) for name, coro in loops.items()]
            try:
                done, _ = await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
                for job in done:
                    job.result()  # raises what ended it
            finally:
                pending = jobs + self.background.tasks()
                for job in pending:
                    job.cancel()
                # Bounded: a call stuck in a library must not keep the lock from a standby.
                await asyncio.wait(pending, timeout=LEADER_SHUTDOWN_WAIT_S)
        finally:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.close(), LEADER_SHUTDOWN_WAIT_S)

    async def _watch_silence(self, client: MesosSchedulerClient) -> None:
        """Raise MesosSilent once no master has sent anything for HIPPO_MESOS_SILENCE_S.

        A leader partitioned from Mesos but not from Redis would otherwise keep the lock
        and launch nothing until the partition heals. Heartbeats count, so a live but idle
        subscription is never silent: the limit is at least two of the master's heartbeat
        intervals (15 s by default, from SUBSCRIBED), whatever the setting says."""
        while True:
            limit_s = max(self.settings.mesos_silence_s, 2 * client.heartbeat_interval_s)
            await asyncio.sleep(min(1.0, limit_s / 4))
            if mesos_silent(client.heard_at, time.monotonic(), limit_s):
                raise MesosSilent(
                    f"no Mesos master heard from for {limit_s:g} s (last error: "
                    f"{client.last_error[0] if client.last_error else 'none'})"
                )

    async def _events(self, client: MesosSchedulerClient) -> None:
        async for event in client.events():
            if isinstance(event, Offers):
                self.status.offers(event.offers, time.time())
                received = self.book.receive(event.offers, time.monotonic(), event.stream_id)
                self.metrics.offers_received.inc(received)
                self.round.trigger.wake()
            elif isinstance(event, Update):
                self.reconciler.answered(event.status.task_id)
                self.updates.put(event.status)
            elif isinstance(event, Rescind):
                self.book.rescind(event.offer_id)
            elif isinstance(event, Subscribed):
                self.metrics.mesos_error = None
                self.status.subscribed(time.time())
                self.book.subscribed()
                if event.framework_id != await self.store.framework_id():
                    await self.store.save_framework_id(self.epoch, event.framework_id)
                    log.info("leader: framework id %s saved", event.framework_id)
                self.background.spawn(self.reconciler.all(client))
                self.kills.resend_all()
                self.round.trigger.wake()
            elif isinstance(event, Disconnected):
                self.book.forget_offers()
                self.status.unsubscribed()
                log.warning("leader: Mesos subscription lost (%s); re-subscribing", event.reason)
            elif isinstance(event, Failure):
                log.warning(
                    "leader: Mesos reports a failure: agent %s executor %s",
                    event.agent_id,
                    event.executor_id,
                )

    async def _listen(self) -> None:
        """`waiting` (tasks created) and `kill` (kill requested) from the API and pollers."""
        async for hint in events.hints(self.redis, self.store.keys):
            if hint == events.WAITING:
                self.round.trigger.wake(waiting=True)
            elif hint == events.KILL:
                self.kills.wake()


__all__ = ["LeaderSession", "LeadershipLost", "MesosSilent", "mesos_silent"]
