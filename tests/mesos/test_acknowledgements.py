"""Acknowledgements through the scheduler client: pipelined on one kept-alive
connection, with the client's credentials and its errors; a connection the master
closed while idle is replaced. Checked through a proxy that records every call."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from hippo.worker.mesos import (
    FrameworkSettings,
    MesosBadRequest,
    MesosNotSubscribed,
    MesosSchedulerClient,
    TaskStatus,
)

from .conftest import Connect
from .recording_proxy import RecordingProxy

pytestmark = pytest.mark.anyio
PRINCIPAL, SECRET = "hippo", "s3cret"
BASIC = "Basic " + base64.b64encode(f"{PRINCIPAL}:{SECRET}".encode()).decode()


async def test_acknowledgements_carry_the_authorization_header_when_a_secret_is_set(
    proxy_to: Callable[..., RecordingProxy], connect: Connect
) -> None:
    proxy = proxy_to(credentials={PRINCIPAL: SECRET})
    settings = FrameworkSettings(principal=PRINCIPAL)
    client, recorder = await connect(proxy.address, settings, secret=SECRET, auto_ack=False)
    await recorder.launch("true", "t1")
    starting = await recorder.wait_update("t1", "TASK_STARTING")
    assert await client.acknowledge_updates([starting]) == 1
    # The agent sends the next update only once the first is acknowledged.
    await recorder.wait_update("t1", "TASK_RUNNING")
    acks = proxy.calls("ACKNOWLEDGE")
    assert len(acks) == 1 and acks[0].headers.get("authorization") == BASIC


async def test_a_batch_is_pipelined_and_a_refused_call_is_named_after_every_answer(
    proxy_to: Callable[..., RecordingProxy], connect: Connect
) -> None:
    proxy = proxy_to()
    client, recorder = await connect(proxy.address, auto_ack=False)
    for n in range(3):
        await recorder.launch("true", f"t{n}")
    starting = [await recorder.wait_update(f"t{n}", "TASK_STARTING") for n in range(3)]
    bad = TaskStatus({}, "t9", "TASK_RUNNING", starting[0].agent_id, "not-a-uuid", None, None, None)
    no_uuid = TaskStatus({}, "t8", "TASK_RUNNING", starting[0].agent_id, None, None, None, None)
    with pytest.raises(MesosBadRequest, match=r"ACKNOWLEDGE \(1 of 4 calls refused\)"):
        await client.acknowledge_updates([starting[0], bad, no_uuid, *starting[1:]])
    for n in range(3):  # the calls after the refused one were answered and applied
        await recorder.wait_update(f"t{n}", "TASK_RUNNING")
    acks = proxy.calls("ACKNOWLEDGE")
    assert len(acks) == 4 and len({c.connection for c in acks}) == 1


async def test_a_kept_alive_connection_the_master_closed_is_replaced(
    proxy_to: Callable[..., RecordingProxy], connect: Connect
) -> None:
    proxy = proxy_to(simulate_s=0.2)  # FINISHED comes once RUNNING is acknowledged
    client, recorder = await connect(proxy.address, auto_ack=False)
    await recorder.launch("true", "t1")
    await client.acknowledge_updates([await recorder.wait_update("t1", "TASK_STARTING")])
    running = await recorder.wait_update("t1", "TASK_RUNNING")
    proxy.drop_call_connections()
    assert await client.acknowledge_updates([running]) == 1
    await recorder.wait_update("t1", "TASK_FINISHED")
    assert len({c.connection for c in proxy.calls("ACKNOWLEDGE")}) == 2


async def test_updates_without_a_uuid_need_no_acknowledgement_and_no_subscription() -> None:
    client = MesosSchedulerClient("127.0.0.1:1", FrameworkSettings())  # never started
    reconciled = TaskStatus({}, "t1", "TASK_LOST", "S1", None, None, None, None)
    assert await client.acknowledge_updates([reconciled]) == 0
    with pytest.raises(MesosNotSubscribed):
        await client.acknowledge_updates(
            [TaskStatus({}, "t1", "TASK_LOST", "S1", "dQ==", *[None] * 3)]
        )
