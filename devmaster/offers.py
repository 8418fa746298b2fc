"""Offers: the allocator that turns free agent resources into OFFERS events.

Like Mesos' hierarchical allocator, simplified: each active agent's free
resources go to one subscribed framework at a time (round robin), skipping
frameworks whose roles are all suppressed and those with a live filter for the
agent that covers what is free (Filters.refuse_seconds).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING

from .model import (
    JSON,
    Framework,
    Offer,
    Resources,
    add,
    allocatable_to,
    contains,
    split_key,
    subtract,
    total_of,
)

if TYPE_CHECKING:
    from .master import Master

# Mesos offers an agent's resources only when at least this much is free
# (MIN_CPUS and MIN_MEM in src/master/constants.hpp).
MIN_CPUS = 0.01
MIN_MEM_MB = 32.0


class OfferBook:
    def __init__(self, master: Master) -> None:
        self._master = master
        self._offers: dict[str, Offer] = {}
        self._ids = itertools.count(1)
        self._turn = 0  # round-robin start among frameworks
        self._scheduled = False
        self._tick: asyncio.TimerHandle | None = None
        self._timeouts: dict[str, asyncio.TimerHandle] = {}

    def start(self) -> None:
        self._periodic()

    def stop(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
        for handle in self._timeouts.values():
            handle.cancel()

    def _periodic(self) -> None:
        self.allocate()
        interval = self._master.config.allocation_interval_s
        self._tick = self._master.loop.call_later(interval, self._periodic)

    def schedule(self) -> None:
        """Allocate soon, once, however many changes happen before then."""
        if not self._scheduled and self._master._loop is not None:
            self._scheduled = True
            self._master.loop.call_soon(self.allocate)

    def recovered(self) -> None:
        """Resources came back (DECLINE, an ACCEPT's unused part, a task's end): offered
        at the next allocation interval with `batch_allocation`, else at once."""
        if not self._master.config.batch_allocation:
            self.schedule()

    def get(self, offer_id: str) -> Offer | None:
        return self._offers.get(offer_id)

    def take(self, framework: Framework, offer_ids: list[str]) -> tuple[list[Offer], str | None]:
        """Remove the offers an ACCEPT uses; on any invalid one, recover the valid
        ones and return the error (validation.cpp, offer::validate)."""
        offers = [
            o
            for o in (self._offers.get(i) for i in offer_ids)
            if o is not None and o.framework_id == framework.id
        ]
        error = self._error(framework, offer_ids)
        for offer in offers:
            self.remove(offer)
        if error is not None:
            self.schedule()
            return [], error
        return offers, None

    def _error(self, framework: Framework, offer_ids: list[str]) -> str | None:
        if not offer_ids:
            return "No offers specified"
        agents = set()
        seen: set[str] = set()
        for offer_id in offer_ids:
            if offer_id in seen:
                return f"Duplicate offer {offer_id} in the accept"
            seen.add(offer_id)
            offer = self._offers.get(offer_id)
            if offer is None:
                return f"Offer {offer_id} is no longer valid"
            if offer.framework_id != framework.id:
                return (
                    f"Offer {offer_id} has invalid framework {offer.framework_id}"
                    f" while framework {framework.id} is expected"
                )
            agents.add(offer.agent_id)
        if len(agents) > 1:
            return "Aggregated offers must belong to one single agent"
        return None

    def remove(self, offer: Offer, rescind: bool = False) -> None:
        if self._offers.pop(offer.id, None) is None:
            return
        handle = self._timeouts.pop(offer.id, None)
        if handle is not None:
            handle.cancel()
        master = self._master
        agent = master.agents.get(offer.agent_id)
        if agent is not None:
            agent.offered = subtract(agent.offered, offer.resources)
        framework = master.frameworks.get(offer.framework_id)
        if framework is not None:
            framework.offers.discard(offer.id)
            if rescind:
                framework.send({"type": "RESCIND", "rescind": {"offer_id": {"value": offer.id}}})

    def recover_framework(self, framework: Framework) -> None:
        for offer_id in list(framework.offers):
            offer = self._offers.get(offer_id)
            if offer is not None:
                self.remove(offer)
        framework.offers.clear()
        self.schedule()

    def rescind_agent(self, agent_id: str) -> None:
        for offer in [o for o in self._offers.values() if o.agent_id == agent_id]:
            self.remove(offer, rescind=True)

    def _rescind_expired(self, offer_id: str) -> None:
        self._timeouts.pop(offer_id, None)
        offer = self._offers.get(offer_id)
        if offer is not None:
            self.remove(offer, rescind=True)
            self.schedule()

    @staticmethod
    def _offer_role(framework: Framework) -> str | None:
        for role in framework.roles:
            if role not in framework.suppressed:
                return role
        return None

    @staticmethod
    def _allocation(framework: Framework, free: Resources) -> tuple[str, Resources] | None:
        """The first unsuppressed role of the framework with enough allocatable to it
        (unreserved or reserved for that role), and those resources."""
        for role in framework.roles:
            if role in framework.suppressed:
                continue
            offerable = allocatable_to(free, role)
            if total_of(offerable, "cpus") >= MIN_CPUS or total_of(offerable, "mem") >= MIN_MEM_MB:
                return role, offerable
        return None

    def allocate(self) -> None:
        self._scheduled = False
        master = self._master
        candidates = [
            f for f in master.frameworks.values() if f.connected and self._offer_role(f) is not None
        ]
        if not candidates:
            return
        now = master.loop.time()
        batches: dict[str, list[JSON]] = {}
        for agent in master.agents.values():
            if not agent.offerable:
                continue
            free = {k: v for k, v in agent.free().items() if v > 0}
            if total_of(free, "cpus") < MIN_CPUS and total_of(free, "mem") < MIN_MEM_MB:
                continue
            self._turn += 1
            start = self._turn % len(candidates)
            for framework in candidates[start:] + candidates[:start]:
                allocation = self._allocation(framework, free)
                if allocation is None:
                    continue
                role, offerable = allocation
                refused = framework.filters.get(agent.id)
                if refused is not None:
                    if refused.until <= now:
                        del framework.filters[agent.id]
                    elif contains(refused.resources, offerable):
                        continue
                offer = Offer(
                    f"{master.prefix}-O{next(self._ids)}", framework.id, agent.id, role, offerable
                )
                self._offers[offer.id] = offer
                framework.offers.add(offer.id)
                agent.offered = add(agent.offered, offerable)
                batches.setdefault(framework.id, []).append(self._offer_json(offer, framework))
                timeout_s = master.config.offer_timeout_s
                if timeout_s:
                    self._timeouts[offer.id] = master.loop.call_later(
                        timeout_s, self._rescind_expired, offer.id
                    )
                break
        for framework_id, offers in batches.items():
            master.frameworks[framework_id].send({"type": "OFFERS", "offers": {"offers": offers}})

    def _offer_json(self, offer: Offer, framework: Framework) -> JSON:
        agent = self._master.agents[offer.agent_id]
        allocation = {"role": offer.role}
        resources = []
        for key, value in sorted(offer.resources.items()):
            name, role = split_key(key)
            # A framework without RESERVATION_REFINEMENT gets the old format: `role`, and
            # no `reservation` for a static reservation (downgradeResource and
            # convertResourceFormat in src/common/resources_utils.cpp).
            resource: JSON = {
                "name": name,
                "type": "SCALAR",
                "scalar": {"value": value},
                "role": role,
            }
            if framework.multi_role:
                resource["allocation_info"] = allocation
            resources.append(resource)
        body: JSON = {
            "id": {"value": offer.id},
            "framework_id": {"value": framework.id},
            "agent_id": {"value": agent.id},
            "hostname": agent.hostname,
            "resources": resources,
            "attributes": agent.attributes,
        }
        if framework.multi_role:
            body["allocation_info"] = allocation
        return body
