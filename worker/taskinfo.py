"""The Mesos TaskInfo of a task run, from its decoded definition. Pure."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from hippo.shared.model import Container, Network, TaskDefinition
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
    cpus and mem unreserved."""
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
