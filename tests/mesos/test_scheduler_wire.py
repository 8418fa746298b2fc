"""The dev master reads any framework's calls as a Mesos master does (issue 18): JSON
null is an unset field, unknown enum values are dropped, errors carry Mesos' texts,
Content-Type is compared exactly, Accept is weighed by its q values, an unknown
task's update leaves agent_id out, and an ExecutorInfo task fails at its agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hippo.devmaster.server import DevMaster
from hippo.worker.mesos import FrameworkSettings, Update
from hippo.worker.mesos.messages import offer_role, task_info

from .conftest import Connect, Recorder
from .raw_calls import SCHEDULER, RawCalls
from .recording_proxy import RecordingProxy

pytestmark = pytest.mark.anyio


@pytest.fixture
async def raw(devmaster: DevMaster, connect: Connect) -> AsyncIterator[tuple[RawCalls, Recorder]]:
    client, recorder = await connect(devmaster.address)
    async with httpx.AsyncClient(base_url=devmaster.url) as http:
        yield RawCalls(http, client), recorder


async def _task_on_offer(recorder: Recorder, task_id: str, **fields: Any) -> dict[str, Any]:
    offer = await recorder.take_offer()
    info = task_info(
        task_id=task_id,
        name=task_id,
        agent_id=offer["agent_id"]["value"],
        command="sleep 30",
        cpus=0.1,
        mem_mb=32,
        allocation_role=offer_role(offer),
    )
    info.update(fields)
    return {"offer": offer, "task": info}


# --- null is an unset field (stout/protobuf.hpp) --------------------------------------


async def test_reconcile_with_tasks_null_is_an_implicit_reconciliation(
    raw: tuple[RawCalls, Recorder],
) -> None:
    calls, recorder = raw
    await recorder.launch("sleep 30", "held.1")
    await recorder.wait_update("held.1", "TASK_RUNNING")
    start = len(recorder.events)
    answer = await calls.post(calls.call("RECONCILE", {"tasks": None}))
    assert answer.status_code == 202, answer.text
    update = await recorder.wait_for(
        lambda e: isinstance(e, Update) and e.status.reason == "REASON_RECONCILIATION",
        start=start,
    )
    assert isinstance(update, Update) and update.status.task_id == "held.1"
    assert update.status.state == "TASK_RUNNING"


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("DECLINE", {"offer_ids": None, "filters": None}),
        ("ACCEPT", {"offer_ids": None, "operations": None, "filters": {"refuse_seconds": None}}),
        ("REVIVE", {"roles": None}),
        ("SUPPRESS", None),
        ("KILL", {"task_id": {"value": "nobody"}, "agent_id": None, "kill_policy": None}),
    ],
)
async def test_null_lists_and_messages_are_unset_fields_and_the_call_is_accepted(
    raw: tuple[RawCalls, Recorder], kind: str, body: Any
) -> None:
    calls, _ = raw
    call = calls.call(kind, body)
    if body is None:
        call[kind.lower()] = None
    answer = await calls.post(call)
    assert answer.status_code == 202, answer.text


async def test_launch_with_task_infos_null_launches_nothing_and_is_accepted(
    devmaster: DevMaster, raw: tuple[RawCalls, Recorder]
) -> None:
    calls, recorder = raw
    offer = await recorder.take_offer()
    accept = {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": None}}],
    }
    answer = await calls.post(calls.call("ACCEPT", accept))
    assert answer.status_code == 202, answer.text
    assert devmaster.state()["tasks"] == []


async def test_a_task_with_resources_null_gets_task_error_not_a_server_error(
    raw: tuple[RawCalls, Recorder],
) -> None:
    calls, recorder = raw
    launch = await _task_on_offer(recorder, "nulls.1", resources=None, container=None)
    accept = {
        "offer_ids": [launch["offer"]["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [launch["task"]]}}],
    }
    answer = await calls.post(calls.call("ACCEPT", accept))
    assert answer.status_code == 202, answer.text
    error = await recorder.wait_update("nulls.1", "TASK_ERROR")
    assert error.message == "Task uses no resources"


async def test_an_unknown_capability_is_dropped_like_any_unknown_enum_value(
    devmaster: DevMaster, connect: Connect
) -> None:
    settings = FrameworkSettings(
        name="t", user="nobody", capabilities=("MULTI_ROLE", "SOME_FUTURE_CAPABILITY")
    )
    client, _ = await connect(devmaster.address, settings)
    assert client.framework_id in {f["id"] for f in devmaster.state()["frameworks"]}


# --- 400s with Mesos' texts -----------------------------------------------------------

PARSE = "Failed to convert JSON into Call protobuf: "


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (
            {
                "type": "SUBSCRIBE",
                "subscribe": {
                    "framework_info": {
                        "user": "u",
                        "name": "n",
                        "capabilities": [{"type": {"x": 1}}],
                    }
                },
            },
            PARSE + "Not expecting a JSON object for field 'type'",
        ),
        (
            {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": 7}}},
            PARSE + "Not expecting a JSON number for field 'name'",
        ),
        (
            {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": None, "name": "n"}}},
            "Failed to convert JSON into Call protobuf:"
            " Missing required fields: subscribe.framework_info.user",
        ),
        (
            {"type": "REVIVE", "framework_id": {"value": "f"}, "revive": {"roles": {"a": 1}}},
            PARSE + "Not expecting a JSON object for field 'roles'",
        ),
        (
            {"type": "KILL", "framework_id": {"value": "f"}},
            "Failed to validate scheduler::Call: Expecting 'kill' to be present",
        ),
        (
            {"type": "SHUTDOWN", "framework_id": {"value": "f"}, "shutdown": None},
            "Failed to validate scheduler::Call: Expecting 'shutdown' to be present",
        ),
        (
            {"type": "DECLINE", "decline": {}},
            "Failed to validate scheduler::Call: Expecting 'framework_id' to be present",
        ),
        (
            {"type": "SUBSCRIBE"},
            "Failed to validate scheduler::Call: Expecting 'subscribe' to be present",
        ),
        (
            {
                "type": "ACCEPT",
                "framework_id": {"value": "f"},
                "accept": {
                    "operations": [
                        {
                            "type": "LAUNCH",
                            "launch": {
                                "task_infos": [
                                    {"task_id": {"value": "t"}, "agent_id": {"value": "a"}}
                                ]
                            },
                        }
                    ]
                },
            },
            "Failed to convert JSON into Call protobuf:"
            " Missing required fields: accept.operations[0].launch.task_infos[0].name",
        ),
        (
            {"type": "KILL", "framework_id": {"value": "f"}, "kill": {"task_id": {"value": 1}}},
            PARSE + "Not expecting a JSON number for field 'value'",
        ),
        (
            [{"type": "REVIVE"}],
            "Failed to convert JSON into Call protobuf: Expecting a JSON object",
        ),
    ],
)
async def test_a_malformed_call_gets_400_with_the_text_mesos_gives(
    devmaster: DevMaster, call: Any, text: str
) -> None:
    async with httpx.AsyncClient(base_url=devmaster.url) as http:
        answer = await http.post(SCHEDULER, json=call)
    assert (answer.status_code, answer.text) == (400, text)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"", "Failed to parse body into JSON: "),
        (b'{"type": NaN}', "Failed to parse body into JSON: "),
        (b'{"type": 1e999}', "Failed to parse body into JSON: "),
        (b"[" * 201 + b"]" * 201, "Failed to parse body into JSON: "),
        (b'{"type": "\\ud800"}', "Failed to parse body into JSON: "),
        (b"\xff\xfe{}", "Failed to parse body into JSON: "),
    ],
)
async def test_a_body_stout_cannot_parse_as_json_gets_400(
    devmaster: DevMaster, body: bytes, text: str
) -> None:
    async with httpx.AsyncClient(base_url=devmaster.url) as http:
        answer = await http.post(
            SCHEDULER, content=body, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 400 and answer.text.startswith(text), answer.text


# --- content types (src/master/http.cpp, libprocess Request::acceptsMediaType) ------------


@pytest.mark.parametrize(
    ("content_type", "status", "text"),
    [
        ("application/json", 202, ""),
        (
            "application/json; charset=utf-8",
            415,
            "Expecting 'Content-Type' of application/json or application/x-protobuf",
        ),
        (
            "Application/JSON",
            415,
            "Expecting 'Content-Type' of application/json or application/x-protobuf",
        ),
        (
            "application/x-protobuf",
            415,
            "The dev master speaks JSON only: send 'Content-Type: application/json'"
            " (a Mesos master also takes application/x-protobuf)",
        ),
    ],
)
async def test_content_type_must_be_exactly_application_json(
    raw: tuple[RawCalls, Recorder], content_type: str, status: int, text: str
) -> None:
    calls, _ = raw
    headers = calls.headers(**{"Content-Type": content_type})
    answer = await calls.post(calls.call("REVIVE"), headers=headers)
    assert (answer.status_code, answer.text) == (status, text)


SUBSCRIBE = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}


@pytest.mark.parametrize(
    ("accept", "status", "text"),
    [
        ("application/json;q=0", 406, "Expecting 'Accept' to allow"),
        ("application/json; q=0.0, text/html", 406, "Expecting 'Accept' to allow"),
        ("*/*;q=0", 406, "Expecting 'Accept' to allow"),
        ("application/x-protobuf", 406, "The dev master speaks JSON only"),
        ("application/json;q=0.5", 200, ""),
        ("text/html, application/*", 200, ""),
        ("*/*", 200, ""),
    ],
)
async def test_subscribe_needs_an_accept_allowing_json_weighed_by_q(
    devmaster: DevMaster, accept: str, status: int, text: str
) -> None:
    headers = {"Content-Type": "application/json", "Accept": accept}
    async with httpx.AsyncClient(base_url=devmaster.url) as http:
        async with http.stream("POST", SCHEDULER, json=SUBSCRIBE, headers=headers) as answer:
            assert answer.status_code == status
            if status != 200:
                assert text in (await answer.aread()).decode()


async def test_reconcile_operations_needs_an_accept_allowing_json_too(
    raw: tuple[RawCalls, Recorder],
) -> None:
    calls, _ = raw
    call = calls.call("RECONCILE_OPERATIONS", {})
    refused = await calls.post(call, headers=calls.headers(Accept="application/json;q=0"))
    assert refused.status_code == 406
    assert (await calls.post(call)).status_code == 202


async def test_hippos_client_sends_content_type_and_accept_exactly_application_json(
    make_devmaster: Any, connect: Connect
) -> None:
    dev = make_devmaster(simulate_s=60)
    host, _, port = dev.address.rpartition(":")
    proxy = RecordingProxy(host, int(port)).start()
    try:
        client, recorder = await connect(proxy.address)
        await recorder.launch("true", "exact.1")
        await recorder.wait_update("exact.1", "TASK_RUNNING")  # acknowledged on the way
        await client.reconcile([("exact.1", None)])
        await client.kill("exact.1")
        await client.revive()
        seen = proxy.calls()
        kinds = {call.call_type for call in seen}
        assert {"SUBSCRIBE", "ACCEPT", "ACKNOWLEDGE", "RECONCILE", "KILL", "REVIVE"} <= kinds
        for call in seen:
            assert call.headers["content-type"] == "application/json", call
            assert call.headers["accept"] == "application/json", call
    finally:
        proxy.stop()


# --- small shapes -------------------------------------------------------------------


async def test_an_unknown_task_reconciled_without_agent_has_no_agent_id(
    raw: tuple[RawCalls, Recorder],
) -> None:
    calls, recorder = raw
    answer = await calls.post(calls.call("RECONCILE", {"tasks": [{"task_id": {"value": "ghost"}}]}))
    assert answer.status_code == 202
    # The client is PARTITION_AWARE: an unknown task on no known agent is TASK_UNKNOWN
    # (case 6 of Master::reconcile; TASK_LOST without the capability).
    lost = await recorder.wait_update("ghost", "TASK_UNKNOWN")
    assert lost.agent_id is None and lost.reason == "REASON_RECONCILIATION"
    await calls.post(calls.call("KILL", {"task_id": {"value": "ghost.2"}}))
    assert (await recorder.wait_update("ghost.2", "TASK_UNKNOWN")).agent_id is None


async def test_a_task_with_an_executor_fails_at_its_agent_as_a_container_launch_failure(
    devmaster: DevMaster, raw: tuple[RawCalls, Recorder]
) -> None:
    calls, recorder = raw
    launch = await _task_on_offer(recorder, "exec.1")
    task = launch["task"]
    task["executor"] = {
        "executor_id": {"value": "my-executor"},
        "type": "CUSTOM",
        "command": task.pop("command"),
    }
    accept = {
        "offer_ids": [launch["offer"]["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
    }
    assert (await calls.post(calls.call("ACCEPT", accept))).status_code == 202
    failed = await recorder.wait_update("exec.1", "TASK_FAILED")
    assert failed.reason == "REASON_CONTAINER_LAUNCH_FAILED"
    assert failed.source == "SOURCE_AGENT" and failed.uuid is not None
    assert failed.message is not None
    assert failed.message.startswith("Failed to launch container: ")
    assert "ExecutorInfo" in failed.message


async def test_a_call_authenticated_as_another_principal_gets_400(
    make_devmaster: Any, connect: Connect
) -> None:
    dev = make_devmaster(credentials={"hippo": "s1", "other": "s2"})
    client, _ = await connect(dev.address, FrameworkSettings(principal="hippo"), secret="s1")
    call = {"type": "REVIVE", "framework_id": {"value": client.framework_id}}
    headers = {"Content-Type": "application/json", "Mesos-Stream-Id": client.stream_id or ""}
    async with httpx.AsyncClient(base_url=dev.url) as http:
        own = await http.post(SCHEDULER, json=call, headers=headers, auth=("hippo", "s1"))
        other = await http.post(SCHEDULER, json=call, headers=headers, auth=("other", "s2"))
    assert own.status_code == 202
    assert (other.status_code, other.text) == (
        400,
        "Authenticated principal 'other' does not match principal 'hippo' set in `FrameworkInfo`",
    )
