"""The offers the leader holds between rounds, and whether it asked Mesos for more.

`OfferBook` is pure state and decisions, times passed in (monotonic seconds): offers
received, rescinded, used, expired; where agents are; SUPPRESS and REVIVE. `OfferSupply`
makes the calls it decides on: DECLINE of expired offers, SUPPRESS when idle, REVIVE
when work waits.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hippo.shared.settings import Settings
from hippo.shared.store.leadership import LeaderStore
from hippo.shared.tunables import REVIVE_MIN_INTERVAL_S, UNFIT_REFUSE_S
from hippo.worker.call_retry import call_retry_s
from hippo.worker.matching import OfferView, Place
from hippo.worker.mesos import MesosError, MesosSchedulerClient
from hippo.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)

# A round woken for the oldest offer's expiry runs just after it, not just before.
EXPIRY_SLACK_S = 0.01


@dataclass
class HeldOffer:
    view: OfferView
    received: float  # monotonic s
    stream_id: str | None = None  # the subscription it came on (it dies with it)


class OfferBook:
    """Offers received and not yet used, declined or rescinded, and the SUPPRESS/REVIVE
    state. An unused offer is held `hold_s`, so a new task launches without waiting for
    Mesos, then declined."""

    def __init__(self, hold_s: float, revive_min_interval_s: float = REVIVE_MIN_INTERVAL_S):
        self.hold_s = hold_s
        self.revive_min_interval_s = revive_min_interval_s
        self.held: dict[str, HeldOffer] = {}
        # agent id -> where it is: placements of active runs are compared by it.
        self.places: dict[str, Place] = {}
        self.suppressed = False
        self._last_revive = -math.inf
        # A REVIVE Mesos did not take: wanted again, after a backoff (MESOS.md: a 503
        # means retry with backoff), without waiting for other work to arrive.
        self.revive_failures = 0
        self._revive_retry_at = -math.inf
        # Offers whose DECLINE failed: declined again at the next round after a backoff
        # (undeclined, Mesos keeps them allocated to us until they are rescinded).
        self.undeclined: list[str] = []
        # Offers no waiting run fits: declined with a long filter (UNFIT_REFUSE_S).
        self._unfit: set[str] = set()
        self.decline_failures = 0
        self._decline_retry_at = -math.inf

    # --- offers ----------------------------------------------------------------------

    def receive(
        self, offers: Iterable[Mapping[str, Any]], now: float, stream_id: str | None = None
    ) -> int:
        """Hold offers as received in an OFFERS event on `stream_id`; returns how many."""
        count = 0
        for raw in offers:
            view = OfferView.from_json(raw)
            self.held[view.id] = HeldOffer(view, now, stream_id)
            self.places[view.agent_id] = Place(view.hostname, view.attributes)
            count += 1
        return count

    def rescind(self, offer_id: str) -> None:
        self.held.pop(offer_id, None)
        self._unfit.discard(offer_id)

    def unfit(self, offer_ids: Iterable[str]) -> None:
        """No waiting run fits these offers: when declined, with a long filter."""
        self._unfit.update(i for i in offer_ids if i in self.held)

    def split_unfit(self, offer_ids: list[str]) -> tuple[list[str], list[str]]:
        """(offers no run fitted, the others) of offers about to be declined."""
        unfit = [i for i in offer_ids if i in self._unfit]
        self._unfit.difference_update(unfit)
        return unfit, [i for i in offer_ids if i not in unfit]

    def take(self, offer_id: str) -> str | None:
        """The offer goes out in an ACCEPT: no longer ours to use. Returns the stream it
        came on, which the ACCEPT must carry."""
        held = self.held.pop(offer_id, None)
        self._unfit.discard(offer_id)
        return held.stream_id if held is not None else None

    def forget_offers(self) -> None:
        """The subscription ended: its offers are void (undeclined ones too)."""
        self.held.clear()
        self._unfit.clear()
        self.undeclined = []

    def subscribed(self) -> None:
        """A new subscription: no offer yet, and offers flow until we SUPPRESS again."""
        self.forget_offers()
        self.suppressed = False

    def offers(self) -> list[OfferView]:
        return [h.view for h in self.held.values()]

    def place_of(self, agent_id: str, hostname: str) -> Place:
        """Where an agent is, as its last offer said (only its hostname if none came)."""
        return self.places.get(agent_id, Place(hostname))

    def expire(self, now: float) -> list[str]:
        """Take out the offers held `hold_s` or longer; returns their ids, to decline."""
        expired = [i for i, h in self.held.items() if now - h.received >= self.hold_s]
        for offer_id in expired:
            del self.held[offer_id]
        return expired

    def wait_s(self, now: float) -> float | None:
        """Seconds until the oldest offer expires (a round then declines it); None when
        no offer is held."""
        waits = [self.decline_wait_s(now)]
        if self.held:
            oldest = min(h.received for h in self.held.values())
            waits.append(max(0.0, oldest + self.hold_s - now) + EXPIRY_SLACK_S)
        known = [w for w in waits if w is not None]
        return min(known) if known else None

    # --- SUPPRESS and REVIVE -------------------------------------------------------------

    def may_suppress(self) -> bool:
        """No offer held and not suppressed yet: SUPPRESS if nothing waits either."""
        return not self.held and not self.suppressed

    def revive_wait_s(self, now: float) -> float:
        """0 when a REVIVE may go now; else how long until one may (at most one per
        `revive_min_interval_s`, however many tasks are created, and not before the
        backoff of a failed one has passed)."""
        due = max(self._last_revive + self.revive_min_interval_s, self._revive_retry_at)
        return max(0.0, due - now)

    def revive_sent(self, now: float) -> None:
        """Counted whether or not Mesos answered, so a failing master is not flooded."""
        self._last_revive = now

    def revive_done(self) -> None:
        """Mesos took the REVIVE: offers flow again."""
        self.revive_failures = 0
        self._revive_retry_at = -math.inf
        self.suppressed = False

    def revive_failed(self, now: float) -> float:
        """Mesos did not take the REVIVE: it is still wanted. Returns the seconds after
        which to send it again (backoff doubling with each failure in a row)."""
        self.revive_failures += 1
        wait_s = call_retry_s(self.revive_failures)
        self._revive_retry_at = now + wait_s
        return wait_s

    def declines_due(self, expired: list[str], now: float) -> list[str]:
        """The offers to DECLINE now: `expired`, plus those whose DECLINE failed once
        their backoff has passed (still held back otherwise)."""
        if self.undeclined and now >= self._decline_retry_at:
            expired = self.undeclined + expired
            self.undeclined = []
        return expired

    def give_up(self, offer_ids: list[str]) -> None:
        """Offers taken for an ACCEPT that Mesos refused: still outstanding at the
        master, so they are declined at the next round rather than left allocated."""
        self.undeclined = [*self.undeclined, *offer_ids]

    def decline_done(self) -> None:
        self.decline_failures = 0

    def decline_failed(self, offer_ids: list[str], now: float) -> None:
        """Keep the offers to decline at a later round, after a backoff."""
        self.decline_failures += 1
        self.undeclined = [*self.undeclined, *offer_ids]
        self._decline_retry_at = now + call_retry_s(self.decline_failures)

    def decline_wait_s(self, now: float) -> float | None:
        """Seconds until failed DECLINEs are due again; None when none failed."""
        if not self.undeclined:
            return None
        return max(0.0, self._decline_retry_at - now)


class OfferSupply:
    """The calls about offers: DECLINE, SUPPRESS and REVIVE, as the book decides."""

    def __init__(
        self, book: OfferBook, settings: Settings, store: LeaderStore, metrics: WorkerMetrics
    ) -> None:
        self.book = book
        self.settings = settings
        self.store = store
        self.metrics = metrics

    async def settle(self, client: MesosSchedulerClient, now: float) -> None:
        """Decline offers held past the hold time; SUPPRESS when nothing is held or waits."""
        unfit, expired = self.book.split_unfit(self.book.declines_due(self.book.expire(now), now))
        # Offers no waiting run fits are refused for long: re-offered sooner, they would
        # only be declined again. A REVIVE (new work, resources freed) lifts the filter.
        for offer_ids, refuse_s in ((unfit, UNFIT_REFUSE_S), (expired, None)):
            if offer_ids:
                await self._decline(client, offer_ids, refuse_s, now)
        if self.book.may_suppress() and not await self.store.waiting_count():
            try:
                await client.suppress()
                self.book.suppressed = True
                log.debug("leader: nothing waits; offers suppressed")
            except MesosError as e:
                # `suppressed` stays false: the next round that finds nothing sends it again.
                log.warning("leader: SUPPRESS failed (sent again next round): %s", e)

    async def _decline(
        self, client: MesosSchedulerClient, offer_ids: list[str], refuse_s: float | None, now: float
    ) -> None:
        try:
            await client.decline(offer_ids, refuse_s=refuse_s or self.settings.decline_refuse_s)
            self.metrics.offers_declined.inc(len(offer_ids))
            self.book.decline_done()
        except MesosError as e:
            self.book.decline_failed(offer_ids, now)
            log.warning("leader: DECLINE of %d offers failed (retried): %s", len(offer_ids), e)

    async def revive(self, client: MesosSchedulerClient, now: float) -> float:
        """REVIVE, unless one went out too recently or failed: then returns the seconds
        after which to ask again (0 when Mesos took it)."""
        wait_s = self.book.revive_wait_s(now)
        if wait_s > 0:
            return wait_s
        self.book.revive_sent(now)
        try:
            await client.revive()
        except MesosError as e:
            retry_s = self.book.revive_failed(now)
            log.warning("leader: REVIVE failed (sent again in %.1f s): %s", retry_s, e)
            return retry_s
        self.book.revive_done()
        log.debug("leader: tasks wait; offers revived")
        return 0.0
