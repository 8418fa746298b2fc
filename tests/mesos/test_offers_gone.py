"""Offers die with the subscription they came on (issue 11, item 5): a master voids a
framework's outstanding offers when it re-subscribes, and an ACCEPT that uses one ends
its tasks TASK_DROPPED (TASK_LOST if not partition-aware) with REASON_INVALID_OFFERS
(`Master::accept` in src/master/master.cpp). The client sends no ACCEPT with such
offers: given the offers' stream id, it refuses before sending."""

from __future__ import annotations

import pytest

from hippo.devmaster.server import DevMaster
from hippo.worker.mesos import MesosOffersGone, Offers, Subscribed
from hippo.worker.mesos.messages import offer_role, task_info

from .conftest import Connect

pytestmark = pytest.mark.anyio


async def test_an_accept_with_offers_of_an_ended_subscription_is_not_sent(
    devmaster: DevMaster, connect: Connect
) -> None:
    client, rec = await connect(devmaster.address)
    offers = await rec.wait_for(lambda e: isinstance(e, Offers))
    assert isinstance(offers, Offers) and offers.stream_id == client.stream_id
    offer = offers.offers[0]
    old_stream = offers.stream_id

    def info(task_id: str) -> dict[str, object]:
        return task_info(
            task_id=task_id,
            name=task_id,
            agent_id=offer["agent_id"]["value"],
            command="sleep 60",
            cpus=0.1,
            mem_mb=32,
            allocation_role=offer_role(offer),
        )

    start = len(rec.events)
    devmaster.drop_stream(client.framework_id or "")
    await rec.wait_for(lambda e: isinstance(e, Subscribed), start=start)
    assert client.stream_id != old_stream
    with pytest.raises(MesosOffersGone):
        await client.launch([offer["id"]["value"]], [info("kept.1")], stream_id=old_stream)
    # What it spared the task: the same ACCEPT sent anyway is refused by the master and
    # the task is dropped. (Sent after, so that the kept task's absence is seen too.)
    await client.launch([offer["id"]["value"]], [info("sent.1")])
    dropped = await rec.wait_update("sent.1", "TASK_DROPPED")
    assert dropped.reason == "REASON_INVALID_OFFERS"
    assert "kept.1" not in {t["id"] for t in devmaster.state()["tasks"]}
    assert rec.states("kept.1") == []


async def test_offers_carry_their_stream_and_an_accept_on_it_launches(
    devmaster: DevMaster, connect: Connect
) -> None:
    client, rec = await connect(devmaster.address)
    offers = await rec.wait_for(lambda e: isinstance(e, Offers))
    assert isinstance(offers, Offers)
    offer = offers.offers[0]
    task = task_info(
        task_id="live.1",
        name="live",
        agent_id=offer["agent_id"]["value"],
        command="true",
        cpus=0.1,
        mem_mb=32,
        allocation_role=offer_role(offer),
    )
    await client.launch([offer["id"]["value"]], [task], stream_id=offers.stream_id)
    await rec.wait_update("live.1", "TASK_FINISHED")
