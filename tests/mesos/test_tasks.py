"""Tasks through the client and the dev master: offers, launch, finish, fail, kill."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from hippo.devmaster.server import DevMaster
from hippo.worker.mesos import Failure, Offers, Rescind, Subscribed, Update
from hippo.worker.mesos.messages import FrameworkSettings, offer_role, task_info

from .conftest import Connect

pytestmark = pytest.mark.anyio


async def test_subscribing_yields_a_framework_id_and_an_offer_per_agent(
    make_devmaster: object, connect: Connect
) -> None:
    dev = make_devmaster(agents=2, cpus=3, mem_mb=2048, attributes="rack:r{i}")  # type: ignore[operator]
    client, rec = await connect(dev.address)
    subscribed = await rec.wait_for(lambda e: isinstance(e, Subscribed))
    assert client.framework_id == subscribed.framework_id  # type: ignore[attr-defined]
    first, second = await rec.take_offer(), await rec.take_offer()
    assert {first["hostname"], second["hostname"]} == {"agent1.devmaster", "agent2.devmaster"}
    cpus = [r for r in first["resources"] if r["name"] == "cpus"][0]
    assert cpus["scalar"]["value"] == 3 and cpus["allocation_info"] == {"role": "*"}
    rack = {a["text"]["value"] for o in (first, second) for a in o["attributes"]}
    assert rack == {"r1", "r2"}
    [framework] = dev.state()["frameworks"]
    assert framework["id"] == client.framework_id and framework["connected"]
    assert framework["failover_timeout"] == 604800


async def test_echo_hello_finishes_and_its_output_is_in_the_sandbox(
    devmaster: DevMaster, connect: Connect
) -> None:
    _, rec = await connect(devmaster.address)
    await rec.launch('echo hello; echo "from $MESOS_TASK_ID" >&2', "hello.1")
    finished = await rec.wait_update("hello.1", "TASK_FINISHED")
    assert rec.states("hello.1") == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    assert finished.uuid and finished.source == "SOURCE_EXECUTOR"
    async with httpx.AsyncClient(base_url=devmaster.url) as http:
        assert (await http.get("/sandbox/hello.1/stdout")).text == "hello\n"
        assert (await http.get("/sandbox/hello.1/stderr")).text == "from hello.1\n"


async def test_task_environment_reaches_the_command(devmaster: DevMaster, connect: Connect) -> None:
    _, rec = await connect(devmaster.address)
    offer = await rec.take_offer()
    info = task_info(
        task_id="env.1",
        name="env",
        agent_id=offer["agent_id"]["value"],
        command='test "$HIPPO_DATA" = "a b"',
        cpus=0.1,
        mem_mb=32,
        env={"HIPPO_DATA": "a b"},
        allocation_role=offer_role(offer),
    )
    await rec.client.launch([offer["id"]["value"]], [info])
    await rec.wait_update("env.1", "TASK_FINISHED")


async def test_a_failing_command_fails_with_its_exit_status(
    devmaster: DevMaster, connect: Connect
) -> None:
    _, rec = await connect(devmaster.address)
    await rec.launch("echo oops >&2; exit 3", "fails.1")
    failed = await rec.wait_update("fails.1", "TASK_FAILED")
    assert failed.message == "Command exited with status 3"
    async with httpx.AsyncClient(base_url=devmaster.url) as http:
        assert (await http.get("/sandbox/fails.1/stderr")).text == "oops\n"


async def test_kill_ends_a_running_task_with_task_killed(
    devmaster: DevMaster, connect: Connect
) -> None:
    client, rec = await connect(devmaster.address)
    await rec.launch("sleep 60", "sleeper.1")
    running = await rec.wait_update("sleeper.1", "TASK_RUNNING")
    await client.kill("sleeper.1", running.agent_id)
    await rec.wait_update("sleeper.1", "TASK_KILLED", timeout_s=5)


async def sandbox_file_once_it_reads(
    http: httpx.AsyncClient, task_id: str, name: str, expected: str, timeout_s: float = 10.0
) -> str:
    """The task's sandbox file, read over HTTP until it holds `expected` (a task's output
    arrives when its command writes it); fails naming the last content after the deadline."""
    seen = ""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                answer = await http.get(f"/sandbox/{task_id}/{name}")
                seen = answer.text if answer.status_code == 200 else ""
                if seen == expected:
                    return seen
                await asyncio.sleep(0.02)  # poll interval only; the condition decides
    except TimeoutError:
        raise AssertionError(
            f"{name} of {task_id} still reads {seen!r}, not {expected!r}, after {timeout_s} s"
        ) from None


async def test_kill_of_a_task_ignoring_sigterm_uses_sigkill_after_the_grace_period(
    devmaster: DevMaster, connect: Connect
) -> None:
    client, rec = await connect(devmaster.address)
    # TASK_RUNNING means the process has started (as in Mesos), not that its shell has
    # run `trap` yet; the command says on stdout once it ignores TERM, and only then is
    # it killed, so SIGTERM cannot land first and end it.
    await rec.launch("trap '' TERM; echo ignoring TERM; sleep 60 & wait; sleep 60", "stubborn.1")
    running = await rec.wait_update("stubborn.1", "TASK_RUNNING")
    async with httpx.AsyncClient(base_url=devmaster.url) as http:
        await sandbox_file_once_it_reads(http, "stubborn.1", "stdout", "ignoring TERM\n")
    await client.kill("stubborn.1", running.agent_id, grace_s=0.3)
    killed = await rec.wait_update("stubborn.1", "TASK_KILLED", timeout_s=10)
    assert killed.message == "Command terminated with signal Killed"


async def test_removing_an_agent_loses_its_tasks_and_rescinds_its_offers(
    make_devmaster: object, connect: Connect
) -> None:
    dev = make_devmaster(agents=1)  # type: ignore[operator]
    _, rec = await connect(dev.address)
    await rec.launch("sleep 60", "doomed.1", cpus=1)
    start = 1 + next(i for i, e in enumerate(rec.events) if isinstance(e, Offers))
    running = await rec.wait_update("doomed.1", "TASK_RUNNING")
    # The rest of the agent is offered again once the task's resources are taken.
    offer = await rec.wait_for(lambda e: isinstance(e, Offers), start=start)
    assert isinstance(offer, Offers)
    remaining = offer.offers[0]["id"]["value"]
    assert running.agent_id is not None
    dev.remove_agent(running.agent_id)
    lost = await rec.wait_update("doomed.1", "TASK_LOST")
    assert lost.reason == "REASON_AGENT_REMOVED" and lost.uuid is None
    await rec.wait_for(lambda e: isinstance(e, Failure) and e.agent_id == running.agent_id)
    await rec.wait_for(lambda e: isinstance(e, Rescind) and e.offer_id == remaining)


@pytest.mark.parametrize(
    ("capabilities", "unknown_state"),
    [(("MULTI_ROLE",), "TASK_LOST"), (("MULTI_ROLE", "PARTITION_AWARE"), "TASK_UNKNOWN")],
)
async def test_reconciliation_reports_known_and_unknown_tasks_without_uuid(
    devmaster: DevMaster, connect: Connect, capabilities: tuple[str, ...], unknown_state: str
) -> None:
    settings = FrameworkSettings(name="t", user="nobody", capabilities=capabilities)
    client, rec = await connect(devmaster.address, settings)
    await rec.launch("sleep 60", "known.1")
    running = await rec.wait_update("known.1", "TASK_RUNNING")
    start = len(rec.events)
    await client.reconcile([("known.1", running.agent_id), ("never.1", None)])
    known = await rec.wait_update("known.1", "TASK_RUNNING", start=start)
    # Unknown task, unknown agent: case (6) of Master::reconcile (src/master/master.cpp).
    unknown = await rec.wait_update("never.1", unknown_state, start=start)
    for status in (known, unknown):
        assert status.reason == "REASON_RECONCILIATION" and status.source == "SOURCE_MASTER"
        assert status.uuid is None  # reconciliation answers are not acknowledged
    start = len(rec.events)
    await client.reconcile()  # implicit: every task the master knows
    await rec.wait_update("known.1", "TASK_RUNNING", start=start)


async def test_an_unacknowledged_update_is_resent_with_the_same_uuid(
    make_devmaster: object, connect: Connect
) -> None:
    dev = make_devmaster(update_retry_s=0.2)  # type: ignore[operator]
    client, rec = await connect(dev.address, auto_ack=False)
    await rec.launch("true", "unacked.1")
    first = await rec.wait_update("unacked.1", "TASK_STARTING")
    again = await rec.wait_update(
        "unacked.1",
        "TASK_STARTING",
        start=rec.events.index(next(e for e in rec.events if isinstance(e, Update))) + 1,
    )
    assert again.uuid == first.uuid
    # Only after the acknowledgement does the agent send the next update.
    assert "TASK_RUNNING" not in rec.states("unacked.1")
    await client.acknowledge_update(first)
    await rec.wait_update("unacked.1", "TASK_RUNNING")


async def test_declined_offers_stay_away_until_revive(
    make_devmaster: object, connect: Connect
) -> None:
    dev = make_devmaster(agents=1, allocation_interval_s=0.05)  # type: ignore[operator]
    client, rec = await connect(dev.address)
    offer = await rec.take_offer()
    await client.decline([offer["id"]["value"]], refuse_s=3600)
    await client.suppress()
    assert dev.state()["frameworks"][0]["suppressed_roles"] == ["*"]
    start = len(rec.events)
    await client.revive()
    await rec.wait_for(lambda e: isinstance(e, Offers), start=start)
