"""Giving back what polls of retired generations left in flight.

A queue is polled under a generation (leases.py). Deleting the queue, or an edit that
moves where its source keeps taken items (`Source.in_flight_location`: a Redis list's
processing list), retires the generation with the settings it polled under, in the same
store step. Any worker then claims the retired generation here and awaits the source's
`give_back`: unstored items go back to the source, stored ones are dropped, and the
source refuses that generation's polls from then on. So a worker killed mid-poll strands
nothing, and a paused one that wakes up cannot take again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from hippo.shared.sources.base import PollRequest, Source
from hippo.shared.sources.settings import SourceSettings
from hippo.shared.store.leases import DrainClaim, PollStore
from hippo.shared.tunables import DRAIN_RETRY_MAX_S, DRAINS_AT_ONCE
from hippo.worker.polling_definitions import StoredSource
from hippo.worker.polling_tasks import retry_delay_s

log = logging.getLogger(__name__)


class Drainer:
    """Claims retired generations and gives their in-flight items back, a few at a time,
    beside the polls."""

    def __init__(
        self,
        store: PollStore,
        read: Callable[[str, bytes], StoredSource],
        source: Callable[[str], Source],
        mask: Callable[[str, SourceSettings | None], str],
        *,
        lease_s: float,
        retry_s: float,
    ) -> None:
        self.store = store
        self._read = read
        self._source = source
        self._mask = mask
        self.lease_s = lease_s
        self.retry_s = retry_s
        self._running: set[asyncio.Task[None]] = set()

    async def start_due(self) -> None:
        """Claim the retired generations due, as many as there is room for, and start
        giving them back. Never raises."""
        free = DRAINS_AT_ONCE - len(self._running)
        if free <= 0:
            return
        try:
            claims = await self.store.claim_drains(free, self.lease_s)
        except Exception as e:
            log.warning("polling: claiming retired generations failed: %s", e)
            return
        for claim in claims:
            task = asyncio.ensure_future(self.drain(claim))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def stop(self) -> None:
        """Abandon running drains: their claims expire and another worker takes them."""
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.wait(set(self._running), timeout=1)

    async def drain(self, claim: DrainClaim) -> None:
        retired: StoredSource | None = None
        try:
            retired = self._read(claim.queue_id, claim.spec)
            if retired.source is None:
                # Maybe a source keeping items in flight: a worker that has it drains.
                await self.store.end_drain(claim, DRAIN_RETRY_MAX_S)
                return
            if retired.source.in_flight_location:
                if retired.settings is None:
                    raise ValueError(retired.why)
                request = PollRequest(
                    claim.queue_id,
                    retired.settings,
                    0,
                    None,
                    claim.now,
                    claim.created_tstamp,
                    claim.generation,
                )

                async def stored(keys: Sequence[str]) -> set[str]:
                    return await self.store.seen_item_keys(claim.queue_id, keys)

                await self._source(retired.queue_type).give_back(request, stored)
                log.info(
                    "queue %s: generation %s retired; its in-flight items are back in the source",
                    claim.queue_id,
                    claim.generation,
                )
            await self.store.end_drain(claim)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            failures = claim.failures + 1
            delay_s = retry_delay_s(failures, self.retry_s, DRAIN_RETRY_MAX_S)
            error = self._mask(str(e), retired.settings if retired else None)
            level = logging.WARNING if failures == 1 else logging.DEBUG
            log.log(
                level,
                "queue %s: giving back the in-flight items of retired generation %s failed "
                "(%s in a row, next in %.1f s): %s",
                claim.queue_id,
                claim.generation,
                failures,
                delay_s,
                error,
            )
            try:
                await self.store.end_drain(claim, delay_s, failed=True)
            except Exception as store_error:
                log.warning(
                    "queue %s: recording a drain failure failed: %s", claim.queue_id, store_error
                )
