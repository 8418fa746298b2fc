"""Calls other than acknowledgements through the scheduler client: those made together
(an offer round's ACCEPTs, one per agent) go pipelined on one kept-alive connection of
their own, with the client's credentials. Checked through a proxy that records every
call."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Callable

import pytest

from hippo.worker.mesos import FrameworkSettings, MesosNotSent, MesosSchedulerClient
from hippo.worker.mesos.messages import offer_role, task_info

from .conftest import Connect
from .recording_proxy import RecordingProxy

pytestmark = pytest.mark.anyio
PRINCIPAL, SECRET = "hippo", "s3cret"
BASIC = "Basic " + base64.b64encode(f"{PRINCIPAL}:{SECRET}".encode()).decode()
AGENTS = 6


async def test_accepts_on_many_agents_share_one_connection_and_each_launches(
    proxy_to: Callable[..., RecordingProxy], connect: Connect
) -> None:
    proxy = proxy_to(agents=AGENTS, credentials={PRINCIPAL: SECRET})
    settings = FrameworkSettings(principal=PRINCIPAL)
    client, recorder = await connect(proxy.address, settings, secret=SECRET)
    offers = [await recorder.take_offer() for _ in range(AGENTS)]
    assert len({o["agent_id"]["value"] for o in offers}) == AGENTS  # one offer per agent

    async def launch(n: int, offer: dict[str, object]) -> None:
        info = task_info(
            task_id=f"t{n}",
            name=f"t{n}",
            agent_id=offer["agent_id"]["value"],  # type: ignore[index]
            command="true",
            cpus=0.1,
            mem_mb=32,
            allocation_role=offer_role(offer),  # type: ignore[arg-type]
        )
        await client.launch([offer["id"]["value"]], [info], refuse_s=0)  # type: ignore[index]

    await asyncio.gather(*(launch(n, offer) for n, offer in enumerate(offers)))
    for n in range(AGENTS):
        await recorder.wait_update(f"t{n}", "TASK_RUNNING")
    accepts = proxy.calls("ACCEPT")
    assert len(accepts) == AGENTS
    assert len({c.connection for c in accepts}) == 1
    assert {c.connection for c in accepts}.isdisjoint(
        c.connection for c in proxy.calls("SUBSCRIBE")
    )
    assert all(c.headers.get("authorization") == BASIC for c in accepts)


async def test_a_call_whose_connection_cannot_be_opened_is_known_not_sent() -> None:
    """No master can have taken it (the offer round puts an ACCEPT's runs back at once)."""
    with socket.socket() as taken:  # a port nothing listens on once it is closed
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
    client = MesosSchedulerClient(f"127.0.0.1:{port}", FrameworkSettings())
    subscription = client._subscription  # as if subscribed to a master now gone
    subscription.leader_url = f"http://127.0.0.1:{port}/api/v1/scheduler"
    subscription.stream_id, subscription.framework_id = "stream-1", "framework-1"
    client._started = True
    try:
        with pytest.raises(MesosNotSent, match="ACCEPT"):
            await client.launch(["O1"], [], refuse_s=0)
    finally:
        await client.close()
