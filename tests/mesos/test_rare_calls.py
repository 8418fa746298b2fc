"""The calls Hippo never makes (SHUTDOWN, MESSAGE, REQUEST, ACCEPT_INVERSE_OFFERS,
DECLINE_INVERSE_OFFERS, RECONCILE_OPERATIONS, ACKNOWLEDGE_OPERATION_STATUS,
UPDATE_FRAMEWORK) are accepted as a Mesos master accepts them (src/master/http.cpp):
202, UPDATE_FRAMEWORK 200, with the cheap effects done (rare_calls.py)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hippo.devmaster.server import DevMaster
from hippo.worker.mesos import FrameworkSettings, Rescind, Unknown

from .conftest import Connect, Recorder, until
from .raw_calls import RawCalls

pytestmark = pytest.mark.anyio
UUID = base64.b64encode(uuid.uuid4().bytes).decode()
SETTINGS = FrameworkSettings(name="rare", user="nobody", roles=("a", "b"))


@pytest.fixture
async def raw(devmaster: DevMaster, connect: Connect) -> AsyncIterator[tuple[RawCalls, Recorder]]:
    client, recorder = await connect(devmaster.address, SETTINGS)
    async with httpx.AsyncClient(base_url=devmaster.url) as http:
        yield RawCalls(http, client), recorder


def _agent(devmaster: DevMaster) -> dict[str, Any]:
    return {"value": devmaster.state()["agents"][0]["id"]}


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("MESSAGE", {"executor_id": {"value": "e"}, "data": "aGVsbG8="}),
        ("REQUEST", {"requests": [{"resources": []}]}),
        ("ACCEPT_INVERSE_OFFERS", {"inverse_offer_ids": [{"value": "io-1"}]}),
        ("DECLINE_INVERSE_OFFERS", {"inverse_offer_ids": [{"value": "io-1"}]}),
        ("ACKNOWLEDGE_OPERATION_STATUS", {"uuid": UUID, "operation_id": {"value": "op"}}),
        ("SHUTDOWN", {"executor_id": {"value": "nobody"}}),
    ],
)
async def test_a_call_hippo_never_makes_is_accepted_with_202(
    devmaster: DevMaster, raw: tuple[RawCalls, Recorder], kind: str, body: dict[str, Any]
) -> None:
    calls, _ = raw
    if kind in ("MESSAGE", "ACKNOWLEDGE_OPERATION_STATUS", "SHUTDOWN"):
        body = {**body, "agent_id": _agent(devmaster)}
    answer = await calls.post(calls.call(kind, body))
    assert (answer.status_code, answer.text) == (202, "")


async def test_shutdown_of_a_tasks_executor_kills_the_task(
    raw: tuple[RawCalls, Recorder],
) -> None:
    calls, recorder = raw
    await recorder.launch("sleep 60", "shut.1")
    running = await recorder.wait_update("shut.1", "TASK_RUNNING")
    body = {"executor_id": {"value": "shut.1"}, "agent_id": {"value": running.agent_id}}
    assert (await calls.post(calls.call("SHUTDOWN", body))).status_code == 202
    await recorder.wait_update("shut.1", "TASK_KILLED")


async def test_reconcile_operations_answers_each_operation_unknown(
    devmaster: DevMaster, raw: tuple[RawCalls, Recorder]
) -> None:
    calls, recorder = raw
    body = {
        "operations": [
            {"operation_id": {"value": "op-1"}},
            {"operation_id": {"value": "op-2"}, "agent_id": _agent(devmaster)},
            {"operation_id": {"value": "op-3"}, "agent_id": {"value": "no-such-agent"}},
        ]
    }
    start = len(recorder.events)
    assert (await calls.post(calls.call("RECONCILE_OPERATIONS", body))).status_code == 202

    def operation_updates() -> int:
        return sum(
            isinstance(e, Unknown) and e.type == "UPDATE_OPERATION_STATUS"
            for e in recorder.events[start:]
        )

    await until(lambda: operation_updates() == 3, 10, "three UPDATE_OPERATION_STATUS events")


async def test_update_framework_changes_name_and_roles_and_rescinds_offers_of_a_left_role(
    devmaster: DevMaster, raw: tuple[RawCalls, Recorder]
) -> None:
    calls, recorder = raw
    offer = await recorder.take_offer()
    assert offer["allocation_info"]["role"] == "a"
    info = SETTINGS.framework_info(calls.framework_id)
    info.update(name="renamed", roles=["b"])
    start = len(recorder.events)
    answer = await calls.post(calls.call("UPDATE_FRAMEWORK", {"framework_info": info}))
    assert (answer.status_code, answer.text) == (200, "")
    (framework,) = devmaster.state()["frameworks"]
    assert (framework["name"], framework["roles"]) == ("renamed", ["b"])
    offer_id = offer["id"]["value"]
    await recorder.wait_for(
        lambda e: isinstance(e, Rescind) and e.offer_id == offer_id, start=start
    )
    again = await recorder.take_offer()
    assert again["allocation_info"]["role"] == "b"


@pytest.mark.parametrize(
    ("change", "text"),
    [
        (
            {"user": "someone-else"},
            "FrameworkInfo update is not valid: Updating 'FrameworkInfo.user'",
        ),
        ({"principal": "p"}, "FrameworkInfo update is not valid: Changing framework's principal"),
        ({"roles": ["a", "a"]}, "Supplied FrameworkInfo is not valid: 'FrameworkInfo.roles'"),
        (
            {"id": {"value": "other"}},
            "'framework_id' differs from 'update_framework.framework_info.id'",
        ),
    ],
)
async def test_update_framework_refuses_what_mesos_refuses_with_400(
    raw: tuple[RawCalls, Recorder], change: dict[str, Any], text: str
) -> None:
    calls, _ = raw
    info = {**SETTINGS.framework_info(calls.framework_id), **change}
    answer = await calls.post(calls.call("UPDATE_FRAMEWORK", {"framework_info": info}))
    assert answer.status_code == 400 and text in answer.text, answer.text


async def test_update_framework_refuses_suppressed_roles_outside_its_roles(
    raw: tuple[RawCalls, Recorder],
) -> None:
    calls, _ = raw
    body = {
        "framework_info": SETTINGS.framework_info(calls.framework_id),
        "suppressed_roles": ["z"],
    }
    answer = await calls.post(calls.call("UPDATE_FRAMEWORK", body))
    assert (answer.status_code, answer.text) == (
        400,
        "'UpdateFramework' call is not valid: Suppressed roles { z } are not contained"
        " in the set of roles",
    )


async def test_a_call_of_type_unknown_gets_501_like_mesos(raw: tuple[RawCalls, Recorder]) -> None:
    calls, _ = raw
    answer = await calls.post(calls.call("UNKNOWN"))
    assert answer.status_code == 501
