"""The dev master's strictness: malformed launches and malformed calls get the
answers a Mesos master gives (TASK_ERROR / TASK_LOST / TASK_DROPPED updates, or
HTTP 400/403/405/406/415), and the client turns HTTP errors into its own."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import httpx
import pytest

from hippo.devmaster.server import DevMaster
from hippo.worker.mesos import FrameworkSettings, MesosBadRequest
from hippo.worker.mesos.messages import offer_role, task_info

from .conftest import Connect

pytestmark = pytest.mark.anyio

SCHEDULER = "/api/v1/scheduler"


def _without(info: dict[str, Any], key: str) -> dict[str, Any]:
    info = copy.deepcopy(info)
    del info[key]
    return info


def _with(info: dict[str, Any], **fields: Any) -> dict[str, Any]:
    info = copy.deepcopy(info)
    info.update(fields)
    return info


def _resources(info: dict[str, Any], cpus: float) -> dict[str, Any]:
    info = copy.deepcopy(info)
    info["resources"][0]["scalar"]["value"] = cpus
    return info


MALFORMED_TASKS = {
    "command and executor": (
        lambda t: _with(t, executor={"executor_id": {"value": "e"}, "command": {"value": "x"}}),
        "at least one (but not both) of CommandInfo or ExecutorInfo",
    ),
    "neither command nor executor": (
        lambda t: _without(t, "command"),
        "at least one (but not both) of CommandInfo or ExecutorInfo",
    ),
    "more cpus than offered": (lambda t: _resources(t, 64), "more than available"),
    "negative cpus": (lambda t: _resources(t, -1), "must be >= 0"),
    "no resources": (lambda t: _with(t, resources=[]), "Task uses no resources"),
    "another agent": (lambda t: _with(t, agent_id={"value": "S-other"}), "invalid agent"),
    "slash in task id": (
        lambda t: _with(t, task_id={"value": "a/b"}),
        "'a/b' contains invalid characters",
    ),
    "resources without allocation info": (
        lambda t: _with(t, resources=[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}]),
        "allocation_info",
    ),
    "environment variable without a value": (
        lambda t: _with(
            t, command={"value": "true", "environment": {"variables": [{"name": "A"}]}}
        ),
        "Task's `CommandInfo` is invalid: Environment variable 'A' of type 'VALUE'"
        " must have a value set",
    ),
    "environment variable of type UNKNOWN": (
        lambda t: _with(
            t,
            command={
                "value": "true",
                "environment": {"variables": [{"name": "A", "type": "UNKNOWN", "value": "1"}]},
            },
        ),
        "Environment variable of type 'UNKNOWN' is not allowed",
    ),
    "port mappings on host network": (
        lambda t: _with(
            t,
            container={
                "type": "DOCKER",
                "docker": {
                    "image": "busybox",
                    "network": "HOST",
                    "port_mappings": [{"host_port": 1, "container_port": 2}],
                },
            },
        ),
        "Port mappings",
    ),
    "USER network without a network name": (
        lambda t: _with(
            t, container={"type": "DOCKER", "docker": {"image": "busybox", "network": "USER"}}
        ),
        "network_infos",
    ),
    "volume without host_path, image or source": (
        lambda t: _with(
            t,
            container={
                "type": "DOCKER",
                "docker": {"image": "busybox"},
                "volumes": [{"container_path": "/data", "mode": "RW"}],
            },
        ),
        "Only one of them should be set: 'host_path', 'image' and 'source'",
    ),
    "volume with both host_path and source": (
        lambda t: _with(
            t,
            container={
                "type": "DOCKER",
                "docker": {"image": "busybox"},
                "volumes": [
                    {
                        "container_path": "/data",
                        "mode": "RW",
                        "host_path": "/srv",
                        "source": {"type": "DOCKER_VOLUME", "docker_volume": {"name": "v"}},
                    }
                ],
            },
        ),
        "Only one of them should be set: 'host_path', 'image' and 'source'",
    ),
    "docker volume source without docker_volume": (
        lambda t: _with(
            t,
            container={
                "type": "DOCKER",
                "docker": {"image": "busybox"},
                "volumes": [
                    {"container_path": "/data", "mode": "RW", "source": {"type": "DOCKER_VOLUME"}}
                ],
            },
        ),
        "'source.docker_volume' is not set for DOCKER_VOLUME volume",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED_TASKS))
async def test_a_malformed_task_gets_task_error(
    devmaster: DevMaster, connect: Connect, case: str
) -> None:
    _, rec = await connect(devmaster.address)
    offer = await rec.take_offer()
    good = task_info(
        task_id="bad.1",
        name="bad",
        agent_id=offer["agent_id"]["value"],
        command="true",
        cpus=1,
        mem_mb=32,
        allocation_role=offer_role(offer),
    )
    mutate, message = MALFORMED_TASKS[case]
    bad = mutate(good)
    await rec.client.launch([offer["id"]["value"]], [bad])
    task_id = bad["task_id"]["value"]
    error = await rec.wait_update(task_id, "TASK_ERROR")
    assert message in (error.message or "")
    assert error.reason == "REASON_TASK_INVALID" and error.source == "SOURCE_MASTER"
    assert error.uuid is None
    assert devmaster.state()["tasks"] == []


async def test_two_tasks_with_one_id_in_an_accept_launch_the_first_only(
    devmaster: DevMaster, connect: Connect
) -> None:
    _, rec = await connect(devmaster.address)
    offer = await rec.take_offer()
    task = task_info(
        task_id="twin.1",
        name="twin",
        agent_id=offer["agent_id"]["value"],
        command="true",
        cpus=0.5,
        mem_mb=32,
        allocation_role=offer_role(offer),
    )
    await rec.client.launch([offer["id"]["value"]], [task, task])
    error = await rec.wait_update("twin.1", "TASK_ERROR")
    assert "duplicate ID" in (error.message or "")
    await rec.wait_update("twin.1", "TASK_FINISHED")


async def test_tasks_within_an_offer_together_may_not_exceed_it(
    make_devmaster: Any, connect: Connect
) -> None:
    dev = make_devmaster(agents=1, cpus=1)
    _, rec = await connect(dev.address)
    offer = await rec.take_offer()

    def task(n: int) -> dict[str, Any]:
        return task_info(
            task_id=f"share.{n}",
            name="s",
            agent_id=offer["agent_id"]["value"],
            command="true",
            cpus=0.6,
            mem_mb=32,
            allocation_role=offer_role(offer),
        )

    await rec.client.launch([offer["id"]["value"]], [task(1), task(2)])
    await rec.wait_update("share.1", "TASK_FINISHED")
    refused = await rec.wait_update("share.2", "TASK_ERROR")
    assert "more than available" in (refused.message or "")


@pytest.mark.parametrize(
    ("capabilities", "state"),
    [(("MULTI_ROLE",), "TASK_LOST"), (("MULTI_ROLE", "PARTITION_AWARE"), "TASK_DROPPED")],
)
async def test_launching_on_a_used_or_unknown_offer_loses_or_drops_the_task(
    devmaster: DevMaster, connect: Connect, capabilities: tuple[str, ...], state: str
) -> None:
    settings = FrameworkSettings(name="t", user="nobody", capabilities=capabilities)
    _, rec = await connect(devmaster.address, settings)
    offer = await rec.take_offer()
    task = task_info(
        task_id="once.1",
        name="once",
        agent_id=offer["agent_id"]["value"],
        command="sleep 60",
        cpus=0.1,
        mem_mb=32,
        allocation_role=offer_role(offer),
    )
    await rec.client.launch([offer["id"]["value"]], [task])
    await rec.wait_update("once.1", "TASK_RUNNING")
    twice = _with(task, task_id={"value": "once.2"})
    await rec.client.launch([offer["id"]["value"]], [twice])
    used = await rec.wait_update("once.2", state)
    assert used.reason == "REASON_INVALID_OFFERS"
    assert "is no longer valid" in (used.message or "")
    unknown = _with(task, task_id={"value": "once.3"})
    await rec.client.launch(["no-such-offer"], [unknown])
    assert (await rec.wait_update("once.3", state)).reason == "REASON_INVALID_OFFERS"


# --- HTTP-level answers --------------------------------------------------------------

SUBSCRIBE = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}


@pytest.mark.parametrize(
    ("method", "headers", "body", "status", "text"),
    [
        ("GET", {}, None, 405, "Expecting 'POST'"),
        ("POST", {}, b"{}", 400, "Content-Type"),
        ("POST", {"Content-Type": "text/plain"}, b"{}", 415, "application/json"),
        ("POST", {"Content-Type": "application/json"}, b"{not json", 400, "Failed to parse"),
        ("POST", {"Content-Type": "application/json"}, b"{}", 400, "'type'"),
        (
            "POST",
            {"Content-Type": "application/json"},
            b'{"type": "BOGUS"}',
            400,
            "Failed to validate scheduler::Call: Expecting 'type' to be present",
        ),
        (
            "POST",
            {"Content-Type": "application/json", "Accept": "text/html"},
            SUBSCRIBE,
            406,
            "Accept",
        ),
        (
            "POST",
            {"Content-Type": "application/json", "Mesos-Stream-Id": "x"},
            SUBSCRIBE,
            400,
            "should not include the 'Mesos-Stream-Id'",
        ),
        (
            "POST",
            {"Content-Type": "application/json"},
            {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u"}}},
            400,
            "subscribe.framework_info.name",
        ),
        (
            "POST",
            {"Content-Type": "application/json"},
            {
                "type": "SUBSCRIBE",
                "framework_id": {"value": "A"},
                "subscribe": {"framework_info": {"user": "u", "name": "n", "id": {"value": "B"}}},
            },
            400,
            "differs",
        ),
        ("POST", {"Content-Type": "application/json"}, {"type": "REVIVE"}, 400, "'framework_id'"),
        (
            "POST",
            {"Content-Type": "application/json"},
            {"type": "REVIVE", "framework_id": {"value": "nope"}},
            400,
            "cannot be found",
        ),
    ],
)
async def test_malformed_calls_get_the_http_error_mesos_gives(
    devmaster: DevMaster, method: str, headers: dict[str, str], body: Any, status: int, text: str
) -> None:
    content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    async with httpx.AsyncClient(base_url=devmaster.url) as http:
        answer = await http.request(method, SCHEDULER, headers=headers, content=content)
    assert answer.status_code == status, answer.text
    assert text in answer.text


async def test_calls_need_the_current_stream_id_and_a_connected_framework(
    devmaster: DevMaster, connect: Connect
) -> None:
    client, _ = await connect(devmaster.address)
    call = {"type": "REVIVE", "framework_id": {"value": client.framework_id}, "revive": {}}
    async with httpx.AsyncClient(base_url=devmaster.url) as http:
        missing = await http.post(SCHEDULER, json=call)
        stale = await http.post(SCHEDULER, json=call, headers={"Mesos-Stream-Id": "stale"})
        current = await http.post(
            SCHEDULER, json=call, headers={"Mesos-Stream-Id": client.stream_id or ""}
        )
        assert (missing.status_code, stale.status_code, current.status_code) == (400, 400, 202)
        await client.close()
        async with asyncio.timeout(5):  # the master notices the closed connection soon after
            while True:
                closed = await http.post(SCHEDULER, json=call, headers={"Mesos-Stream-Id": "any"})
                if closed.status_code != 400:
                    break
                await asyncio.sleep(0.01)
        assert closed.status_code == 403 and "not subscribed" in closed.text


async def test_a_refused_call_raises_mesos_bad_request_naming_the_problem(
    devmaster: DevMaster, connect: Connect
) -> None:
    client, _ = await connect(devmaster.address)
    # 16 zero bytes: base64 that decodes, but no UUID version (stout's UUID::fromBytes)
    with pytest.raises(MesosBadRequest, match="Not a valid UUID") as refused:
        await client.acknowledge("S1", "t1", "AAAAAAAAAAAAAAAAAAAAAA==")
    assert refused.value.status_code == 400
    with pytest.raises(MesosBadRequest, match="Invalid character '-'"):
        await client.acknowledge("S1", "t1", "not-a-uuid")
