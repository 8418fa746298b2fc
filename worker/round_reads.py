"""An offer round's reads of waiting runs (LAUNCHABLE), step by step, each next step read
ahead while the round matches the last one when the offers will likely want it: Redis
reads while the leader decodes and matches (10,000 waiting runs are read and matched in
about a third less time, `python -m bench.leader_match`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from hippo.shared.store.leadership import Launchable, LeaderStore
from hippo.shared.tunables import ROUND_IDS_PER_STEP, ROUND_MAX_IDS, ROUND_READ_BATCH
from hippo.worker.candidates import WaitingTask

log = logging.getLogger(__name__)

# Turns of the event loop a read ahead is given to go out before the round matches:
# redis-py 8 on Python 3.11 writes a call on its second turn (the write runs in a task
# of its own under socket_timeout), and matching a step does not yield, so without them
# the call would only go out after the step. A health check due first delays it further:
# then the read only overlaps less. test_leader_store checks that the call is on the
# wire in time.
READ_AHEAD_TURNS = 4


def read_ahead(
    found: Launchable,
    scanned: int,
    max_tasks: int,
    room: tuple[float, float],
    run_size: tuple[float, float],
) -> bool:
    """Pure. Whether to read the step after `found` while `found` is matched: there is
    one within the round's limits (`scanned` runs looked at before `found`, at most
    `max_tasks`), and `found`'s runs at `run_size` (mean cpus and mem of the runs
    decoded so far) leave the offers room (cpus and mem left in all), so the next step
    will likely be matched too. An unused read ahead costs Redis a read of up to
    ROUND_READ_BATCH runs with their records, and the round waits for it."""
    if found.next_start is None or found.next_start >= ROUND_MAX_IDS:
        return False
    if scanned + len(found.runs) >= max_tasks:
        return False
    runs = len(found.runs)
    return runs * run_size[0] < room[0] and runs * run_size[1] < room[1]


class StepReads:
    """One round's LAUNCHABLE steps, with at most one read ahead in flight, and the mean
    size of the runs decoded (`run_size` to start with: the last round's, or None)."""

    def __init__(self, store: LeaderStore, run_size: tuple[float, float] | None) -> None:
        self.store = store
        self._ahead: asyncio.Future[Launchable] | None = None
        self._ahead_from = -1
        self._last_size = run_size
        self._cpus, self._mem, self._decoded = 0.0, 0.0, 0

    @property
    def run_size(self) -> tuple[float, float] | None:
        """Mean (cpus, mem) of the runs decoded in this round, else the one given."""
        if not self._decoded:
            return self._last_size
        return (self._cpus / self._decoded, self._mem / self._decoded)

    def decoded(self, waiting: Iterable[WaitingTask]) -> None:
        """Runs of the round, decoded: their size counts from now on."""
        for w in waiting:
            self._cpus += w.candidate.cpus
            self._mem += w.candidate.mem
            self._decoded += 1

    async def consider(
        self, found: Launchable, scanned: int, max_tasks: int, room: tuple[float, float]
    ) -> None:
        """Read the step after `found` ahead if read_ahead says so. With no run's size
        known yet (a leader's first round) nothing is decided: the caller asks again once
        it has decoded some of `found`'s runs. Asked twice, it reads ahead at most once."""
        size = self.run_size
        if size is None or self._ahead_from == found.next_start:
            return
        if read_ahead(found, scanned, max_tasks, room, size):
            await self.ahead(found.next_start or 0)

    async def take(self, start: int) -> Launchable:
        """The step from rank `start`: the read ahead when it is that one, else read now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and self._ahead_from == start:
            return await ahead
        if ahead is not None:
            ahead.cancel()
        return await self.store.launchable(ROUND_READ_BATCH, ROUND_IDS_PER_STEP, start)

    async def ahead(self, start: int) -> None:
        """Start reading the step from rank `start`, and let its call go out."""
        read = self.store.launchable(ROUND_READ_BATCH, ROUND_IDS_PER_STEP, start)
        self._ahead, self._ahead_from = asyncio.ensure_future(read), start
        for _ in range(READ_AHEAD_TURNS):
            await asyncio.sleep(0)

    async def finish(self) -> None:
        """The round is matched: a read ahead it did not need is awaited (it writes
        nothing) and dropped; its failure does not fail the round."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        try:
            await ahead
        except Exception as e:  # a Redis error: the next store call will meet it too
            log.info("leader: a read ahead the round did not need failed: %r", e)

    def drop(self) -> None:
        """The round failed: a read ahead still running is cancelled, one that ended has
        its outcome taken (no "exception never retrieved" in the log)."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        if not ahead.done():
            ahead.cancel()
        elif not ahead.cancelled():
            ahead.exception()
