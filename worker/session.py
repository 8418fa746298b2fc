"""One leadership term: the Mesos framework subscription and everything the leader does
while it holds its epoch (offer rounds, status updates, kills, reconciliation, retention).

Every Redis write goes through LeaderStore's fenced scripts; a StaleEpoch there, a
"Framework failed over" from Mesos, or the watchdog in leader.py ends the term.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from hippo.shared.settings import Settings
from hippo.shared.store.leadership import Claim, LeaderStore, StatusUpdate
from hippo.worker.candidates import WaitingTask, parse_waiting
from hippo.worker.matching import MatchState, OfferView, Place, match_offers
from hippo.worker.mesos import (
    Disconnected,
    Failure,
    FrameworkFailedOver,
    FrameworkRemoved,
    FrameworkSettings,
    MesosError,
    MesosHTTPError,
    MesosSchedulerClient,
    Offers,
    Rescind,
    Subscribed,
    TaskStatus,
    Update,
)
from hippo.worker.metrics import WorkerMetrics
from hippo.worker.retries import retry_budget
from hippo.worker.taskinfo import build_task_info

log = logging.getLogger(__name__)

BATCH = 1000  # waiting tasks read per step of a round
MAX_IDS = 10_000  # task ids one round looks at (ids at their cap are stepped past)
IDS_PER_STEP = 1000  # task ids one LAUNCHABLE call looks at
UPDATE_BATCH = 500  # status updates stored per script call
RECONCILE_CHUNK = 1000
KILL_RESEND_S = 5.0
REVIVE_MIN_INTERVAL_S = 0.5
CACHE_LIMIT = 100_000
SHUTDOWN_WAIT_S = 3.0


class LeadershipLost(Exception):
    """Another scheduler took over the framework (Mesos said so)."""


@dataclass
class _HeldOffer:
    view: OfferView
    received: float


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
        self.client: MesosSchedulerClient | None = None
        self._offers: dict[str, _HeldOffer] = {}
        self._agents: dict[str, Place] = {}
        self._cache: dict[str, WaitingTask] = {}
        self._unusable: set[str] = set()
        self._queue_caps: dict[str, tuple[int, float]] = {}
        self._work = asyncio.Event()
        self._kill_wake = asyncio.Event()
        self._updates: asyncio.Queue[TaskStatus] = asyncio.Queue()
        self._kill_sent: dict[str, float] = {}
        self._reconciled: dict[str, float] = {}
        self._suppressed = False
        self._last_revive = 0.0
        self._waiting_hint = True  # something may wait; checked at the next round
        self._background: set[asyncio.Task[Any]] = set()

    # --- the term --------------------------------------------------------------------

    async def run(self) -> None:
        """Lead until cancelled or leadership is lost (raises LeadershipLost/StaleEpoch)."""
        framework_id = await self.store.framework_id()
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
        self._offers.clear()
        client = MesosSchedulerClient(
            list(self.settings.mesos_master),
            self._framework_settings(),
            framework_id=framework_id,
            secret=self.settings.mesos_secret or None,
            ca_bundle=self.settings.mesos_ca_bundle or None,
        )
        self.client = client
        client.start()
        try:
            jobs = [
                asyncio.create_task(self._events(client), name="leader-events"),
                asyncio.create_task(self._rounds(), name="leader-rounds"),
                asyncio.create_task(self._store_updates(), name="leader-updates"),
                asyncio.create_task(self._kills(), name="leader-kills"),
                asyncio.create_task(self._listen(), name="leader-listen"),
                asyncio.create_task(self._periodic(), name="leader-periodic"),
            ]
            try:
                done, _ = await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
                for job in done:
                    job.result()  # raises what ended it
            finally:
                pending = jobs + list(self._background)
                for job in pending:
                    job.cancel()
                # Bounded: a call stuck in a library must not keep the lock from a standby.
                await asyncio.wait(pending, timeout=SHUTDOWN_WAIT_S)
        finally:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.close(), SHUTDOWN_WAIT_S)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- events ----------------------------------------------------------------------

    async def _events(self, client: MesosSchedulerClient) -> None:
        async for event in client.events():
            if isinstance(event, Offers):
                now = time.monotonic()
                for raw in event.offers:
                    view = OfferView.from_json(raw)
                    self._offers[view.id] = _HeldOffer(view, now)
                    self._agents[view.agent_id] = Place(view.hostname, view.attributes)
                self.metrics.offers_received.inc(len(event.offers))
                self._work.set()
            elif isinstance(event, Update):
                self._updates.put_nowait(event.status)
            elif isinstance(event, Rescind):
                self._offers.pop(event.offer_id, None)
            elif isinstance(event, Subscribed):
                self._offers.clear()
                self._suppressed = False
                if event.framework_id != await self.store.framework_id():
                    await self.store.save_framework_id(self.epoch, event.framework_id)
                    log.info("leader: framework id %s saved", event.framework_id)
                self._spawn(self._reconcile_all())
                self._kill_sent.clear()
                self._kill_wake.set()
                self._work.set()
            elif isinstance(event, Disconnected):
                self._offers.clear()
                log.warning("leader: Mesos subscription lost (%s); re-subscribing", event.reason)
            elif isinstance(event, Failure):
                log.warning(
                    "leader: Mesos reports a failure: agent %s executor %s",
                    event.agent_id,
                    event.executor_id,
                )

    async def _listen(self) -> None:
        """`waiting` (tasks created) and `kill` (kill requested) from the API and pollers."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.store.keys.events)
        try:
            async for message in pubsub.listen():
                data = message.get("data")
                if data == b"waiting":
                    self._waiting_hint = True
                    self._work.set()
                elif data == b"kill":
                    self._kill_wake.set()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py

    # --- offer rounds ----------------------------------------------------------------

    async def _rounds(self) -> None:
        hold_s = self.settings.offer_hold_s
        while True:
            timeout = None
            if self._offers:
                oldest = min(h.received for h in self._offers.values())
                timeout = max(0.0, oldest + hold_s - time.monotonic()) + 0.01
            try:
                await asyncio.wait_for(self._work.wait(), timeout)
            except TimeoutError:
                pass
            self._work.clear()
            began = time.perf_counter()
            await self.offer_round()
            await self._settle_offers()
            self.metrics.offer_round_seconds.observe(time.perf_counter() - began)

    async def offer_round(self) -> int:
        """Match waiting tasks to held offers, claim them, then launch; returns launches."""
        client = self.client
        if client is None or client.stream_id is None:
            return 0
        if not self._offers:
            if self._waiting_hint and await self.store.waiting_count():
                await self._revive()
            self._waiting_hint = False
            return 0
        offers = [h.view for h in self._offers.values()]
        state = MatchState()
        assigned: list[tuple[WaitingTask, OfferView]] = []
        scanned, ids_from = 0, 0  # ids_from: rank of the next task id to look at
        while offers and scanned < self.settings.round_max_tasks and ids_from < MAX_IDS:
            runs, next_from = await self.store.launchable(BATCH, IDS_PER_STEP, ids_from)
            for start in range(0, len(runs), BATCH):
                if not offers:
                    break
                batch = runs[start : start + BATCH]
                scanned += len(batch)
                waiting = await self._prepare(
                    await self._waiting_tasks([mid for mid, _ in batch]), state
                )
                by_mid = {w.mesos_id: w for w in waiting}
                pairs = match_offers([w.candidate for w in waiting], offers, state)
                assigned += [(by_mid[c.mesos_id], o) for c, o in pairs]
                offers = _left_over(offers, pairs)
            if next_from is None:
                break
            ids_from = next_from
        self._waiting_hint = scanned > len(assigned)
        if self._waiting_hint and self._suppressed:
            # These offers were on their way when SUPPRESS went out: no more come for the
            # tasks they could not take unless offers are revived.
            await self._revive()
        if not assigned:
            return 0
        claims = [
            Claim(
                w.mesos_id,
                o.agent_id,
                o.hostname,
                w.candidate.max_concurrent,
                w.candidate.queue_max_concurrent,
            )
            for w, o in assigned
        ]
        claimed = set(await self.store.claim(self.epoch, time.time(), claims))
        per_offer: dict[str, list[dict[str, Any]]] = {}
        for w, o in assigned:
            self._cache.pop(w.mesos_id, None)
            if w.mesos_id not in claimed:
                continue
            info = build_task_info(
                mesos_id=w.mesos_id,
                task_id=w.candidate.task_id,
                definition=w.definition,
                agent_id=o.agent_id,
                role=o.role,
            )
            per_offer.setdefault(o.id, []).append(info)
        # The claims are stored and the offers taken out of the held set, so the next
        # round need not wait for these HTTP calls: a task created meanwhile goes out on
        # another offer at once.
        for offer_id, infos in per_offer.items():
            self._offers.pop(offer_id, None)
            self._spawn(self._accept(client, offer_id, infos))
        return len(claimed)

    async def _accept(
        self, client: MesosSchedulerClient, offer_id: str, infos: list[dict[str, Any]]
    ) -> None:
        try:
            # Leftovers come back at once while work remains: no filter.
            await client.launch([offer_id], infos, refuse_s=0)
            self.metrics.tasks_launched.inc(len(infos))
        except MesosHTTPError as e:
            # Mesos answered: it launched none of them. Back to waiting, no retry spent.
            log.warning(
                "leader: ACCEPT of offer %s with %d tasks refused: %s; they wait again",
                offer_id,
                len(infos),
                e,
            )
            await self.store.unclaim(
                self.epoch, time.time(), [info["task_id"]["value"] for info in infos]
            )
        except MesosError as e:
            # No answer: Mesos may have launched them. The claims stand and the staging
            # deadline reconciles them (unknown to Mesos: lost, retried).
            log.warning(
                "leader: ACCEPT of offer %s with %d tasks failed: %s", offer_id, len(infos), e
            )

    async def _waiting_tasks(self, mesos_ids: Sequence[str]) -> list[WaitingTask]:
        missing = [m for m in mesos_ids if m not in self._cache and m not in self._unusable]
        if missing:
            if len(self._cache) > CACHE_LIMIT:
                self._cache.clear()
            for mid, (spec, status) in zip(
                missing, await self.store.task_fields(missing), strict=True
            ):
                if spec is None or status is None:
                    continue
                try:
                    self._cache[mid] = parse_waiting(mid, spec, status)
                except ValueError as e:
                    self._unusable.add(mid)
                    log.error("leader: task %s cannot be launched: %s", mid, e, extra={"task": mid})
        return [self._cache[m] for m in mesos_ids if m in self._cache]

    async def _prepare(self, waiting: list[WaitingTask], state: MatchState) -> list[WaitingTask]:
        """Fill in the active counts, queue caps and placements this batch needs."""
        ids = {w.candidate.task_id for w in waiting} - state.active_by_id.keys()
        queues = {
            w.candidate.queue_id for w in waiting if w.candidate.queue_id
        } - state.active_by_queue.keys()
        if ids or queues:
            by_id, by_queue = await self.store.active_counts(ids, queues)
            state.active_by_id.update(by_id)
            state.active_by_queue.update(by_queue)
        caps = await self._caps({w.candidate.queue_id for w in waiting if w.candidate.queue_id})
        ready = []
        for w in waiting:
            queue_id = w.candidate.queue_id
            if queue_id is not None and w.candidate.queue_max_concurrent != caps[queue_id]:
                w = dataclasses.replace(
                    w,
                    candidate=dataclasses.replace(w.candidate, queue_max_concurrent=caps[queue_id]),
                )
                self._cache[w.mesos_id] = w
            ready.append(w)
        placed_ids = {
            w.candidate.task_id for w in waiting if w.candidate.needs_placements
        } - state.placements.keys()
        if placed_ids:
            for task_id, agents in (await self.store.active_agents(placed_ids)).items():
                state.placements[task_id] = [self._agents.get(a, Place(h)) for a, h in agents]
        return ready

    async def _caps(self, queue_ids: set[str]) -> dict[str, int]:
        now = time.monotonic()
        stale = {q for q in queue_ids if now - self._queue_caps.get(q, (0, -1e9))[1] > 5}
        if stale:
            for q, cap in (await self.store.queue_caps(stale)).items():
                self._queue_caps[q] = (cap, now)
        return {q: self._queue_caps[q][0] for q in queue_ids}

    async def _settle_offers(self) -> None:
        """Decline offers held past the hold time; SUPPRESS when idle."""
        client = self.client
        if client is None or client.stream_id is None:
            return
        now = time.monotonic()
        expired = [
            i for i, h in self._offers.items() if now - h.received >= self.settings.offer_hold_s
        ]
        if expired:
            for offer_id in expired:
                self._offers.pop(offer_id, None)
            try:
                await client.decline(expired, refuse_s=self.settings.decline_refuse_s)
                self.metrics.offers_declined.inc(len(expired))
            except MesosError as e:
                log.info("leader: DECLINE failed: %s", e)
        if not self._offers and not self._suppressed and not await self.store.waiting_count():
            try:
                await client.suppress()
                self._suppressed = True
                log.debug("leader: nothing waits; offers suppressed")
            except MesosError as e:
                log.info("leader: SUPPRESS failed: %s", e)

    async def _revive(self) -> None:
        client = self.client
        now = time.monotonic()
        if client is None or now - self._last_revive < REVIVE_MIN_INTERVAL_S:
            if client is not None:
                self._spawn(self._revive_later(REVIVE_MIN_INTERVAL_S))
            return
        self._last_revive = now
        try:
            await client.revive()
            self._suppressed = False
            log.debug("leader: tasks wait; offers revived")
        except MesosError as e:
            log.info("leader: REVIVE failed: %s", e)

    async def _revive_later(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self._waiting_hint = True
        self._work.set()

    # --- status updates --------------------------------------------------------------

    async def _store_updates(self) -> None:
        while True:
            batch = [await self._updates.get()]
            while len(batch) < UPDATE_BATCH and not self._updates.empty():
                batch.append(self._updates.get_nowait())
            await self.record(batch)

    async def record(self, statuses: Sequence[TaskStatus]) -> None:
        """Store updates, act on the outcomes, then acknowledge (never before storing)."""
        updates = [
            StatusUpdate(
                s.task_id,
                s.state,
                s.message or "",
                s.reason or "",
                s.agent_id or "",
                retry_budget(s.state, s.reason) or "",
                str(uuid.uuid4()),
            )
            for s in statuses
        ]
        outcomes = await self.store.record_updates(self.epoch, time.time(), updates)
        client = self.client
        assert client is not None
        now = time.time()
        freed = False
        for status, result in zip(statuses, outcomes, strict=True):
            if result.outcome in ("stored", "retried"):
                self.metrics.status_updates.labels(status.state).inc()
                if status.state == "TASK_RUNNING" and result.detail:
                    self.metrics.launch_latency.observe(max(0.0, now - float(result.detail)))
                if status.terminal:
                    freed = True
                    self._kill_sent.pop(status.task_id, None)
                if result.outcome == "retried":
                    budget = retry_budget(status.state, status.reason) or ""
                    self.metrics.task_retries.labels(budget).inc()
                    log.info(
                        "task %s: %s; retried as %s",
                        status.task_id,
                        status.state,
                        result.detail,
                        extra={"task": status.task_id},
                    )
            elif result.outcome in ("stale", "missing") and not status.terminal:
                # Running, yet Hippo ended (or never had) it: e.g. lost, retried, then the
                # partition healed. One run per task: kill this one.
                log.warning(
                    "task %s: %s from Mesos but the task is %s in Hippo; killing it",
                    status.task_id,
                    status.state,
                    result.outcome,
                    extra={"task": status.task_id},
                )
                self._spawn(self._send_kill(status.task_id, status.agent_id))
        if freed:
            self._waiting_hint = True
            self._work.set()
        try:
            await client.acknowledge_updates(statuses)
        except MesosHTTPError as e:
            log.warning("leader: ACKNOWLEDGE refused (Mesos resends the updates): %s", e)
        except MesosError as e:
            log.info("leader: ACKNOWLEDGE failed (Mesos resends the updates): %s", e)

    # --- kills -----------------------------------------------------------------------

    async def _kills(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kill_wake.wait(), 1.0)
            self._kill_wake.clear()
            running, ended = await self.store.kill_requests()
            await self.store.forget_kills(ended)
            now = time.monotonic()
            due = [
                t for t in running if now - self._kill_sent.get(t.mesos_id, -1e9) >= KILL_RESEND_S
            ]
            await asyncio.gather(*(self._send_kill(t.mesos_id, t.agent_id) for t in due))

    async def _send_kill(self, mesos_id: str, agent_id: str | None) -> None:
        client = self.client
        if client is None:
            return
        self._kill_sent[mesos_id] = time.monotonic()
        try:
            await client.kill(mesos_id, agent_id)
            self.metrics.kills_sent.inc()
            log.info("task %s: KILL sent", mesos_id, extra={"task": mesos_id})
        except MesosError as e:
            log.info("task %s: KILL failed (retried): %s", mesos_id, e, extra={"task": mesos_id})
            self._kill_sent.pop(mesos_id, None)

    # --- reconciliation, retention, gauges ---------------------------------------------

    async def _reconcile_all(self) -> None:
        """Explicit reconciliation of every task Hippo believes is on an agent."""
        tasks = await self.store.active_tasks()
        log.info("leader: reconciling %d tasks explicitly", len(tasks))
        await self._reconcile([(t.mesos_id, t.agent_id) for t in tasks])

    async def _reconcile(self, pairs: list[tuple[str, str | None]]) -> None:
        client = self.client
        if client is None:
            return
        now = time.monotonic()
        for mid, _ in pairs:
            self._reconciled[mid] = now
        for i in range(0, len(pairs), RECONCILE_CHUNK):
            try:
                await client.reconcile(pairs[i : i + RECONCILE_CHUNK])
            except MesosError as e:
                log.info("leader: RECONCILE failed (retried later): %s", e)
                return

    async def _periodic(self) -> None:
        s = self.settings
        last_implicit = last_trim = time.monotonic()
        last_staging = last_gauge = 0.0
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            client = self.client
            if client is None or client.stream_id is None:
                continue
            if now - last_gauge >= 2:
                last_gauge = now
                self.metrics.waiting_tasks.set(await self.store.waiting_count())
            if now - last_staging >= max(0.5, s.staging_timeout_s / 4):
                last_staging = now
                await self._reconcile_stuck()
            if now - last_implicit >= s.reconcile_interval_s:
                last_implicit = now
                with contextlib.suppress(MesosError):
                    await client.reconcile()
            if now - last_trim >= s.trim_interval_s:
                last_trim = now
                deleted = await self.store.trim_finished(
                    self.epoch, now=time.time(), max_age_s=s.task_retention_s
                )
                if deleted:
                    log.info("leader: %d finished task records trimmed", deleted)

    async def _reconcile_stuck(self) -> None:
        """Tasks staging past the deadline: ask Mesos (an unknown one comes back lost)."""
        deadline = time.time() - self.settings.staging_timeout_s
        again = time.monotonic() - self.settings.staging_timeout_s
        stuck = [
            (t.mesos_id, t.agent_id)
            for t in await self.store.active_tasks(("TASK_STAGING",))
            if t.updated_tstamp < deadline and self._reconciled.get(t.mesos_id, -1e9) < again
        ]
        if stuck:
            log.info(
                "leader: %d tasks staging for over %.0f s; reconciling them",
                len(stuck),
                self.settings.staging_timeout_s,
            )
            await self._reconcile(stuck)
        if len(self._reconciled) > CACHE_LIMIT:
            self._reconciled.clear()


def _left_over(offers: list[OfferView], pairs: Sequence[tuple[Any, OfferView]]) -> list[OfferView]:
    """The offers with what the assigned tasks use taken out (emptied ones dropped)."""
    used: dict[str, list[float]] = {}
    for task, offer in pairs:
        u = used.setdefault(offer.id, [0.0, 0.0])
        u[0] += task.cpus
        u[1] += task.mem
    left = []
    for o in offers:
        cpus, mem = used.get(o.id, (0.0, 0.0))
        if o.cpus - cpus > 0.001 and o.mem - mem > 0.001:
            left.append(dataclasses.replace(o, cpus=o.cpus - cpus, mem=o.mem - mem))
    return left


__all__ = ["LeaderSession", "LeadershipLost"]
