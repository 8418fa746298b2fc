"""Typed events from the subscription stream (mesos/v1/scheduler/scheduler.proto).

Each event keeps the decoded JSON in `raw` so fields the client does not model
stay reachable. `Disconnected` is the only event made by the client itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from hippo.shared.records import TERMINAL_STATES

from .errors import RecordIOError

# The terminal states of TaskState (include/mesos/v1/mesos.proto) have one definition,
# in hippo.shared.records.


_T = TypeVar("_T")
_new = object.__new__


def _frozen(cls: type[_T], fields: dict[str, Any]) -> _T:
    """An instance of the frozen dataclass `cls` from all of its fields, as its __init__
    makes it, for the events of every task (its one object.__setattr__ per field cost
    more than decoding the event's JSON)."""
    made = _new(cls)
    made.__dict__.update(fields)
    return made


def _value(obj: Any) -> str | None:
    """The `value` of an id message such as `{"value": "S1"}`, or None."""
    if isinstance(obj, dict) and isinstance(value := obj.get("value"), str):
        return value
    return None


@dataclass(frozen=True)
class Event:
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Subscribed(Event):
    framework_id: str
    heartbeat_interval_s: float | None
    master_info: dict[str, Any]


@dataclass(frozen=True)
class Offers(Event):
    offers: list[dict[str, Any]]
    # The subscription (Mesos-Stream-Id) they came on: they die with it, and an ACCEPT
    # must carry that stream's id (set by the client as it reads the stream).
    stream_id: str | None = None


@dataclass(frozen=True)
class Rescind(Event):
    offer_id: str


@dataclass(frozen=True)
class TaskStatus:
    """A TaskStatus with the fields a scheduler reads most, and the rest in `raw`."""

    raw: dict[str, Any] = field(repr=False)
    task_id: str
    state: str
    agent_id: str | None
    uuid: str | None  # base64; present only when the update must be acknowledged
    message: str | None
    reason: str | None
    source: str | None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @classmethod
    def from_json(cls, status: dict[str, Any]) -> TaskStatus:
        get = status.get
        return _frozen(
            cls,
            {
                "raw": status,
                "task_id": _value(get("task_id")) or "",
                "state": str(get("state", "")),
                "agent_id": _value(get("agent_id")),
                "uuid": get("uuid"),
                "message": get("message"),
                "reason": get("reason"),
                "source": get("source"),
            },
        )


@dataclass(frozen=True)
class Update(Event):
    status: TaskStatus


@dataclass(frozen=True)
class Message(Event):
    agent_id: str | None
    executor_id: str | None
    data: str | None  # base64


@dataclass(frozen=True)
class Failure(Event):
    """An agent (no executor_id) or an executor was lost."""

    agent_id: str | None
    executor_id: str | None
    status: int | None


@dataclass(frozen=True)
class Error(Event):
    message: str


@dataclass(frozen=True)
class Heartbeat(Event):
    pass


@dataclass(frozen=True)
class Unknown(Event):
    """An event type this client does not model (e.g. inverse offers)."""

    type: str


@dataclass(frozen=True)
class Disconnected(Event):
    """Made by the client: the stream ended; offers held so far are void.

    The client re-subscribes by itself; a `Subscribed` event follows on success.
    """

    reason: str


def parse_event(record: bytes) -> Event:
    """Decode one RecordIO record into a typed event."""
    try:
        raw = orjson.loads(record)
    except ValueError as e:
        raise RecordIOError(f"event is not JSON: {record[:80]!r}") from e
    if not isinstance(raw, dict):
        raise RecordIOError(f"event is not a JSON object: {record[:80]!r}")
    kind = raw.get("type")
    if kind == "UPDATE":  # most events, by far
        status = TaskStatus.from_json((raw.get("update") or {}).get("status") or {})
        return _frozen(Update, {"raw": raw, "status": status})
    if kind == "SUBSCRIBED":
        body = raw.get("subscribed") or {}
        interval = body.get("heartbeat_interval_seconds")
        return Subscribed(
            raw,
            framework_id=_value(body.get("framework_id")) or "",
            heartbeat_interval_s=float(interval) if interval is not None else None,
            master_info=body.get("master_info") or {},
        )
    if kind == "OFFERS":
        return Offers(raw, offers=list((raw.get("offers") or {}).get("offers") or []))
    if kind == "RESCIND":
        return Rescind(raw, offer_id=_value((raw.get("rescind") or {}).get("offer_id")) or "")
    if kind == "MESSAGE":
        body = raw.get("message") or {}
        return Message(
            raw,
            agent_id=_value(body.get("agent_id")),
            executor_id=_value(body.get("executor_id")),
            data=body.get("data"),
        )
    if kind == "FAILURE":
        body = raw.get("failure") or {}
        return Failure(
            raw,
            agent_id=_value(body.get("agent_id")),
            executor_id=_value(body.get("executor_id")),
            status=body.get("status"),
        )
    if kind == "ERROR":
        return Error(raw, message=str((raw.get("error") or {}).get("message", "")))
    if kind == "HEARTBEAT":
        return Heartbeat(raw)
    return Unknown(raw, type=str(kind))
