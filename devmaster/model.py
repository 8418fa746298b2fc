"""The dev master's state: agents, frameworks, tasks, offers, subscription streams."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

JSON = dict[str, Any]
# Scalar resources by key, in Mesos' text form: `cpus` unreserved, `cpus(hippo)`
# statically reserved for role hippo, e.g. {"cpus(hippo)": 2.0, "mem": 8192.0}.
# The dev master offers only scalars; a task asking for anything else exceeds its offer.
Resources = dict[str, float]
UNRESERVED = "*"

EPSILON = 0.0005  # Mesos keeps three decimals of a scalar
TERMINAL = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_ERROR",
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)


def add(a: Resources, b: Resources) -> Resources:
    out = dict(a)
    for name, value in b.items():
        out[name] = round(out.get(name, 0.0) + value, 3)
    return out


def subtract(a: Resources, b: Resources) -> Resources:
    out = dict(a)
    for name, value in b.items():
        out[name] = round(out.get(name, 0.0) - value, 3)
    return out


def contains(have: Resources, need: Resources) -> bool:
    for name, value in need.items():
        if not have.get(name, 0.0) + EPSILON >= value:  # (so a NaN is not contained)
            return False
    return True


def resource_key(name: str, role: str = UNRESERVED) -> str:
    return name if role == UNRESERVED else f"{name}({role})"


def split_key(key: str) -> tuple[str, str]:
    """(name, reservation role) of a key; the role is `*` when unreserved."""
    name, _, rest = key.partition("(")
    return name, rest.removesuffix(")") if rest else UNRESERVED


def total_of(resources: Resources, name: str) -> float:
    """A resource's amount whatever its reservation (Resources::cpus() and the like)."""
    return round(sum(v for k, v in resources.items() if split_key(k)[0] == name), 3)


def allocatable_to(resources: Resources, role: str) -> Resources:
    """What a framework's role may be offered: unreserved resources and those reserved
    for that role (Resources::allocatableTo in src/common/resources.cpp, used by
    src/master/allocator/mesos/hierarchical.cpp)."""
    return {k: v for k, v in resources.items() if split_key(k)[1] in (UNRESERVED, role)}


def format_resources(resources: Resources) -> str:
    return "; ".join(f"{name}:{value:g}" for name, value in sorted(resources.items())) or "{}"


def record(event: JSON) -> bytes:
    """One RecordIO record: decimal length, newline, JSON bytes.

    orjson writes what json.dumps wrote, several times faster, but for the spelling of
    some doubles (`1e-7` for `1e-07`, the same number) and for non-ASCII text, which
    json.dumps escapes: such an event, and one orjson refuses (an integer beyond 64
    bits), is written by json.dumps as before."""
    try:
        payload = orjson.dumps(event)
    except orjson.JSONEncodeError:
        payload = b""
    if not payload or not payload.isascii():
        payload = json.dumps(event, separators=(",", ":")).encode()
    return b"%d\n%s" % (len(payload), payload)


@dataclass
class Agent:
    id: str
    hostname: str
    total: Resources
    attributes: list[JSON]
    used: Resources = field(default_factory=dict)
    offered: Resources = field(default_factory=dict)
    active: bool = True  # False once removed (DELETE) or marked gone by an operator
    # How the master knows the agent (src/master/master.hpp, `Master::Slaves`):
    # "registered"; "recovered" after a master failover until it re-registers (its tasks
    # unknown to the master); "unreachable" once marked so.
    link: str = "registered"
    gone: bool = False  # marked gone by an operator (slaves.gone): never comes back
    draining: bool = False  # DRAIN_AGENT: no offers, its tasks killed

    @property
    def offerable(self) -> bool:
        return self.active and self.link == "registered" and not self.draining

    def free(self) -> Resources:
        return subtract(subtract(self.total, self.used), self.offered)


@dataclass
class Offer:
    id: str
    framework_id: str
    agent_id: str
    role: str
    resources: Resources


@dataclass
class Task:
    task_id: str
    framework_id: str
    agent_id: str
    name: str
    resources: Resources
    info: JSON
    state: str = "TASK_STAGING"
    # Agent updates not yet acknowledged; the head is the one in flight
    # (an agent sends a task's next update only after the previous is acknowledged).
    pending: deque[JSON] = field(default_factory=deque)
    retry_s: float = 0.0
    retry_handle: asyncio.TimerHandle | None = None
    resend_at: float = 0.0  # loop time when the update in flight is resent
    sandbox: Path | None = None
    kill_requested: bool = False
    # Set when the agent drains: TASK_KILLING/TASK_KILLED carry it whatever the runner
    # says (src/slave/slave.cpp overwrites the reason with REASON_SLAVE_DRAINING).
    kill_reason: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


class Stream:
    """One SUBSCRIBE response: events wait here, encoded, until the HTTP writer takes them
    (a list and a future, not an asyncio.Queue: a launch sends two events or more)."""

    def __init__(self, stream_id: str, framework_id: str) -> None:
        self.id = stream_id
        self.framework_id = framework_id
        self.muted = False  # test hook: a half-open connection that carries nothing
        self.closed = False
        self._records: list[bytes] = []  # not yet taken by the writer
        self._ended = False  # closed by the master: the writer ends after the records
        self._waiter: asyncio.Future[None] | None = None  # the writer waiting in take()

    def send(self, event: JSON) -> None:
        if not self.closed and not self.muted:
            self._records.append(record(event))
            if self._waiter is not None:
                self._wake()

    def close(self, error: str | None = None) -> None:
        if self.closed:
            return
        if error is not None:
            self.send({"type": "ERROR", "error": {"message": error}})
        self.closed = True
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self) -> tuple[bytes, bool]:
        """The records sent since the last take, joined, and whether the master closed
        the stream; waits until there is either."""
        while not self._records and not self._ended:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        records, self._records = self._records, []
        return b"".join(records), self._ended


@dataclass
class Filter:
    until: float  # loop time
    resources: Resources  # offers that fit inside these are filtered


@dataclass
class Framework:
    id: str
    info: JSON
    stream: Stream | None = None
    tasks: dict[str, Task] = field(default_factory=dict)
    offers: set[str] = field(default_factory=set)
    suppressed: set[str] = field(default_factory=set)
    filters: dict[str, Filter] = field(default_factory=dict)  # by agent id
    failover_handle: asyncio.TimerHandle | None = None
    completed: deque[str] = field(default_factory=lambda: deque(maxlen=1000))

    @property
    def connected(self) -> bool:
        return self.stream is not None and not self.stream.closed

    @property
    def capabilities(self) -> set[str]:
        return {c.get("type", "") for c in self.info.get("capabilities") or []}

    @property
    def multi_role(self) -> bool:
        return "MULTI_ROLE" in self.capabilities

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    @property
    def roles(self) -> list[str]:
        if self.multi_role:
            return list(self.info.get("roles") or [])
        return [self.info.get("role") or "*"]

    def send(self, event: JSON) -> None:
        if self.stream is not None:
            self.stream.send(event)
