"""`--simulate`: virtual tasks, so benchmarks measure Hippo, not process start-up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hippo.worker.mesos import Update
from hippo.worker.mesos.messages import offer_role, task_info

from .conftest import Connect, until

pytestmark = pytest.mark.anyio


async def _launch_many(rec: Any, count: int, prefix: str) -> None:
    offer = await rec.take_offer()
    tasks = [
        task_info(
            task_id=f"{prefix}.{n}",
            name="sim",
            agent_id=offer["agent_id"]["value"],
            command="true",
            cpus=0.01,
            mem_mb=1,
            allocation_role=offer_role(offer),
        )
        for n in range(count)
    ]
    await rec.client.launch([offer["id"]["value"]], tasks)


async def test_thousands_of_simulated_launches_are_accepted_at_once(
    make_devmaster: Any, connect: Connect
) -> None:
    dev = make_devmaster(agents=1, cpus=100, mem_mb=100_000, simulate_s=0.05)
    _, rec = await connect(dev.address, auto_ack=False)
    await _launch_many(rec, 3000, "sim")
    # Without acknowledgements each task's first update (STARTING) is all that comes.
    # How fast they come is a benchmark (bench/scheduler.py), not asserted here.
    await until(
        lambda: sum(isinstance(e, Update) for e in rec.events) >= 3000,
        120,
        "a STARTING update for each of the 3,000 tasks",
    )
    # Each simulated task finishes 0.05 s after its launch, however long the updates
    # take to arrive: the last STARTING can come before the last task has finished.
    await until(
        lambda: {t["state"] for t in dev.state()["tasks"]} == {"TASK_FINISHED"},
        60,
        "the 3,000 simulated tasks to finish in the master's state",
    )
    tasks = dev.state()["tasks"]
    assert len(tasks) == 3000
    assert {t["sandbox"] for t in tasks} == {None}  # no process, no sandbox


@pytest.mark.slow
async def test_simulated_tasks_run_their_whole_life_with_acknowledgements(
    make_devmaster: Any, connect: Connect
) -> None:
    dev = make_devmaster(agents=1, cpus=100, mem_mb=100_000, simulate_s=0.1)
    _, rec = await connect(dev.address)
    await _launch_many(rec, 500, "life")
    async with asyncio.timeout(60):
        while (
            sum(isinstance(e, Update) and e.status.state == "TASK_FINISHED" for e in rec.events)
            < 500
        ):
            await asyncio.sleep(0.05)
    # Updates are at-least-once: on a loaded machine an acknowledgement can come after
    # the master's resend timer, and the same update arrives twice. Order still holds.
    assert list(dict.fromkeys(rec.states("life.7"))) == [
        "TASK_STARTING",
        "TASK_RUNNING",
        "TASK_FINISHED",
    ]
    async with asyncio.timeout(10):
        while dev.state()["tasks"]:  # acknowledged terminal tasks are forgotten
            await asyncio.sleep(0.05)
