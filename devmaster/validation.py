"""What the dev master refuses, with the answers a Mesos master gives.

`call_error` finds what makes a whole call a 400 (it would not parse into the
Call protobuf, or src/master/validation.cpp refuses it); `task_error` finds
what makes one task of a LAUNCH a TASK_ERROR update.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from .model import JSON, UNRESERVED, Resources, contains, format_resources, resource_key

CALL_TYPES = {
    "SUBSCRIBE": "subscribe",
    "TEARDOWN": None,
    "ACCEPT": "accept",
    "DECLINE": "decline",
    "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
    "DECLINE_INVERSE_OFFERS": "decline_inverse_offers",
    "REVIVE": None,
    "KILL": "kill",
    "SHUTDOWN": "shutdown",
    "ACKNOWLEDGE": "acknowledge",
    "ACKNOWLEDGE_OPERATION_STATUS": "acknowledge_operation_status",
    "RECONCILE": "reconcile",
    "RECONCILE_OPERATIONS": "reconcile_operations",
    "MESSAGE": "message",
    "REQUEST": "request",
    "SUPPRESS": None,
    "UPDATE_FRAMEWORK": "update_framework",
}
RESOURCE_TYPES = {"SCALAR", "RANGES", "SET", "TEXT"}
DOCKER_NETWORKS = {"HOST", "BRIDGE", "NONE", "USER"}
_BAD_ID_CHARS = re.compile(r"[/\\\s\x00-\x1f]")


def id_value(obj: Any) -> str | None:
    if isinstance(obj, dict) and isinstance(value := obj.get("value"), str):
        return value
    return None


def _parse_failure(what: str) -> str:
    return f"Failed to convert JSON into Call protobuf: {what}"


def call_error(call: Any) -> str | None:
    """The 400 message for a call the master cannot accept, or None."""
    if not isinstance(call, dict):
        return _parse_failure("expecting a JSON object")
    kind = call.get("type")
    if kind is None:
        return "Expecting 'type' to be present"
    if kind not in CALL_TYPES:
        return _parse_failure(f"invalid value {kind!r} for enum 'mesos.v1.scheduler.Call.Type'")
    if "framework_id" in call and id_value(call["framework_id"]) is None:
        return _parse_failure("Missing required fields: framework_id.value")
    body_name = CALL_TYPES[kind]
    if kind == "SUBSCRIBE":
        return _subscribe_error(call)
    if id_value(call.get("framework_id")) is None:
        return "Expecting 'framework_id' to be present"
    if body_name is not None and not isinstance(call.get(body_name), dict):
        return f"Expecting '{body_name}' to be present"
    checks = {
        "ACCEPT": _accept_error,
        "DECLINE": _decline_error,
        "KILL": _kill_error,
        "ACKNOWLEDGE": _acknowledge_error,
        "RECONCILE": _reconcile_error,
    }
    check = checks.get(kind)
    return check(call[body_name]) if check and body_name else None


def _subscribe_error(call: JSON) -> str | None:
    subscribe = call.get("subscribe")
    if not isinstance(subscribe, dict):
        return "Expecting 'subscribe' to be present"
    info = subscribe.get("framework_info")
    if not isinstance(info, dict):
        return _parse_failure("Missing required fields: subscribe.framework_info")
    missing = [f for f in ("user", "name") if not isinstance(info.get(f), str)]
    if missing:
        return _parse_failure(
            "Missing required fields: "
            + ", ".join(f"subscribe.framework_info.{f}" for f in missing)
        )
    if "id" in info and id_value(info["id"]) is None:
        return _parse_failure("Missing required fields: subscribe.framework_info.id.value")
    if id_value(info.get("id")) != id_value(call.get("framework_id")):
        return "'framework_id' differs from 'subscribe.framework_info.id'"
    timeout = info.get("failover_timeout", 0)
    if not isinstance(timeout, (int, float)) or timeout < 0:
        return _parse_failure(f"failover_timeout must be a non-negative number, got {timeout!r}")
    capabilities = {c.get("type") for c in info.get("capabilities") or [] if isinstance(c, dict)}
    if "MULTI_ROLE" in capabilities:
        if "role" in info:
            return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
        roles = info.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
            return f"'FrameworkInfo.roles' must be a list of role names, got {roles!r}"
        if len(set(roles)) != len(roles):
            return f"'FrameworkInfo.roles' contains duplicate items: {roles}"
    elif info.get("roles"):
        return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
    return None


def _id_list_error(items: Any, field: str) -> str | None:
    if not isinstance(items, list) or any(id_value(i) is None for i in items):
        return _parse_failure(f"'{field}' must be a list of {{\"value\": ...}} ids")
    return None


def _accept_error(accept: JSON) -> str | None:
    error = _id_list_error(accept.get("offer_ids", []), "accept.offer_ids")
    if error:
        return error
    operations = accept.get("operations", [])
    if not isinstance(operations, list):
        return _parse_failure("'accept.operations' must be a list")
    for operation in operations:
        if not isinstance(operation, dict) or not isinstance(operation.get("type"), str):
            return _parse_failure("each operation needs a 'type'")
        if operation["type"] == "LAUNCH":
            launch = operation.get("launch")
            if not isinstance(launch, dict) or not isinstance(launch.get("task_infos", []), list):
                return _parse_failure("LAUNCH operation needs 'launch.task_infos'")
            for task in launch.get("task_infos", []):
                error = _task_parse_error(task)
                if error:
                    return error
    return _filters_error(accept)


def _task_parse_error(task: Any) -> str | None:
    """Missing required TaskInfo fields make the whole call unparsable."""
    if not isinstance(task, dict):
        return _parse_failure("task_infos entries must be objects")
    missing = [f for f in ("task_id", "agent_id") if id_value(task.get(f)) is None]
    if not isinstance(task.get("name"), str):
        missing.insert(0, "name")
    if missing:
        return _parse_failure(
            "Missing required fields: " + ", ".join(f"task_info.{m}" for m in missing)
        )
    for resource in task.get("resources", []):
        if (
            not isinstance(resource, dict)
            or not isinstance(resource.get("name"), str)
            or resource.get("type") not in RESOURCE_TYPES
        ):
            return _parse_failure(f"invalid resource {resource!r}: needs 'name' and a valid 'type'")
    return None


def _decline_error(decline: JSON) -> str | None:
    return _id_list_error(decline.get("offer_ids", []), "decline.offer_ids") or _filters_error(
        decline
    )


def _filters_error(body: JSON) -> str | None:
    refuse = (body.get("filters") or {}).get("refuse_seconds", 5.0)
    if not isinstance(refuse, (int, float)):
        return _parse_failure(f"'filters.refuse_seconds' must be a number, got {refuse!r}")
    return None


def _kill_error(kill: JSON) -> str | None:
    if id_value(kill.get("task_id")) is None:
        return _parse_failure("Missing required fields: kill.task_id")
    return None


def _acknowledge_error(ack: JSON) -> str | None:
    missing = [f for f in ("agent_id", "task_id") if id_value(ack.get(f)) is None]
    if not isinstance(ack.get("uuid"), str):
        missing.append("uuid")
    if missing:
        return _parse_failure(
            "Missing required fields: " + ", ".join(f"acknowledge.{m}" for m in missing)
        )
    if decode_uuid(ack["uuid"]) is None:
        return f"Failed to parse UUID: {ack['uuid']!r} is not base64 of 16 bytes"
    return None


def _reconcile_error(reconcile: JSON) -> str | None:
    tasks = reconcile.get("tasks", [])
    if not isinstance(tasks, list) or any(
        not isinstance(t, dict) or id_value(t.get("task_id")) is None for t in tasks
    ):
        return _parse_failure("Missing required fields: reconcile.tasks[].task_id")
    return None


def decode_uuid(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 16 else None


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
    """Scalars a task asks for, by key, or an error. Non-scalar resources count as
    unavailable, since the dev master offers only scalars."""
    totals: Resources = {}
    for resource in task.get("resources") or []:
        name = resource["name"]
        key = _resource_key(resource)
        if role is not None:
            allocated = (resource.get("allocation_info") or {}).get("role")
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
        value = (resource.get("scalar") or {}).get("value")
        if not isinstance(value, (int, float)) or value < 0:
            return {}, f"Invalid resources: scalar resource {name} must be >= 0, got {value!r}"
        totals[key] = round(totals.get(key, 0.0) + float(value), 3)
    if not any(value > 0 for value in totals.values()):
        return {}, "Task uses no resources"
    return totals, None


def task_error(
    task: JSON,
    *,
    agent_id: str,
    active_task_ids: set[str],
    available: Resources,
    role: str | None,
) -> tuple[Resources, str | None]:
    """(resources, None) for a task that may launch, or ({}, the TASK_ERROR message)."""
    task_id = id_value(task["task_id"]) or ""
    if not task_id or task_id in (".", "..") or _BAD_ID_CHARS.search(task_id):
        return (
            {},
            f"Task ID {task_id!r} is invalid: it must be non-empty, without '/', '\\' or spaces",
        )
    if task_id in active_task_ids:
        return {}, f"Task has duplicate ID: {task_id}"
    if id_value(task["agent_id"]) != agent_id:
        return {}, f"Task uses invalid agent: {id_value(task['agent_id'])}"
    if ("command" in task) == ("executor" in task):
        return (
            {},
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present",
        )
    if "executor" in task:
        return {}, "The dev master runs CommandInfo tasks only, not custom executors"
    error = _command_error(task["command"]) or _container_error(task.get("container"))
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


def _command_error(command: Any) -> str | None:
    if not isinstance(command, dict):
        return "Task's 'command' must be a CommandInfo object"
    shell = command.get("shell", True)
    if shell and not isinstance(command.get("value"), str):
        return "CommandInfo with 'shell' true needs a 'value'"
    if not shell and not isinstance(command.get("value"), str):
        return "CommandInfo with 'shell' false needs 'value' (the executable)"
    variables = (command.get("environment") or {}).get("variables") or []
    for variable in variables:
        if not isinstance(variable, dict) or not isinstance(variable.get("name"), str):
            return f"Environment variable {variable!r} needs a 'name'"
        kind = variable.get("type", "VALUE")
        if kind == "VALUE" and not isinstance(variable.get("value"), str):
            return f"Environment variable {variable['name']} of type VALUE must have a value set"
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
