"""The Mesos TaskInfo of a task run, from its decoded definition. Pure."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from hippo.shared.model import Container, Network, TaskDefinition
from hippo.shared.tunables import SHARED_DEFINITION_MAX_CHARS
from hippo.worker.mesos import messages

JSON = dict[str, Any]


def container_info(container: Container) -> JSON:
    """A DOCKER ContainerInfo from a Marathon-style `container` block."""
    docker = container.docker
    volumes = [
        {"container_path": v.containerPath, "host_path": v.hostPath, "mode": v.mode.value}
        for v in container.volumes
    ]
    info = messages.docker_container(
        docker.image, docker.network.value, docker.forcePullImage, volumes
    )
    if docker.network is Network.USER:
        info["network_infos"] = [{"name": docker.networkName or ""}]
    return info


def task_env(task_id: str, definition: TaskDefinition, data: str = "") -> dict[str, str]:
    """HIPPO_TASK_NAME, HIPPO_DATA and HIPPO_DATA_BASE64, then the task's own env.

    `data` is this run's HIPPO_DATA. A definition has no such field, so the leader
    passes none: a one-off task gets both data variables empty, and queue pollers put
    the item's data in the task's env, which comes last and wins.
    """
    env = {
        "HIPPO_TASK_NAME": task_id,
        "HIPPO_DATA": data,
        "HIPPO_DATA_BASE64": base64.b64encode(data.encode()).decode() if data else "",
    }
    env.update(definition.env)
    return env


# The HIPPO_* variables first, each unless the definition's own env sets it (task_env).
_HEAD_NAMES = ("HIPPO_TASK_NAME", "HIPPO_DATA", "HIPPO_DATA_BASE64")

# Definitions kept seen once, and kept prepared: each all dropped at once past this.
PREPARED_LIMIT = 1024


class _Prepared:
    """What every TaskInfo of one definition shares, built once: the command, the
    container and the definition's own env variables; a run adds its ids, agent,
    resources and HIPPO_* values. Its TaskInfos share these parts: read-only."""

    __slots__ = ("definition", "command", "container", "head", "tail")

    def __init__(self, definition: TaskDefinition) -> None:
        own = definition.env
        self.definition = definition
        self.command = definition.cmd
        self.container = container_info(definition.container)
        # Per HIPPO_* variable, the definition's value (it wins) or None (the run's).
        self.head = tuple(own.get(name) for name in _HEAD_NAMES)
        self.tail = [
            {"name": name, "value": value} for name, value in own.items() if name not in _HEAD_NAMES
        ]

    def task_info(
        self,
        mesos_id: str,
        task_id: str,
        agent_id: str,
        role: str | None,
        data: str,
        resources: Sequence[JSON] | None,
    ) -> JSON:
        name_own, data_own, base64_own = self.head
        if resources is None:
            definition = self.definition
            resources = [
                messages.scalar_resource("cpus", definition.cpus, role),
                messages.scalar_resource("mem", definition.mem, role),
            ]
        if base64_own is None:
            base64_own = base64.b64encode(data.encode()).decode() if data else ""
        return {
            "name": task_id,
            "task_id": {"value": mesos_id},
            "agent_id": {"value": agent_id},
            "resources": list(resources),
            "command": {
                "shell": True,
                "value": self.command,
                "environment": {
                    "variables": [
                        {
                            "name": "HIPPO_TASK_NAME",
                            "value": task_id if name_own is None else name_own,
                        },
                        {"name": "HIPPO_DATA", "value": data if data_own is None else data_own},
                        {"name": "HIPPO_DATA_BASE64", "value": base64_own},
                        *self.tail,
                    ]
                },
            },
            "container": self.container,
        }


# Definitions seen once, and those prepared, by id(): each entry holds its definition, so
# no other object can have that id while the entry lives. A definition is prepared at its
# second run: a queue's run is mostly its definition's only one (its item is in its env),
# and preparing for one TaskInfo costs more than building it.
_seen: dict[int, TaskDefinition] = {}
_prepared: dict[int, _Prepared] = {}


def _item_sized(definition: TaskDefinition) -> bool:
    size = len(definition.cmd)
    for value in definition.env.values():
        size += len(value)
    return size > SHARED_DEFINITION_MAX_CHARS


def straight_task_info(
    mesos_id: str,
    task_id: str,
    definition: TaskDefinition,
    agent_id: str,
    role: str | None,
    data: str,
    resources: Sequence[JSON] | None,
) -> JSON:
    """A TaskInfo built from the definition alone (a definition's first run; the
    reference its prepared parts must match)."""
    return messages.task_info(
        task_id=mesos_id,
        name=task_id,
        agent_id=agent_id,
        command=definition.cmd,
        cpus=definition.cpus,
        mem_mb=definition.mem,
        env=task_env(task_id, definition, data),
        container=container_info(definition.container),
        allocation_role=role,
        resources=resources,
    )


def build_task_info(
    *,
    mesos_id: str,
    task_id: str,
    definition: TaskDefinition,
    agent_id: str,
    role: str | None,
    data: str = "",
    resources: Sequence[JSON] | None = None,
) -> JSON:
    """`resources`: the task's share of its offer (mesos.resources.carve); None:
    cpus and mem unreserved.

    From its second run on, a definition's TaskInfos are built from parts prepared once
    (runs decoded from one stored definition share the object: candidates.py), the same
    JSON as the first's; they share their unchanging parts: read-only."""
    key = id(definition)
    prepared = _prepared.get(key)
    if prepared is None:
        if _item_sized(definition):  # not kept: it would hold the item's data
            return straight_task_info(
                mesos_id, task_id, definition, agent_id, role, data, resources
            )
        if _seen.pop(key, None) is None:
            if len(_seen) >= PREPARED_LIMIT:
                _seen.clear()
            _seen[key] = definition
            return straight_task_info(
                mesos_id, task_id, definition, agent_id, role, data, resources
            )
        if len(_prepared) >= PREPARED_LIMIT:
            _prepared.clear()
        prepared = _prepared[key] = _Prepared(definition)
    return prepared.task_info(mesos_id, task_id, agent_id, role, data, resources)
