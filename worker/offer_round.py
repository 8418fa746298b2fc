"""The offer round: match waiting runs to the held offers, then, offer by offer, claim
its runs in the store (one fenced script) and ACCEPT it with their TaskInfos.

A round runs when something may have changed (offers came, tasks were created or
freed a slot) or when the oldest held offer expires; after it, offers held too long are
declined and, with nothing held or waiting, offers are suppressed (offer_book.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from hippo.shared.settings import Settings
from hippo.shared.store.leadership import Claim, LeaderStore
from hippo.shared.tunables import ROUND_CLAIM_RUNS, ROUND_MAX_IDS, ROUND_READ_BATCH
from hippo.worker.background import Spawn
from hippo.worker.candidates import WaitingTask
from hippo.worker.matching import MatchState, OfferView, Rooms, assign
from hippo.worker.mesos import (
    MesosError,
    MesosHTTPError,
    MesosNotSent,
    MesosOffersGone,
    MesosSchedulerClient,
)
from hippo.worker.mesos.resources import Carver, NotEnoughResources
from hippo.worker.metrics import WorkerMetrics
from hippo.worker.offer_book import OfferBook, OfferSupply
from hippo.worker.pending import ReasonBook, capped_reason, reasons_for
from hippo.worker.round_inputs import RoundInputs
from hippo.worker.round_reads import StepReads
from hippo.worker.taskinfo import build_task_info

log = logging.getLogger(__name__)


Assigned = tuple[WaitingTask, OfferView]
Why = tuple[dict[str, str], dict[str, str]]  # mesos_id -> reason, task id -> reason


def claims_of(assigned: Iterable[Assigned]) -> list[Claim]:
    """What the claim script checks and writes for each assigned run."""
    return [
        Claim(
            w.mesos_id,
            o.agent_id,
            o.hostname,
            w.candidate.max_concurrent,
            w.candidate.queue_max_concurrent,
        )
        for w, o in assigned
    ]


def by_offer(assigned: Iterable[Assigned]) -> dict[str, list[Assigned]]:
    """Pure. offer id -> the runs assigned to it, offers in the order first used and each
    offer's runs in the order given (oldest first)."""
    grouped: dict[str, list[Assigned]] = {}
    for w, o in assigned:
        grouped.setdefault(o.id, []).append((w, o))
    return grouped


def claim_groups(
    per_offer: dict[str, list[Assigned]], min_runs: int
) -> list[list[tuple[str, list[Assigned]]]]:
    """Pure. The offers in order, grouped so that every group but the last holds at
    least `min_runs` runs: one claim script per group. Large offers go one by one (their
    ACCEPTs start while the next are claimed); many small ones share a claim instead of
    a round trip each."""
    groups: list[list[tuple[str, list[Assigned]]]] = []
    group: list[tuple[str, list[Assigned]]] = []
    count = 0
    for offer_id, runs in per_offer.items():
        group.append((offer_id, runs))
        count += len(runs)
        if count >= min_runs:
            groups.append(group)
            group, count = [], 0
    if group:
        groups.append(group)
    return groups


def launches_by_offer(
    assigned: Iterable[Assigned], claimed: set[str]
) -> dict[str, list[dict[str, Any]]]:
    """offer id -> the TaskInfos of the claimed runs assigned to it (one ACCEPT each,
    so one allocation role). Each task's resources are carved out of what its offer
    has left, reserved pieces first, as offered."""
    per_offer: dict[str, list[dict[str, Any]]] = {}
    carvers: dict[str, Carver] = {}
    for w, o in assigned:
        if w.mesos_id not in claimed:
            continue
        resources: list[dict[str, Any]] | None = None
        if o.resources:
            wanted = {"cpus": w.candidate.cpus, "mem": w.candidate.mem}
            carver = carvers.get(o.id)
            if carver is None:
                carver = carvers[o.id] = Carver(o.resources, o.role)
            try:
                resources = carver.take(wanted)
            except NotEnoughResources as e:
                # Matching counted the same totals, so this is a bug: Mesos will say
                # TASK_ERROR, and the run is not lost silently.
                log.error("leader: task %s on offer %s: %s", w.mesos_id, o.id, e)
        info = build_task_info(
            mesos_id=w.mesos_id,
            task_id=w.candidate.task_id,
            definition=w.definition,
            agent_id=o.agent_id,
            role=o.role,
            resources=resources,
        )
        per_offer.setdefault(o.id, []).append(info)
    return per_offer


def leftover(scanned: int, assigned: int, offers_left: int, looked_at_all: bool) -> str | None:
    """Pure. What the runs a round could not place mean. None: it placed every run it
    looked at. "unfit": it looked at every waiting run and offers with room are left, so
    none of them fits these offers (too big, or rules that do not hold): the offers are
    declined with a long filter, and no REVIVE follows, since only new work or changed
    resources can change the answer. "more": the offers ran out, or runs were left
    unread: more offers may place them, so the next round may REVIVE."""
    if scanned <= assigned:
        return None
    if offers_left and looked_at_all:
        return "unfit"
    return "more"


class RoundTrigger:
    """Wakes the round loop; `waiting_hint` says tasks may wait (a REVIVE may be due)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.waiting_hint = True  # something may wait; checked at the next round

    def wake(self, *, waiting: bool = False) -> None:
        if waiting:
            self.waiting_hint = True
        self._event.set()

    async def wait(self, timeout_s: float | None) -> None:
        """Until woken or `timeout_s` passed (None: no limit)."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout_s)
        except TimeoutError:
            pass
        self._event.clear()


class OfferRound:
    def __init__(
        self,
        settings: Settings,
        store: LeaderStore,
        epoch: int,
        metrics: WorkerMetrics,
        book: OfferBook,
        spawn: Spawn,
    ) -> None:
        self.settings = settings
        self.store = store
        self.epoch = epoch
        self.metrics = metrics
        self.book = book
        self.supply = OfferSupply(book, settings, store, metrics)
        self.inputs = RoundInputs(store, epoch, book)
        self.trigger = RoundTrigger()
        self._spawn = spawn
        self._revive_pending = False
        self.reasons = ReasonBook()
        self.claim_runs = ROUND_CLAIM_RUNS  # runs one claim takes at least: claim_groups
        # Mean cpus and mem of the runs the last round decoded: read_ahead's guess
        # before this round has decoded any.
        self._run_size: tuple[float, float] | None = None

    async def serve(self, client: MesosSchedulerClient) -> None:
        """Run rounds for the life of a subscription's client."""
        while True:
            await self.trigger.wait(self.book.wait_s(time.monotonic()))
            began = time.perf_counter()
            await self.once(client)
            if client.stream_id is not None:
                await self.supply.settle(client, time.monotonic())
            self.metrics.offer_round_seconds.observe(time.perf_counter() - began)

    async def once(self, client: MesosSchedulerClient) -> int:
        """Match waiting tasks to held offers, claim them, then launch; returns launches."""
        if client.stream_id is None:
            return 0
        # The hint is taken before any await: a task created while this round reads
        # Redis sets it again (and wakes the loop), so its REVIVE is never lost.
        hinted, self.trigger.waiting_hint = self.trigger.waiting_hint, False
        if not self.book.held:
            if hinted and await self.store.waiting_count():
                await self._revive(client)
            return 0
        assigned, scanned, why, left, looked_at_all = await self._match()
        verdict = leftover(scanned, len(assigned), len(left), looked_at_all)
        if verdict == "more":
            self.trigger.waiting_hint = True
        elif verdict == "unfit":
            self.book.unfit(left)
        if (self.trigger.waiting_hint or verdict == "unfit") and self.book.suppressed:
            # These offers were on their way when SUPPRESS went out: no more come for the
            # tasks they could not take unless offers are revived. (Once revived, offers
            # flow until nothing waits, so an unfit run revives at most once.)
            await self._revive(client)
        await self._note_reasons(why)
        return await self.launch(client, assigned)

    async def launch(self, client: MesosSchedulerClient, assigned: Sequence[Assigned]) -> int:
        """Group by group of offers (claim_groups): claim the runs assigned to them (one
        fenced script), then send each offer's ACCEPT without waiting for the answer.
        Returns how many runs went out.

        Claiming a group at a time lets Mesos start on one group's tasks while the
        leader claims and builds the next group's: in a burst of 10,000 runs over 10
        offers, one claim of them all kept Redis busy 0.3 s while the leader and the
        master waited, then the leader built every TaskInfo while the master waited.
        The claims are stored and the offer taken out of the book before its ACCEPT
        goes, so the next round need not wait for the HTTP call either: a task created
        meanwhile goes out on another offer at once."""
        launched = 0
        for group in claim_groups(by_offer(assigned), self.claim_runs):
            live = [(offer_id, runs) for offer_id, runs in group if offer_id in self.book.held]
            if len(live) < len(group):
                # Rescinded, or its subscription ended, while earlier groups' runs were
                # claimed: its runs wait for the next round, unclaimed.
                self.trigger.wake(waiting=True)
            if not live:
                continue
            runs = [pair for _, offer_runs in live for pair in offer_runs]
            claimed = set(await self.store.claim(self.epoch, time.time(), claims_of(runs)))
            for w, _ in runs:
                self.inputs.forget(w.mesos_id)
                self.reasons.forget(w.mesos_id)
            void: list[str] = []
            for offer_id, infos in launches_by_offer(runs, claimed).items():
                if offer_id not in self.book.held:
                    # Gone during the claim: Mesos would drop these tasks (TASK_DROPPED,
                    # REASON_INVALID_OFFERS) and each would spend a retry. Nothing is
                    # sent: they wait again, no retry spent.
                    void += (info["task_id"]["value"] for info in infos)
                    continue
                launched += len(infos)
                stream_id = self.book.take(offer_id)
                self._spawn(self._accept(client, offer_id, infos, stream_id))
            if void:
                await self.store.unclaim(self.epoch, time.time(), void)
                self.trigger.wake(waiting=True)
        return launched

    async def _match(self) -> tuple[list[Assigned], int, Why, list[str], bool]:
        """Runs assigned to offers, oldest first; how many runs were looked at; why the
        others that were looked at wait; the offers with room left; whether every
        launchable run was looked at."""
        offers = self.book.offers()
        rooms = Rooms(offers)
        state = MatchState()
        assigned: list[Assigned] = []
        looked_at: list[WaitingTask] = []
        capped: dict[str, str] = {}
        looked_at_all = False
        scanned, ids_from = 0, 0  # ids_from: rank of the next task id to look at
        max_tasks = self.settings.round_max_tasks
        reads = StepReads(self.store, self._run_size)
        try:
            while rooms and scanned < max_tasks and ids_from < ROUND_MAX_IDS:
                found = await reads.take(ids_from)
                step_from, room = scanned, rooms.total()
                await reads.consider(found, step_from, max_tasks, room)
                capped.update(
                    (c.task_id, capped_reason(c.task_id, c.cap, c.active)) for c in found.capped
                )
                for task_id, active in found.active_by_id.items():
                    # Counts of this round's earlier steps include its own assignments.
                    state.active_by_id.setdefault(task_id, active)
                runs, next_from = found.runs, found.next_start
                for start in range(0, len(runs), ROUND_READ_BATCH):
                    if not rooms:
                        break
                    batch = runs[start : start + ROUND_READ_BATCH]
                    scanned += len(batch)
                    decoded = await self.inputs.waiting(batch)
                    reads.decoded(decoded)
                    await reads.consider(found, step_from, max_tasks, room)  # if not yet
                    waiting = await self.inputs.prepare(decoded, state)
                    by_mid = {w.mesos_id: w for w in waiting}
                    pairs = assign([w.candidate for w in waiting], rooms, state)
                    assigned += [(by_mid[c.mesos_id], o) for c, o in pairs]
                    looked_at += waiting
                if next_from is None:
                    looked_at_all = bool(rooms)  # rooms left: no run was left unread
                    break
                ids_from = next_from
            await reads.finish()
        finally:
            reads.drop()
        self._run_size = reads.run_size
        launched = {w.mesos_id for w, _ in assigned}
        unlaunched = (w.candidate for w in looked_at if w.mesos_id not in launched)
        why = (reasons_for(unlaunched, offers, state), capped)
        return assigned, scanned, why, [o.id for o in rooms.offers], looked_at_all

    async def _note_reasons(self, why: Why) -> None:
        """Write the round's pending reasons that changed (worker/pending.py)."""
        now = time.monotonic()
        runs, ids = self.reasons.changed(*why, now)
        if runs or ids:
            await self.store.set_pending_reasons(self.epoch, runs, ids)
            self.reasons.note(runs, ids, now)

    async def _accept(
        self,
        client: MesosSchedulerClient,
        offer_id: str,
        infos: Sequence[dict[str, Any]],
        stream_id: str | None = None,
    ) -> None:
        try:
            # Leftovers come back at once while work remains: no filter.
            await client.launch([offer_id], infos, refuse_s=0, stream_id=stream_id)
            self.metrics.tasks_launched.inc(len(infos))
        except MesosOffersGone as e:
            # The subscription the offer came on ended before the ACCEPT left: Mesos
            # voided the offer (it would answer TASK_LOST, REASON_INVALID_OFFERS). Nothing
            # was sent; the runs wait again, no retry spent, and nothing is to be declined.
            log.info("leader: %s; %d tasks wait again", e, len(infos))
            mesos_ids = [info["task_id"]["value"] for info in infos]
            await self.store.unclaim(self.epoch, time.time(), mesos_ids)
            for mid in mesos_ids:
                self.reasons.forget(mid)
            self.trigger.wake(waiting=True)
        except (MesosHTTPError, MesosNotSent) as e:
            # Mesos answered, or the call never left (no connection could be opened): it
            # launched none of them. Back to waiting, no retry spent; the offer, still
            # outstanding at the master, is declined at the next round.
            log.warning(
                "leader: ACCEPT of offer %s with %d tasks %s: %s; they wait again",
                offer_id,
                len(infos),
                "not sent" if isinstance(e, MesosNotSent) else "refused",
                e,
            )
            mesos_ids = [info["task_id"]["value"] for info in infos]
            await self.store.unclaim(self.epoch, time.time(), mesos_ids)
            for mid in mesos_ids:
                self.reasons.forget(mid)
            if stream_id is None or stream_id == client.stream_id:
                self.book.give_up([offer_id])  # else it died with its subscription
            self.trigger.wake(waiting=True)
        except MesosError as e:
            # No answer: Mesos may have launched them. The claims stand and the staging
            # deadline reconciles them (unknown to Mesos: lost, retried).
            log.warning(
                "leader: ACCEPT of offer %s with %d tasks failed: %s", offer_id, len(infos), e
            )

    async def _revive(self, client: MesosSchedulerClient) -> None:
        wait_s = await self.supply.revive(client, time.monotonic())
        if wait_s > 0 and not self._revive_pending:
            self._revive_pending = True
            self._spawn(self._revive_later(wait_s))

    async def _revive_later(self, delay_s: float) -> None:
        try:
            await asyncio.sleep(delay_s)
            self.trigger.wake(waiting=True)
        finally:
            self._revive_pending = False  # also when cancelled with the subscription
