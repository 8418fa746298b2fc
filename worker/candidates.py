"""Waiting tasks as matching sees them, decoded once from their stored record. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from hippo.shared.model import TaskDefinition
from hippo.worker.matching import Candidate, Rule


class UnusableDefinition(ValueError):
    """A waiting run whose stored record cannot be decoded; the message says why."""


@dataclass(frozen=True)
class WaitingTask:
    candidate: Candidate
    definition: TaskDefinition  # for the TaskInfo

    @property
    def mesos_id(self) -> str:
        return self.candidate.mesos_id


def parse_waiting(mesos_id: str, spec_raw: bytes | str, status_raw: bytes | str) -> WaitingTask:
    """A waiting task from its record (spec and status JSON); raises UnusableDefinition.

    A one-off task's definition always holds `max_concurrent` (the model's default when
    its author left it out), its cap per task id. A task made by a queue is capped by
    the queue's max_concurrent (filled in later), and by its own only when its
    definition spells one.
    """
    try:
        definition = TaskDefinition.model_validate_json(spec_raw)
    except ValidationError as e:
        raise UnusableDefinition(f"definition cannot be decoded: {_reasons(e)}") from None
    try:
        status = _object(status_raw)
        task_id = str(status["id"])
        queue_id = status.get("queue_id") or None
    except (ValueError, TypeError, KeyError) as e:
        raise UnusableDefinition(f"status cannot be decoded: {e!r}") from None
    capped = queue_id is None or "max_concurrent" in definition.model_fields_set
    candidate = Candidate(
        mesos_id=mesos_id,
        task_id=task_id,
        queue_id=queue_id,
        cpus=definition.cpus,
        mem=definition.mem,
        rules=tuple(Rule.from_constraint(c) for c in definition.constraints),
        max_concurrent=definition.max_concurrent if capped else None,
    )
    return WaitingTask(candidate, definition)


def _object(text: bytes | str) -> Any:
    """JSON text decoded by orjson (a fifth of json's time); what orjson refuses (NaN,
    integers past 64 bits) by json, as before. Raises ValueError."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _reasons(error: ValidationError) -> str:
    """`cpus: Input should be greater than 0; cmd: Field required`, at most five."""
    found = [
        f"{'.'.join(str(p) for p in item['loc']) or 'definition'}: {item['msg']}"
        for item in error.errors(include_url=False)
    ]
    more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
    return "; ".join(found[:5]) + more
