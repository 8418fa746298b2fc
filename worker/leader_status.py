"""The leader's report on Mesos (hippo.shared.leader_status.LeaderReport), kept from
the events it sees and written to Redis every LEADER_STATUS_EVERY_S seconds with an
expiry, for `GET /status/` and the waiting reasons the API derives from it."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hippo.shared.errors import StoreUnavailable
from hippo.shared.leader_status import LeaderReport
from hippo.shared.store.leadership import LeaderStore
from hippo.shared.tunables import LEADER_STATUS_EVERY_S, LEADER_STATUS_TTL_S
from hippo.worker.mesos import MesosSchedulerClient

log = logging.getLogger(__name__)

# Distinct agents remembered for agents_seen; past it the count stops growing.
AGENTS_SEEN_LIMIT = 100_000


class LeaderStatus:
    """What this leadership term saw of Mesos; `report` is the stored shape."""

    def __init__(self, epoch: int, now: float) -> None:
        self.epoch = epoch
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.leader_since = now
        self.subscribed_since: float | None = None
        self.offers_seen = 0
        self.agents: set[str] = set()
        self.last_offer_tstamp: float | None = None
        self.mesos_error: tuple[str, float] | None = None

    def offers(self, offers: Iterable[Mapping[str, Any]], now: float) -> None:
        for offer in offers:
            self.offers_seen += 1
            agent = (offer.get("agent_id") or {}).get("value")
            if agent and len(self.agents) < AGENTS_SEEN_LIMIT:
                self.agents.add(agent)
            self.last_offer_tstamp = now

    def subscribed(self, now: float) -> None:
        self.subscribed_since = now

    def unsubscribed(self) -> None:
        self.subscribed_since = None

    def refused(self, message: str, now: float) -> None:
        """Mesos sent an ERROR event (the framework refused)."""
        self.mesos_error = (message, now)
        self.subscribed_since = None

    def report(
        self, client: MesosSchedulerClient | None, offers_held: int, now: float
    ) -> LeaderReport:
        error = self.mesos_error
        if client is not None and client.last_error is not None:
            if error is None or client.last_error[1] > error[1]:
                error = client.last_error
        subscribed = client is not None and client.stream_id is not None
        return LeaderReport(
            worker_id=self.worker_id,
            epoch=self.epoch,
            leader_since=self.leader_since,
            framework_id=client.framework_id if client is not None else None,
            subscribed_since=self.subscribed_since if subscribed else None,
            master=client.leader_url if client is not None else None,
            offers_seen=self.offers_seen,
            agents_seen=len(self.agents),
            offers_held=offers_held,
            last_offer_tstamp=self.last_offer_tstamp,
            last_mesos_error=error[0] if error else None,
            last_mesos_error_tstamp=error[1] if error else None,
            updated_tstamp=now,
        )


async def publish_status(
    status: LeaderStatus,
    store: LeaderStore,
    client: MesosSchedulerClient | None,
    offers_held: int,
) -> None:
    """Write the report once (fenced: a stale leader gets StaleEpoch)."""
    report = status.report(client, offers_held, time.time())
    try:
        await store.save_leader_status(status.epoch, report, LEADER_STATUS_TTL_S)
    except StoreUnavailable as e:
        log.warning("leader: status report not written: %s", e)


async def serve_status(
    status: LeaderStatus,
    store: LeaderStore,
    client: Callable[[], MesosSchedulerClient | None],
    offers_held: Callable[[], int],
) -> None:
    """Publish the report every LEADER_STATUS_EVERY_S for the term."""
    while True:
        await publish_status(status, store, client(), offers_held())
        await asyncio.sleep(LEADER_STATUS_EVERY_S)
