"""The Mesos TaskInfo of a task run, from its stored definition. Pure."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from hippo.worker.mesos import messages

JSON = dict[str, Any]


def container_info(container: Mapping[str, Any]) -> JSON:
    """A DOCKER ContainerInfo from a Marathon-style `container` block."""
    docker = container.get("docker") or {}
    network = str(docker.get("network") or "BRIDGE")
    volumes = [
        {
            "container_path": v["containerPath"],
            "mode": v.get("mode", "RW"),
            **({"host_path": v["hostPath"]} if v.get("hostPath") else {}),
        }
        for v in container.get("volumes") or []
    ]
    info = messages.docker_container(
        str(docker["image"]), network, bool(docker.get("forcePullImage", False)), volumes
    )
    if network == "USER":
        info["network_infos"] = [{"name": str(docker.get("networkName") or "")}]
    return info


def task_env(task_id: str, spec: Mapping[str, Any]) -> dict[str, str]:
    """HIPPO_TASK_NAME, HIPPO_DATA and HIPPO_DATA_BASE64, then the task's own env.

    Queue pollers put the item's data in the task's env already; a one-off task may
    carry a `data` string; otherwise both data variables are empty.
    """
    data = spec.get("data")
    data = data if isinstance(data, str) else ""
    env = {
        "HIPPO_TASK_NAME": task_id,
        "HIPPO_DATA": data,
        "HIPPO_DATA_BASE64": base64.b64encode(data.encode()).decode() if data else "",
    }
    env.update({str(k): str(v) for k, v in (spec.get("env") or {}).items()})
    return env


def build_task_info(
    *, mesos_id: str, task_id: str, spec: Mapping[str, Any], agent_id: str, role: str | None
) -> JSON:
    return messages.task_info(
        task_id=mesos_id,
        name=task_id,
        agent_id=agent_id,
        command=str(spec["cmd"]),
        cpus=float(spec["cpus"]),
        mem_mb=float(spec["mem"]),
        env=task_env(task_id, spec),
        container=container_info(spec["container"]) if spec.get("container") else None,
        allocation_role=role,
    )
