"""The loop every worker runs over an outbox in Redis (callbacks, dead-letter pushes):
lease the entries that are due, handle them all at once, and wait when none is due.

An entry is leased, not taken: a worker that dies while handling one leaves it to be
leased again by another once the lease runs out (at least once). How a lease is
claimed and how an entry ends (done, due again later, given up) is each outbox's own
business (shared/store/callbacks.py, shared/store/deadletters.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from hippo.shared.tunables import CALLBACK_IDLE_S

log = logging.getLogger(__name__)
Entry = TypeVar("Entry")

# What a claim gives: the entries leased, and in how many seconds the next one is due
# (None when unknown or none is waiting: the loop looks again after CALLBACK_IDLE_S).
Claimed = tuple[Sequence[Entry], float | None]


async def drain_outbox(
    claim: Callable[[], Awaitable[Claimed[Entry]]],
    handle: Callable[[Entry], Awaitable[None]],
    stop: asyncio.Event,
    what: str,
) -> None:
    """Claim and handle due entries until `stop` is set. An error while claiming or
    ending entries is logged (prefixed with `what`) and the loop goes on: Redis away
    for a while must not end a worker's outbox."""
    while not stop.is_set():
        wait_s = CALLBACK_IDLE_S
        try:
            entries, due_in_s = await claim()
            if entries:
                await asyncio.gather(*(handle(entry) for entry in entries))
                wait_s = 0
            elif due_in_s is not None:
                wait_s = min(CALLBACK_IDLE_S, max(0.0, due_in_s))
        except Exception as e:
            log.warning("%s: claiming or ending entries failed: %s", what, e)
        if wait_s:
            try:
                await asyncio.wait_for(stop.wait(), wait_s)
            except TimeoutError:
                pass
