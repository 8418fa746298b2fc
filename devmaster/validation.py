"""What makes one task of a LAUNCH a TASK_ERROR update, as src/master/validation.cpp
decides (`task::validate`). The task is a TaskInfo as `json_call.to_call` normalised
it (every field of its type, nulls gone); what makes a whole call a 400 is in
json_call.py and call_validation.py.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from .call_validation import id_error
from .model import JSON, UNRESERVED, Resources, contains, format_resources, resource_key

DOCKER_NETWORKS = {"HOST", "BRIDGE", "NONE", "USER"}


def id_value(obj: Any) -> str | None:
    if isinstance(obj, dict) and isinstance(value := obj.get("value"), str):
        return value
    return None


# --- TaskInfo (validation.cpp, task::validate) -------------------------------


def _resource_key(resource: JSON) -> str:
    """The key of a task's resource, to compare with the offer's: its name and its
    reservation role (`role`, pre-refinement format), so reserved resources are
    contained only in resources reserved for the same role (Resources::contains in
    src/common/resources.cpp). The dev master reserves statically only: a dynamic
    `reservation` or refined `reservations` never match what it offers."""
    name = resource["name"]
    if resource["type"] != "SCALAR":
        return f"{name}[{resource['type'].lower()}]"
    role = resource.get("role", UNRESERVED)
    role = role if isinstance(role, str) else repr(role)
    if resource.get("reservation") is not None or resource.get("reservations"):
        return f"{name}({role}, dynamic)"
    return resource_key(name, role)


def task_resources(task: JSON, role: str | None) -> tuple[Resources, str | None]:
    """Scalars a task and its executor ask for, by key, or an error. Non-scalar
    resources count as unavailable, since the dev master offers only scalars."""
    totals, error = _sum_resources(task.get("resources", []), role, {})
    if error is None and not any([value > 0 for value in totals.values()]):
        return {}, "Task uses no resources"
    executor = task.get("executor")
    if error is None and executor is not None:
        totals, error = _sum_resources(executor.get("resources", []), role, totals)
    return (totals, None) if error is None else ({}, error)


def _sum_resources(
    resources: list[JSON], role: str | None, totals: Resources
) -> tuple[Resources, str | None]:
    totals = dict(totals)
    for resource in resources:
        name = resource["name"]
        key = _resource_key(resource)
        if role is not None:
            allocated = resource.get("allocation_info", {}).get("role")
            if allocated is None:
                return {}, f"Invalid resources: resource {name} is missing 'allocation_info'"
            if allocated != role:
                return {}, (
                    f"Invalid resources: resource {name} is allocated to role {allocated!r}"
                    f" but the offer is for role {role!r}"
                )
        if resource["type"] != "SCALAR":
            totals[key] = 1.0
            continue
        value = resource.get("scalar", {}).get("value")
        if value is None or value < 0:
            return {}, f"Invalid resources: scalar resource {name} must be >= 0, got {value!r}"
        totals[key] = round(totals.get(key, 0.0) + value, 3)
    return totals, None


def task_error(
    task: JSON,
    *,
    agent_id: str,
    active_task_ids: Container[str],
    available: Resources,
    role: str | None,
) -> tuple[Resources, str | None]:
    """(resources, None) for a task that may launch, or ({}, the TASK_ERROR message)."""
    task_id = task["task_id"]["value"]
    error = id_error(task_id)  # task::internal::validateTaskID
    if error:
        return {}, error
    if task_id in active_task_ids:
        return {}, f"Task has duplicate ID: {task_id}"
    if task["agent_id"]["value"] != agent_id:
        return {}, f"Task uses invalid agent: {task['agent_id']['value']}"
    if ("command" in task) == ("executor" in task):
        return (
            {},
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present",
        )
    error = _executor_error(task["executor"]) if "executor" in task else None
    error = error or (_command_error(task["command"]) if "command" in task else None)
    error = error or _container_error(task.get("container"))
    error = error or _kill_policy_error(task.get("kill_policy"))
    if error:
        return {}, error
    resources, error = task_resources(task, role)
    if error:
        return {}, error
    if not contains(available, resources):
        # src/master/validation.cpp, task::internal::validateExecutor (offered.contains)
        return {}, (
            f"Total resources {format_resources(resources)} required by task and its"
            f" executor is more than available {format_resources(available)}"
        )
    return resources, None


def _executor_error(executor: JSON) -> str | None:
    """executor::internal::validateType and validateShutdownGracePeriod. A valid
    executor task is launched, and the agent fails it (agents.py)."""
    kind = executor.get("type", "UNKNOWN")
    if kind == "DEFAULT" and "command" in executor:
        return "'ExecutorInfo.command' must not be set for 'DEFAULT' executor"
    if kind == "CUSTOM" and "command" not in executor:
        return "'ExecutorInfo.command' must be set for 'CUSTOM' executor"
    error = id_error(executor["executor_id"]["value"])
    if error:
        return error
    if executor.get("shutdown_grace_period", {}).get("nanoseconds", 0) < 0:
        return "ExecutorInfo's 'shutdown_grace_period' must be non-negative"
    return None


def _command_error(command: Any) -> str | None:
    if not isinstance(command, dict):
        return "Task's 'command' must be a CommandInfo object"
    shell = command.get("shell", True)
    if shell and not isinstance(command.get("value"), str):
        return "CommandInfo with 'shell' true needs a 'value'"
    if not shell and not isinstance(command.get("value"), str):
        return "CommandInfo with 'shell' false needs 'value' (the executable)"
    error = _environment_error(command.get("environment", {}).get("variables", []))
    return f"Task's `CommandInfo` is invalid: {error}" if error else None


def _environment_error(variables: list[JSON]) -> str | None:
    """common::validation::validateEnvironment (src/common/validation.cpp)."""
    for variable in variables:
        name, kind = variable["name"], variable.get("type", "VALUE")
        if kind == "UNKNOWN":
            return "Environment variable of type 'UNKNOWN' is not allowed"
        has, lacks = ("value", "secret") if kind == "VALUE" else ("secret", "value")
        if has not in variable:
            return f"Environment variable '{name}' of type '{kind}' must have a {has} set"
        if lacks in variable:
            return f"Environment variable '{name}' of type '{kind}' must not have a {lacks} set"
    return None


def _container_error(container: Any) -> str | None:
    if container is None:
        return None
    if not isinstance(container, dict) or container.get("type") not in ("DOCKER", "MESOS"):
        return f"ContainerInfo 'type' must be DOCKER or MESOS, got {container!r}"
    for volume in container.get("volumes") or []:
        if not isinstance(volume.get("container_path"), str) or volume.get("mode") not in (
            "RW",
            "RO",
        ):
            return f"Volume {volume!r} needs 'container_path' and a 'mode' of RW or RO"
        error = _volume_error(volume)
        if error:
            # src/master/validation.cpp, validateContainerInfo(const TaskInfo&)
            return f"Task's `ContainerInfo` is invalid: Invalid volume: {error}"
    if container["type"] != "DOCKER":
        return None
    docker = container.get("docker")
    if (
        not isinstance(docker, dict)
        or not isinstance(docker.get("image"), str)
        or not docker["image"]
    ):
        return "DockerInfo 'image' is required for a DOCKER container"
    network = docker.get("network", "HOST")
    if network not in DOCKER_NETWORKS:
        return f"DockerInfo 'network' must be one of {sorted(DOCKER_NETWORKS)}, got {network!r}"
    if network == "USER" and len(container.get("network_infos") or []) != 1:
        return "A DOCKER container in USER network mode needs exactly one 'network_infos' entry"
    if network in ("HOST", "NONE") and docker.get("port_mappings"):
        return f"Port mappings are only supported for BRIDGE and USER networks, not {network}"
    return None


_VOLUME_SOURCE_FIELDS = {
    "DOCKER_VOLUME": "docker_volume",
    "HOST_PATH": "host_path",
    "SANDBOX_PATH": "sandbox_path",
    "SECRET": "secret",
    "CSI_VOLUME": "csi_volume",
}


def _volume_error(volume: JSON) -> str | None:
    """src/common/validation.cpp, validateVolume (checked at launch since Mesos 1.5)."""
    if sum(field in volume for field in ("host_path", "image", "source")) != 1:
        return "Only one of them should be set: 'host_path', 'image' and 'source'"
    source = volume.get("source")
    if isinstance(source, dict):
        kind = source.get("type")
        field = _VOLUME_SOURCE_FIELDS.get(kind) if isinstance(kind, str) else None
        if field is not None and field not in source:
            return f"'source.{field}' is not set for {kind} volume"
    return None


def _kill_policy_error(policy: Any) -> str | None:
    if policy is None:
        return None
    nanos = ((policy or {}).get("grace_period") or {}).get("nanoseconds", 0)
    if not isinstance(nanos, int) or nanos < 0:
        return "Task's 'kill_policy.grace_period' must be non-negative"
    return None
