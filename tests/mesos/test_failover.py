"""Connections that break: dropped streams, silent streams, redirects, 503s, failover."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hippo.devmaster.model import Framework
from hippo.devmaster.server import DevMaster
from hippo.worker.mesos import (
    Disconnected,
    Error,
    FrameworkFailedOver,
    FrameworkRemoved,
    FrameworkSettings,
    Heartbeat,
    MesosForbidden,
    MesosSchedulerClient,
    Subscribed,
)

from .conftest import Connect, until

pytestmark = pytest.mark.anyio
MakeDev = Callable[..., DevMaster]


async def test_dropped_stream_resubscribes_with_the_same_framework_id_and_loses_no_update(
    devmaster: DevMaster, connect: Connect
) -> None:
    client, rec = await connect(devmaster.address, auto_ack=False)
    framework_id, first_stream = client.framework_id, client.stream_id
    await rec.launch("true", "survivor.1")
    starting = await rec.wait_update("survivor.1", "TASK_STARTING")
    # The stream breaks before the scheduler acknowledges: the update must come again.
    assert framework_id is not None
    devmaster.drop_stream(framework_id)
    await rec.wait_for(lambda e: isinstance(e, Disconnected))
    start = len(rec.events)
    again = await rec.wait_update("survivor.1", "TASK_STARTING", start=start)
    resubscribed = await rec.wait_for(lambda e: isinstance(e, Subscribed), start=start - 1)
    assert resubscribed.framework_id == framework_id  # type: ignore[attr-defined]
    assert client.stream_id != first_stream
    assert again.uuid == starting.uuid
    rec.auto_ack = True
    await client.acknowledge_update(again)
    await rec.wait_update("survivor.1", "TASK_FINISHED")
    assert rec.states("survivor.1")[-3:] == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    [framework] = devmaster.state()["frameworks"]
    assert framework["connected"] and framework["id"] == framework_id


async def test_updates_made_while_disconnected_arrive_after_resubscription(
    make_devmaster: MakeDev, connect: Connect
) -> None:
    dev = make_devmaster(update_retry_s=3600)  # only re-subscription can bring them back
    client, rec = await connect(dev.address)
    # The task ends when the test says so: once its sandbox holds a file `release`.
    await rec.launch("until [ -e release ]; do sleep 0.01; done", "during.1")
    await rec.wait_update("during.1", "TASK_RUNNING")
    assert client.framework_id is not None
    async with httpx.AsyncClient(base_url=dev.url) as http:
        # No leader until the test says so: the dropped stream cannot come back meanwhile
        # (a timed window could close before the update is made on a loaded machine).
        await http.post("/devmaster/unavailable", json={"seconds": 3600})
        dev.drop_stream(client.framework_id)
        await rec.wait_for(lambda e: isinstance(e, Disconnected))
        [task] = dev.state()["tasks"]
        (Path(task["sandbox"]) / "release").touch()
        # The agent's TASK_FINISHED is made while no stream is open, and is never resent
        # by the retry timer (an hour): only the re-subscription can bring it.
        await until(
            lambda: [t["state"] for t in dev.state()["tasks"]] == ["TASK_FINISHED"],
            10,
            "the master to know the task finished",
        )
        assert "TASK_FINISHED" not in rec.states("during.1")
        await http.post("/devmaster/unavailable", json={"seconds": 0})
    await rec.wait_update("during.1", "TASK_FINISHED")
    assert client.subscriptions == 2


async def test_a_silent_stream_is_declared_dead_after_missed_heartbeats(
    make_devmaster: MakeDev, connect: Connect
) -> None:
    dev = make_devmaster(heartbeat_interval_s=0.2)
    client, rec = await connect(dev.address)
    framework_id = client.framework_id
    assert framework_id is not None
    dev.drop_stream(framework_id, mute=True)  # open connection, nothing on it: half-open
    gone = await rec.wait_for(lambda e: isinstance(e, Disconnected), timeout_s=5)
    assert "heartbeat" in gone.reason  # type: ignore[attr-defined]
    await rec.wait_for(
        lambda e: isinstance(e, Subscribed) and e.framework_id == framework_id,
        start=rec.events.index(gone),
    )
    assert client.subscriptions == 2


async def test_a_non_leading_master_redirects_to_the_leader(
    make_devmaster: MakeDev, connect: Connect
) -> None:
    leader = make_devmaster()
    follower = make_devmaster(redirect_to=leader.address)
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{follower.url}/api/v1/scheduler", json={"type": "SUBSCRIBE"})
    assert answer.status_code == 307
    assert answer.headers["location"] == f"//{leader.address}/api/v1/scheduler"
    client, rec = await connect(follower.address)
    assert client.leader_url == f"{leader.url}/api/v1/scheduler"
    await rec.launch("echo via-leader", "redirected.1")  # calls go to the leader too
    await rec.wait_update("redirected.1", "TASK_FINISHED")
    assert leader.state()["frameworks"] and not follower.state()["frameworks"]


async def test_each_master_of_the_list_is_tried_until_one_answers(
    devmaster: DevMaster, connect: Connect
) -> None:
    with socket.socket() as unused:  # a port with nothing listening
        unused.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{unused.getsockname()[1]}"
        client, _ = await connect(f"{dead},{devmaster.address}")
    assert client.leader_url == f"{devmaster.url}/api/v1/scheduler"


async def test_503_no_leader_is_retried_with_backoff(
    devmaster: DevMaster, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hippo.worker.mesos")
    async with httpx.AsyncClient(base_url=devmaster.url) as http:
        # No leader until the test says so, not for a time a slow machine can outlast.
        await http.post("/devmaster/unavailable", json={"seconds": 3600})
        refused = await http.post("/api/v1/scheduler", json={"type": "SUBSCRIBE"})
        assert refused.status_code == 503
        client, _ = await connect(devmaster.address, wait=False)
        await until(lambda: "HTTP 503" in caplog.text, 10, "the client to be answered 503")
        await http.post("/devmaster/unavailable", json={"seconds": 0})
    await client.wait_subscribed(timeout_s=10)  # it kept trying through the 503s
    assert client.framework_id and client.subscriptions == 1


async def test_the_old_scheduler_is_told_it_failed_over_and_stops(
    devmaster: DevMaster, connect: Connect
) -> None:
    old, old_rec = await connect(devmaster.address)
    new, _ = await connect(devmaster.address, framework_id=old.framework_id)
    assert new.framework_id == old.framework_id
    error = await old_rec.wait_for(lambda e: isinstance(e, Error))
    assert error.message == "Framework failed over"  # type: ignore[attr-defined]
    assert isinstance(await old_rec.ended(), FrameworkFailedOver)
    assert old.subscriptions == 1  # it did not fight back
    [framework] = devmaster.state()["frameworks"]
    assert framework["connected"]


async def test_teardown_kills_tasks_and_removes_the_framework(
    devmaster: DevMaster, connect: Connect
) -> None:
    client, rec = await connect(devmaster.address)
    await rec.launch("sleep 60", "torn.1")
    await rec.wait_update("torn.1", "TASK_RUNNING")
    start = len(rec.events)
    await client.teardown()
    # The torn-down stream just ends, with no ERROR on it; only the SUBSCRIBE the client
    # then sends again is told "Framework has been removed".
    await rec.wait_for(lambda e: isinstance(e, Disconnected), start=start)
    error = await rec.wait_for(lambda e: isinstance(e, Error), start=start)
    assert isinstance(error, Error) and error.message == "Framework has been removed"
    kinds = [type(e) for e in rec.events[start:]]
    assert kinds.index(Disconnected) < kinds.index(Error)
    assert devmaster.state()["frameworks"] == []
    again = MesosSchedulerClient(
        devmaster.address, FrameworkSettings(), framework_id=client.framework_id
    )
    again.start()
    try:
        with pytest.raises(FrameworkRemoved):
            await again.wait_subscribed(timeout_s=5)
    finally:
        await again.close()


async def test_principal_and_secret_are_sent_as_basic_auth(
    make_devmaster: MakeDev, connect: Connect
) -> None:
    dev = make_devmaster(credentials={"hippo": "s3cret"})
    settings = FrameworkSettings(principal="hippo")
    client, _ = await connect(dev.address, settings, secret="s3cret")
    assert client.framework_id
    wrong = MesosSchedulerClient(dev.address, settings, secret="guess")
    wrong.start()
    try:
        with pytest.raises(MesosForbidden, match="401"):
            await wrong.wait_subscribed(timeout_s=5)
    finally:
        await wrong.close()


async def test_removed_framework_ids_are_remembered_fifty_deep_until_the_master_fails_over(
    devmaster: DevMaster,
) -> None:
    master = devmaster.master
    assert master is not None

    def remove(count: int) -> None:
        for i in range(count):
            framework_id = f"gone-{i}"
            master.frameworks[framework_id] = Framework(framework_id, {"name": "x"})
            master.remove_framework(framework_id, "torn down")

    devmaster.call(remove, 51)

    async def subscribes(framework_id: str) -> bool:
        client = MesosSchedulerClient(
            devmaster.address, FrameworkSettings(), framework_id=framework_id
        )
        client.start()
        try:
            await client.wait_subscribed(timeout_s=5)
            return True
        except FrameworkRemoved:
            return False
        finally:
            await client.close()

    assert not await subscribes("gone-50")
    assert await subscribes("gone-0")  # the 51st removal pushed it out (Mesos keeps 50)
    devmaster.failover([])  # a new master knows no removed framework
    assert await subscribes("gone-50")


async def test_the_first_heartbeat_comes_right_after_subscribed(
    make_devmaster: MakeDev, connect: Connect
) -> None:
    dev = make_devmaster(heartbeat_interval_s=3600)
    _, rec = await connect(dev.address)
    subscribed = await rec.wait_for(lambda e: isinstance(e, Subscribed))
    heartbeat = await rec.wait_for(lambda e: isinstance(e, Heartbeat))
    assert rec.events.index(subscribed) < rec.events.index(heartbeat)
