"""Fuzz of `POST /api/v1/scheduler`: every call type, mutated (nulls, wrong JSON types,
huge numbers and strings, missing and extra fields, odd nesting, odd headers), gets
an answer a Mesos master could give (200, 202, 400, 406, 415, or 501 for type
UNKNOWN), never a 500, no error is logged, and the dev master still serves a new
framework afterwards. Deterministic: a fixed seed and a fixed number of calls."""

from __future__ import annotations

import base64
import copy
import json
import logging
import random
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from hippo.devmaster.server import DevMaster
from hippo.worker.mesos import FrameworkSettings
from hippo.worker.mesos.messages import offer_role, task_info

from .conftest import Connect
from .raw_calls import SCHEDULER, RawCalls

pytestmark = pytest.mark.anyio
SEED = 18
CALLS = 300  # about 10 s on a busy 2-core machine
ALLOWED = {200, 202, 400, 406, 415, 501}
SETTINGS = FrameworkSettings(name="fuzz", user="nobody", roles=("fuzz",))
UUID = base64.b64encode(uuid.uuid4().bytes).decode()
ODD_VALUES: list[Any] = [
    None,
    "",
    "x",
    "x" * 100_000,
    0,
    -1,
    2**31,
    2**63,
    -(2**63) - 1,
    2**64,
    1e308,
    -1e308,
    0.5,
    True,
    False,
    [],
    [None],
    [[[]]],
    {},
    {"value": None},
    {"value": "v" * 300},
    "Infinity",
    "NaN",
    "1e999",
    "-1",
    "true",
    UUID,
    "\u0000",
    "🙂",
    "MULTI_ROLE",
    "LAUNCH",
    "SCALAR",
    "../..",
    "a/b",
]
ODD_HEADERS: list[dict[str, str]] = [
    {"Content-Type": "application/json; charset=utf-8"},
    {"Content-Type": "Application/JSON"},
    {"Content-Type": "application/x-protobuf"},
    {"Content-Type": "text/plain"},
    {"Accept": "application/json;q=0"},
    {"Accept": "application/x-protobuf"},
    {"Mesos-Stream-Id": "stale"},
]


def _templates(framework_id: str, agent_id: str, offer: dict[str, Any]) -> list[dict[str, Any]]:
    """One valid call of every type (TEARDOWN aside: it would end the fuzz's framework)."""
    fid, aid = {"value": framework_id}, {"value": agent_id}
    task = task_info(
        task_id="fuzz.1",
        name="fuzz",
        agent_id=agent_id,
        command="true",
        cpus=0.1,
        mem_mb=32,
        allocation_role=offer_role(offer),
    )
    task["kill_policy"] = {"grace_period": {"nanoseconds": 1000}}
    task["container"] = {
        "type": "DOCKER",
        "docker": {"image": "busybox", "network": "BRIDGE"},
        "volumes": [{"container_path": "/d", "mode": "RO", "host_path": "/tmp"}],
    }
    filters = {"refuse_seconds": 1.0}
    ids = [offer["id"]]
    bodies: dict[str, Any] = {
        "ACCEPT": {
            "offer_ids": ids,
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
            "filters": filters,
        },
        "DECLINE": {"offer_ids": ids, "filters": filters},
        "ACCEPT_INVERSE_OFFERS": {"inverse_offer_ids": ids, "filters": filters},
        "DECLINE_INVERSE_OFFERS": {"inverse_offer_ids": ids, "filters": filters},
        "REVIVE": {"roles": ["fuzz"]},
        "SUPPRESS": {"roles": ["fuzz"]},
        "KILL": {"task_id": {"value": "fuzz.1"}, "agent_id": aid, "kill_policy": {}},
        "SHUTDOWN": {"executor_id": {"value": "fuzz.1"}, "agent_id": aid},
        "ACKNOWLEDGE": {"agent_id": aid, "task_id": {"value": "fuzz.1"}, "uuid": UUID},
        "ACKNOWLEDGE_OPERATION_STATUS": {
            "agent_id": aid,
            "uuid": UUID,
            "operation_id": {"value": "op"},
        },
        "RECONCILE": {"tasks": [{"task_id": {"value": "fuzz.1"}, "agent_id": aid}]},
        "RECONCILE_OPERATIONS": {"operations": [{"operation_id": {"value": "op"}}]},
        "MESSAGE": {"agent_id": aid, "executor_id": {"value": "e"}, "data": "aGk="},
        "REQUEST": {"requests": [{"agent_id": aid, "resources": task["resources"]}]},
        "UPDATE_FRAMEWORK": {
            "framework_info": SETTINGS.framework_info(framework_id),
            "suppressed_roles": [],
        },
    }
    calls = [
        {"type": kind, "framework_id": fid, kind.lower(): body} for kind, body in bodies.items()
    ]
    calls.append({"type": "UNKNOWN", "framework_id": fid})
    info = FrameworkSettings(name="other", user="nobody").framework_info()
    info["failover_timeout"] = 0.0
    calls.append({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}})
    return calls


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


def _set(root: Any, path: tuple[Any, ...], change: Callable[[Any, Any], None]) -> Any:
    if not path:
        holder: list[Any] = [root]
        change(holder, 0)
        return holder[0]
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    change(parent, path[-1])
    return root


def _mutate(rng: random.Random, call: dict[str, Any]) -> Any:
    """`call` with one to three random changes."""
    value: Any = copy.deepcopy(call)
    for _ in range(rng.randint(1, 3)):
        paths = _paths(value)
        path = paths[0] if rng.random() < 0.02 else rng.choice(paths[1:] or paths)
        odd = copy.deepcopy(rng.choice(ODD_VALUES))
        # delete, extra field, list around, null, odd value: most keep a call Mesos takes
        how = rng.choices(range(5), weights=(2, 2, 1, 3, 2))[0]

        def change(
            parent: Any, key: Any, how: int = how, odd: Any = odd, top: bool = not path
        ) -> None:
            if how == 0 and not top and isinstance(parent, dict):
                del parent[key]  # a field missing
            elif how == 1 and isinstance(parent[key], dict):
                parent[key][rng.choice(["extra", "value", "type", "tasks"])] = odd
            elif how == 2:
                parent[key] = [parent[key]]  # one more level of list
            elif how == 3 and not top:
                parent[key] = None
            else:
                parent[key] = odd

        value = _set(value, path, change)
    return value


@pytest.mark.slow
async def test_no_input_makes_the_scheduler_endpoint_fail(
    make_devmaster: Callable[..., DevMaster], connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    devmaster = make_devmaster(simulate_s=0.2)  # tasks run virtually: no processes
    client, recorder = await connect(devmaster.address, SETTINGS)
    offer = await recorder.take_offer()
    agent_id = offer["agent_id"]["value"]
    templates = _templates(client.framework_id or "", agent_id, offer)
    rng = random.Random(SEED)
    seen: dict[int, int] = {}
    caplog.set_level(logging.ERROR)
    async with httpx.AsyncClient(base_url=devmaster.url, timeout=30) as http:
        raw = RawCalls(http, client)
        for number in range(CALLS):
            template = templates[number % len(templates)]
            call = _mutate(rng, template) if number >= len(templates) else template
            headers = raw.headers()
            if template["type"] == "SUBSCRIBE":
                del headers["Mesos-Stream-Id"]
            if rng.random() < 0.1:
                headers.update(rng.choice(ODD_HEADERS))
            body = json.dumps(call).encode()
            async with http.stream("POST", SCHEDULER, content=body, headers=headers) as answer:
                status = answer.status_code  # a SUBSCRIBE's stream is left at once
            seen[status] = seen.get(status, 0) + 1
            assert status in ALLOWED, f"call {number}: {status} for {body[:2000]!r}"
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, errors
        assert {200, 202, 400} <= set(seen), seen
        assert (await raw.post(raw.call("REVIVE"))).status_code == 202
    # Still serving: a new framework subscribes, launches and finishes a task (the
    # fuzzed framework leaves first, giving back the offers it holds).
    await client.close()
    _, fresh = await connect(devmaster.address, FrameworkSettings(name="after", user="nobody"))
    await fresh.launch("true", "after.1")
    await fresh.wait_update("after.1", "TASK_FINISHED", timeout_s=20)
