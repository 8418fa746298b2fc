"""Builders of v1 scheduler call bodies and TaskInfo parts, as plain JSON dicts.

Field names follow mesos/v1/scheduler/scheduler.proto and mesos/v1/mesos.proto
(snake_case, enums by name). Pure functions: no I/O, easy to test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

ONE_WEEK_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class FrameworkSettings:
    """What the scheduler says about itself in SUBSCRIBE (FrameworkInfo)."""

    name: str = "hippo"
    user: str = "root"
    hostname: str | None = None
    roles: Sequence[str] = ("*",)
    # Mesos' own default is 0, which kills every task when the scheduler
    # disconnects (high-availability-framework-guide.md): keep it large.
    failover_timeout_s: float = ONE_WEEK_S
    principal: str | None = None
    # PARTITION_AWARE: TASK_UNREACHABLE, TASK_GONE, TASK_GONE_BY_OPERATOR, TASK_DROPPED
    # and TASK_UNKNOWN instead of TASK_LOST for all; TASK_KILLING_STATE: TASK_KILLING
    # while a kill is under way (include/mesos/v1/mesos.proto, FrameworkInfo.Capability).
    capabilities: Sequence[str] = ("MULTI_ROLE", "PARTITION_AWARE", "TASK_KILLING_STATE")
    webui_url: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def framework_info(self, framework_id: str | None = None) -> JSON:
        info: JSON = {
            "user": self.user,
            "name": self.name,
            "failover_timeout": self.failover_timeout_s,
            "checkpoint": True,
            "capabilities": [{"type": c} for c in self.capabilities],
        }
        if "MULTI_ROLE" in self.capabilities:
            info["roles"] = list(self.roles)
        elif self.roles:
            info["role"] = self.roles[0]
        if self.hostname:
            info["hostname"] = self.hostname
        if self.principal:
            info["principal"] = self.principal
        if self.webui_url:
            info["webui_url"] = self.webui_url
        if self.labels:
            info["labels"] = {"labels": [{"key": k, "value": v} for k, v in self.labels.items()]}
        if framework_id:
            info["id"] = {"value": framework_id}
        return info


def _id(value: str) -> JSON:
    return {"value": value}


def _filters(refuse_s: float | None) -> JSON:
    return {} if refuse_s is None else {"filters": {"refuse_seconds": float(refuse_s)}}


def subscribe_call(settings: FrameworkSettings, framework_id: str | None = None) -> JSON:
    call: JSON = {
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": settings.framework_info(framework_id)},
    }
    if framework_id:
        call["framework_id"] = _id(framework_id)
    return call


def launch_operation(task_infos: Sequence[JSON]) -> JSON:
    return {"type": "LAUNCH", "launch": {"task_infos": list(task_infos)}}


def accept_call(
    framework_id: str,
    offer_ids: Iterable[str],
    operations: Sequence[JSON],
    refuse_s: float | None = None,
) -> JSON:
    body: JSON = {"offer_ids": [_id(o) for o in offer_ids], "operations": list(operations)}
    body.update(_filters(refuse_s))
    return {"type": "ACCEPT", "framework_id": _id(framework_id), "accept": body}


def decline_call(framework_id: str, offer_ids: Iterable[str], refuse_s: float | None) -> JSON:
    body: JSON = {"offer_ids": [_id(o) for o in offer_ids]}
    body.update(_filters(refuse_s))
    return {"type": "DECLINE", "framework_id": _id(framework_id), "decline": body}


def revive_call(framework_id: str, roles: Iterable[str] = ()) -> JSON:
    # The proto field is `roles` (a list); the docs' `role` example is outdated.
    return {"type": "REVIVE", "framework_id": _id(framework_id), "revive": {"roles": list(roles)}}


def suppress_call(framework_id: str, roles: Iterable[str] = ()) -> JSON:
    return {
        "type": "SUPPRESS",
        "framework_id": _id(framework_id),
        "suppress": {"roles": list(roles)},
    }


def kill_call(
    framework_id: str, task_id: str, agent_id: str | None = None, grace_s: float | None = None
) -> JSON:
    body: JSON = {"task_id": _id(task_id)}
    if agent_id:
        body["agent_id"] = _id(agent_id)
    if grace_s is not None:
        body["kill_policy"] = {"grace_period": {"nanoseconds": int(grace_s * 1e9)}}
    return {"type": "KILL", "framework_id": _id(framework_id), "kill": body}


def acknowledge_call(framework_id: str, agent_id: str, task_id: str, uuid: str) -> JSON:
    # `uuid` is echoed exactly as the update carried it (base64 of 16 bytes).
    return {
        "type": "ACKNOWLEDGE",
        "framework_id": _id(framework_id),
        "acknowledge": {"agent_id": _id(agent_id), "task_id": _id(task_id), "uuid": uuid},
    }


def reconcile_call(framework_id: str, tasks: Iterable[tuple[str, str | None]] = ()) -> JSON:
    """Explicit reconciliation of (task_id, agent_id) pairs; none means implicit."""
    entries: list[JSON] = []
    for task_id, agent_id in tasks:
        entry: JSON = {"task_id": _id(task_id)}
        if agent_id:
            entry["agent_id"] = _id(agent_id)
        entries.append(entry)
    return {"type": "RECONCILE", "framework_id": _id(framework_id), "reconcile": {"tasks": entries}}


def teardown_call(framework_id: str) -> JSON:
    return {"type": "TEARDOWN", "framework_id": _id(framework_id)}


# --- TaskInfo helpers -------------------------------------------------------


def scalar_resource(name: str, value: float, allocation_role: str | None = None) -> JSON:
    """A SCALAR resource; multi-role frameworks must echo the offer's role."""
    resource: JSON = {"name": name, "type": "SCALAR", "scalar": {"value": round(value, 3)}}
    if allocation_role is not None:
        resource["allocation_info"] = {"role": allocation_role}
    return resource


def offer_role(offer: Mapping[str, Any]) -> str | None:
    """The role an offer was allocated to (`allocation_info.role`), if any."""
    info = offer.get("allocation_info")
    return info.get("role") if isinstance(info, dict) else None


def offer_scalars(offer: Mapping[str, Any]) -> dict[str, float]:
    """Total SCALAR resources of an offer by name, e.g. {"cpus": 4.0, "mem": 8192.0}."""
    totals: dict[str, float] = {}
    for resource in offer.get("resources") or []:
        if resource.get("type") == "SCALAR":
            name = resource["name"]
            totals[name] = totals.get(name, 0.0) + float(resource["scalar"]["value"])
    return totals


def command_info(command: str, env: Mapping[str, str] | None = None) -> JSON:
    info: JSON = {"shell": True, "value": command}
    if env:
        info["environment"] = {"variables": [{"name": k, "value": v} for k, v in env.items()]}
    return info


def docker_container(
    image: str,
    network: str,
    force_pull: bool = False,
    volumes: Sequence[JSON] = (),
) -> JSON:
    # Mesos defaults `network` to HOST, not the definition's default: always send it.
    container: JSON = {
        "type": "DOCKER",
        "docker": {"image": image, "network": network, "force_pull_image": force_pull},
    }
    if volumes:
        container["volumes"] = list(volumes)
    return container


def task_info(
    *,
    task_id: str,
    name: str,
    agent_id: str,
    command: str,
    cpus: float,
    mem_mb: float,
    disk_mb: float | None = None,
    env: Mapping[str, str] | None = None,
    container: JSON | None = None,
    allocation_role: str | None = None,
    grace_s: float | None = None,
    resources: Sequence[JSON] | None = None,
) -> JSON:
    """A TaskInfo for a shell command, optionally in a container.

    `resources`, when given, are the task's resources as carved from its offer
    (resources.carve); otherwise cpus, mem and disk go unreserved."""
    if resources is None:
        resources = [
            scalar_resource("cpus", cpus, allocation_role),
            scalar_resource("mem", mem_mb, allocation_role),
        ]
        if disk_mb:
            resources.append(scalar_resource("disk", disk_mb, allocation_role))
    info: JSON = {
        "name": name,
        "task_id": _id(task_id),
        "agent_id": _id(agent_id),
        "resources": list(resources),
        "command": command_info(command, env),
    }
    if container is not None:
        info["container"] = container
    if grace_s is not None:
        info["kill_policy"] = {"grace_period": {"nanoseconds": int(grace_s * 1e9)}}
    return info
