"""Calls other than acknowledgements through the scheduler client: those made together
(an offer round's ACCEPTs, one per agent) go pipelined on one kept-alive connection of
their own, with the client's credentials. Checked through a proxy that records every
call."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import pytest

from hippo.worker.mesos import FrameworkSettings, MesosNotSent, MesosSchedulerClient
from tests.conftest import free_port

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
    # Each launch takes the next offer: one per agent, all ACCEPTed at once.
    infos = await asyncio.gather(*(recorder.launch("true", f"t{n}") for n in range(AGENTS)))
    assert len({info["agent_id"]["value"] for info in infos}) == AGENTS
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
    port = free_port()  # nothing listens on it
    client = MesosSchedulerClient(f"127.0.0.1:{port}", FrameworkSettings())
    subscription = client._subscription  # as if subscribed to a master now gone
    subscription.leader_url = f"http://127.0.0.1:{port}/api/v1/scheduler"
    subscription.stream_id, subscription.framework_id = "stream-1", "framework-1"
    try:
        with pytest.raises(MesosNotSent, match="ACCEPT"):
            await client.launch(["O1"], [], refuse_s=0)
    finally:
        await client.close()
