"""What an offer round reads besides the offers: the waiting runs (read by LAUNCHABLE
with the active counts of their task ids), decoded once and cached by mesos id, and
what matching needs to know about them (active counts of their queues, their queues'
caps, where their task ids' runs are placed).

A run whose stored definition cannot be decoded can never launch: it is ended as
TASK_ERROR, with the reason as its status_message, through a fenced store call.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence

from hippo.shared.store.leadership import LeaderStore, WaitingRun
from hippo.shared.tunables import QUEUE_CAP_TTL_S, WAITING_CACHE_LIMIT
from hippo.worker.candidates import (
    DecodedDefinitions,
    UnusableDefinition,
    WaitingTask,
    parse_waiting,
)
from hippo.worker.matching import MatchState
from hippo.worker.offer_book import OfferBook

log = logging.getLogger(__name__)

# Distinct stored definitions kept decoded besides the runs (a burst of one definition
# needs one; a queue's runs each hold their item, so are rarely shared): a bound on what
# the cache adds to the runs' own, which are dropped as they are claimed.
DEFINITIONS_KEPT = 1_000


def with_queue_caps(waiting: Sequence[WaitingTask], caps: Mapping[str, int]) -> list[WaitingTask]:
    """The runs with their queue's current max_concurrent (runs not from a queue as is)."""
    ready = []
    for w in waiting:
        queue_id = w.candidate.queue_id
        if queue_id is not None and w.candidate.queue_max_concurrent != caps[queue_id]:
            candidate = dataclasses.replace(w.candidate, queue_max_concurrent=caps[queue_id])
            w = dataclasses.replace(w, candidate=candidate)
        ready.append(w)
    return ready


class QueueCaps:
    """Queues' max_concurrent as last read, each trusted for `ttl_s`. Pure."""

    def __init__(self, ttl_s: float = QUEUE_CAP_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._caps: dict[str, tuple[int, float]] = {}  # queue id -> (cap, read at)

    def stale(self, queue_ids: Iterable[str], now: float) -> set[str]:
        return {q for q in queue_ids if now - self._caps.get(q, (0, -math.inf))[1] > self.ttl_s}

    def update(self, caps: Mapping[str, int], now: float) -> None:
        for queue_id, cap in caps.items():
            self._caps[queue_id] = (cap, now)

    def of(self, queue_ids: Iterable[str]) -> dict[str, int]:
        return {q: self._caps[q][0] for q in queue_ids}

    def known(self) -> dict[str, int]:
        """Every queue's cap as last read, however long ago."""
        return {q: cap for q, (cap, _) in self._caps.items()}


class RoundInputs:
    def __init__(self, store: LeaderStore, epoch: int, book: OfferBook) -> None:
        self.store = store
        self.epoch = epoch
        self.book = book
        self._cache: dict[str, WaitingTask] = {}
        self._definitions = DecodedDefinitions(DEFINITIONS_KEPT)
        self._caps = QueueCaps()

    def forget(self, mesos_id: str) -> None:
        """The run was claimed (or lost its claim): it is read afresh if it waits again."""
        self._cache.pop(mesos_id, None)

    async def waiting(self, runs: Sequence[WaitingRun]) -> list[WaitingTask]:
        """The runs, in the order given, decoded (from the cache when it has them); runs
        gone meanwhile are left out, and runs that can never launch are ended."""
        missing = [r for r in runs if r.mesos_id not in self._cache]
        if missing:
            if len(self._cache) > WAITING_CACHE_LIMIT:
                self._cache.clear()
            unusable: list[tuple[str, str]] = []
            # Each run made with its queue's cap as last read: `prepare` then replaces
            # (copies) only the runs whose cap changed since, not every queue run once.
            caps = self._caps.known()
            for mid, _, spec, status in missing:
                if spec is None or status is None:
                    continue
                try:
                    self._cache[mid] = parse_waiting(mid, spec, status, self._definitions, caps)
                except UnusableDefinition as e:
                    unusable.append((mid, str(e)))
            if unusable:
                await self._fail(unusable)
        return [self._cache[r.mesos_id] for r in runs if r.mesos_id in self._cache]

    async def _fail(self, unusable: Sequence[tuple[str, str]]) -> None:
        ended = await self.store.fail_waiting(self.epoch, time.time(), unusable)
        for mid, why in unusable:
            log.error(
                "task %s: cannot be launched, ended as TASK_ERROR: %s",
                mid,
                why,
                extra={"task": mid},
            )
        if ended < len(unusable):
            log.info("leader: %d of those runs no longer waited", len(unusable) - ended)

    async def prepare(self, waiting: Sequence[WaitingTask], state: MatchState) -> list[WaitingTask]:
        """Fill in `state` with the active counts and placements this batch needs; the
        runs with their queues' current caps."""
        ids = {w.candidate.task_id for w in waiting} - state.active_by_id.keys()
        queue_ids = {w.candidate.queue_id for w in waiting if w.candidate.queue_id is not None}
        queues = queue_ids - state.active_by_queue.keys()
        if ids or queues:
            by_id, by_queue = await self.store.active_counts(ids, queues)
            state.active_by_id.update(by_id)
            state.active_by_queue.update(by_queue)
        now = time.monotonic()
        stale = self._caps.stale(queue_ids, now)
        if stale:
            self._caps.update(await self.store.queue_caps(stale), now)
        ready = with_queue_caps(waiting, self._caps.of(queue_ids))
        for before, after in zip(waiting, ready, strict=True):
            if after is not before:
                self._cache[after.mesos_id] = after
        placed_ids = {
            w.candidate.task_id for w in waiting if w.candidate.needs_placements
        } - state.placements.keys()
        if placed_ids:
            for task_id, agents in (await self.store.active_agents(placed_ids)).items():
                state.placements[task_id] = [self.book.place_of(a, h) for a, h in agents]
        return ready
