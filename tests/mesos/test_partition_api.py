"""The dev master's test API for what happens between a master and its agents
(POST /devmaster/failover, /devmaster/agents/<id>/<event>), and what a
partition-aware framework hears, as src/master/master.cpp says."""

from __future__ import annotations

import httpx
import pytest

from hippo.devmaster.server import DevMaster
from hippo.worker.mesos import Subscribed, Update

from .conftest import Connect

pytestmark = pytest.mark.anyio


def _links(dev: DevMaster) -> dict[str, str]:
    return {a["id"]: a["link"] for a in dev.state()["agents"]}


async def test_the_http_test_api_moves_agents_and_refuses_what_it_does_not_know(
    devmaster: DevMaster,
) -> None:
    first, second = list(_links(devmaster))
    async with httpx.AsyncClient(base_url=devmaster.url) as http:
        answer = await http.post(f"/devmaster/agents/{first}/unreachable")
        assert answer.status_code == 200
        assert _links(devmaster)[first] == "unreachable"
        assert (await http.post(f"/devmaster/agents/{first}/reregister")).status_code == 200
        assert (await http.post("/devmaster/failover", json={"late_agents": [second]})).json() == {
            "failover": True,
            "late_agents": [second],
        }
        assert _links(devmaster) == {first: "registered", second: "recovered"}
        assert (await http.post("/devmaster/agents/nope/drain")).status_code == 404
        assert (await http.post(f"/devmaster/agents/{first}/explode")).status_code == 404
        assert (
            await http.post("/devmaster/failover", json={"late_agents": ["nope"]})
        ).status_code == 404


async def test_explicit_reconciliation_is_unanswered_until_a_late_agent_is_back(
    make_devmaster: object, connect: Connect
) -> None:
    dev = make_devmaster(agents=1)  # type: ignore[operator]
    client, rec = await connect(dev.address)
    await rec.launch("sleep 60", "late.1")
    running = await rec.wait_update("late.1", "TASK_RUNNING")
    agent = running.agent_id or ""
    start = len(rec.events)
    dev.failover([agent])
    await rec.wait_for(lambda e: isinstance(e, Subscribed), start=start)
    asked = len(rec.events)
    await client.reconcile([("late.1", agent), ("other.1", None)])
    # No answer to either: the agent has not re-registered, and a task without agent id
    # may be on it (Master::reconcile, case 2). The master answers each call before the
    # next line runs, so an answer would come before the agent is back.
    dev.agent_event(agent, "reregister")
    await client.reconcile([("late.1", agent)])
    await rec.wait_update("late.1", "TASK_RUNNING", start=asked)
    answers = [
        (e.status.task_id, e.status.reason) for e in rec.events[asked:] if isinstance(e, Update)
    ]
    assert answers == [("late.1", "REASON_RECONCILIATION")]
