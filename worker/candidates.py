"""Waiting tasks as matching sees them, decoded once from their stored record. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from hippo.shared.model import TaskDefinition
from hippo.shared.tunables import SHARED_DEFINITION_MAX_CHARS
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


@dataclass(frozen=True)
class _Decoded:
    definition: TaskDefinition
    rules: tuple[Rule, ...]
    spells_max_concurrent: bool


class DecodedDefinitions:
    """Stored definitions decoded once each, by their text: the runs of a burst, of a
    task's retries or of a periodic task share one, and the model's validation was most
    of a run's decoding. The runs then share one TaskDefinition (which nobody changes),
    so the TaskInfo's per-definition parts are built once too (taskinfo.py). At most
    `limit` kept, all dropped at once past it; none longer than
    SHARED_DEFINITION_MAX_CHARS."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._found: dict[bytes | str, _Decoded] = {}

    def __len__(self) -> int:
        return len(self._found)

    def clear(self) -> None:
        self._found.clear()

    def decode(self, spec_raw: bytes | str) -> _Decoded:
        """Raises UnusableDefinition (not remembered: such a run is ended at once)."""
        if len(spec_raw) > SHARED_DEFINITION_MAX_CHARS:
            return _decode(spec_raw)  # item-sized: not kept (tunables.py)
        found = self._found.get(spec_raw)
        if found is None:
            found = _decode(spec_raw)
            if len(self._found) >= self.limit:
                self._found.clear()
            self._found[spec_raw] = found
        return found


def _decode(spec_raw: bytes | str) -> _Decoded:
    try:
        definition = TaskDefinition.model_validate_json(spec_raw)
    except ValidationError as e:
        raise UnusableDefinition(f"definition cannot be decoded: {_reasons(e)}") from None
    return _Decoded(
        definition,
        tuple(Rule.from_constraint(c) for c in definition.constraints),
        "max_concurrent" in definition.model_fields_set,
    )


def parse_waiting(
    mesos_id: str,
    spec_raw: bytes | str,
    status_raw: bytes | str,
    definitions: DecodedDefinitions | None = None,
    queue_caps: Mapping[str, int] | None = None,
) -> WaitingTask:
    """A waiting task from its record (spec and status JSON); raises UnusableDefinition.
    `definitions`: decoded definitions to reuse (None: decoded here).

    A one-off task's definition always holds `max_concurrent` (the model's default when
    its author left it out), its cap per task id. A task made by a queue is capped by
    the queue's max_concurrent, and by its own only when its definition spells one. The
    queue's is taken from `queue_caps` when it holds it (the leader's last reading),
    else filled in later; the leader checks it before the run is matched either way.
    """
    decoded = definitions.decode(spec_raw) if definitions is not None else _decode(spec_raw)
    definition = decoded.definition
    try:
        status = _object(status_raw)
        task_id = str(status["id"])
        queue_id = status.get("queue_id") or None
    except (ValueError, TypeError, KeyError) as e:
        raise UnusableDefinition(f"status cannot be decoded: {e!r}") from None
    capped = queue_id is None or decoded.spells_max_concurrent
    candidate = Candidate(
        mesos_id=mesos_id,
        task_id=task_id,
        queue_id=queue_id,
        cpus=definition.cpus,
        mem=definition.mem,
        rules=decoded.rules,
        max_concurrent=definition.max_concurrent if capped else None,
        queue_max_concurrent=(queue_caps or {}).get(queue_id) if queue_id else None,
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
