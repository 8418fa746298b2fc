"""Settings of one dev master process."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import JSON, Resources, resource_key, split_key


@dataclass
class MasterConfig:
    agents: int = 2
    cpus: float = 4.0
    mem_mb: float = 8192.0
    disk_mb: float = 10240.0
    # Mesos agent --resources syntax, `cpus(hippo):2;mem(hippo):2048;cpus:1`: `(role)`
    # reserves statically. cpus, mem or disk it does not name come from the fields above.
    resources: str = ""
    # `rack:r{i};zone:a`: `{i}` becomes the agent's number; numbers become SCALAR.
    attributes: str = ""
    heartbeat_interval_s: float = 15.0  # Mesos' default
    simulate_s: float | None = None  # run tasks virtually, each finishing after this
    work_dir: str | None = None  # sandboxes; a temporary folder when None
    remove_work_dir_on_stop: bool = False
    # First resend of an unacknowledged update; doubles up to the max (Mesos: 10 s .. 10 min).
    update_retry_s: float = 10.0
    update_retry_max_s: float = 600.0
    offer_timeout_s: float | None = None  # Mesos has none by default
    allocation_interval_s: float = 1.0  # Mesos' --allocation_interval
    # Like Mesos: resources recovered (declined, left unused by an ACCEPT, freed by a task
    # that ended) wait for the next periodic allocation. Mesos' allocator does not
    # allocate in recoverResources (src/master/allocator/mesos/hierarchical.cpp); only
    # the batch timer, a new framework or agent, or a REVIVE do. False (the default)
    # re-offers them at once, which keeps tests fast.
    batch_allocation: bool = False
    # Mesos' --agent_reregister_timeout (10 min): after a master failover, agents not
    # back by then are marked unreachable (POST /devmaster/failover).
    agent_reregister_timeout_s: float = 600.0
    kill_grace_s: float = 3.0  # the command executor's default
    docker: str = "auto"  # auto: `docker run` when an engine answers; never
    credentials: dict[str, str] = field(default_factory=dict)  # principal -> secret
    # Mesos' --roles: the only roles frameworks may subscribe with (besides "*"); None
    # allows any. A SUBSCRIBE naming another gets the ERROR event master.cpp sends.
    roles: tuple[str, ...] | None = None
    redirect_to: str | None = None  # "host:port": act as a non-leading master
    hostname: str = "localhost"
    port: int = 5050


def parse_attributes(spec: str, agent_number: int) -> list[JSON]:
    """Mesos agent attributes from `name:value;name:value` (`{i}` = agent number)."""
    attributes: list[JSON] = []
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        name, sep, value = item.partition(":")
        if not sep or not name:
            raise ValueError(f"attribute must be name:value, got {item!r}")
        value = value.replace("{i}", str(agent_number))
        try:
            attributes.append({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}})
        except ValueError:
            attributes.append({"name": name, "type": "TEXT", "text": {"value": value}})
    return attributes


def parse_resources(spec: str) -> Resources:
    """Scalars from the Mesos agent `--resources` text form (`name(role):value;...`,
    Resources::parse in src/common/resources.cpp); ranges and sets are refused."""
    resources: Resources = {}
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        key, sep, text = item.partition(":")
        name, role = split_key(key.strip())
        if not sep or not name or not role or "," in role:
            raise ValueError(f"resource must be name:value or name(role):value, got {item!r}")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"the dev master offers scalar resources only, got {item!r}") from None
        if value < 0:
            raise ValueError(f"resource {key!r} must be >= 0, got {value:g}")
        key = resource_key(name, role)
        resources[key] = round(resources.get(key, 0.0) + value, 3)
    return resources


def agent_resources(spec: str, defaults: dict[str, float]) -> Resources:
    """An agent's total: `spec`, plus unreserved `defaults` for each of cpus, mem and
    disk it does not name at all, as a Mesos agent auto-detects only those
    (Containerizer::resources in src/slave/containerizer/containerizer.cpp)."""
    resources = parse_resources(spec)
    named = {split_key(key)[0] for key in resources}
    for name, value in defaults.items():
        if name not in named:
            resources[name] = value
    return resources
