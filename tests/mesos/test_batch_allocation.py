"""`batch_allocation` (`hippo devmaster --batch-allocation`): like Mesos' allocator,
resources an ACCEPT leaves unused wait for the next allocation interval instead of being
offered again at once."""

from __future__ import annotations

from typing import Any

import pytest

from hippo.worker.mesos import Offers, Update

from .conftest import Connect

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "at-once"])
async def test_unused_resources_wait_for_the_allocation_interval_only_when_batched(
    make_devmaster: Any, connect: Connect, batch: bool
) -> None:
    dev = make_devmaster(
        agents=1, simulate_s=3600, batch_allocation=batch, allocation_interval_s=3600
    )
    client, rec = await connect(dev.address)
    await rec.wait_for(lambda e: isinstance(e, Offers))
    start = len(rec.events)
    info = await rec.launch("true", "held.1")  # the rest of the agent is left unused
    # Events come in order on the stream: an answer to a RECONCILE sent after the ACCEPT
    # shows whether the unused resources were offered again in between.
    await client.reconcile([("held.1", info["agent_id"]["value"])])
    answered = await rec.wait_for(
        lambda e: isinstance(e, Update) and e.status.reason == "REASON_RECONCILIATION",
        start=start,
    )
    before = rec.events[start : rec.events.index(answered)]
    reoffered = any(isinstance(e, Offers) for e in before)
    assert reoffered is not batch
