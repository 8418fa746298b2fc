"""Waiting tasks as matching sees them, parsed once from their stored JSON. Pure."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hippo.worker.matching import Candidate, Rule

DEFAULT_MAX_CONCURRENT = 10  # TaskDefinition's default


@dataclass(frozen=True)
class WaitingTask:
    candidate: Candidate
    spec: dict[str, Any]  # the definition, for the TaskInfo

    @property
    def mesos_id(self) -> str:
        return self.candidate.mesos_id


def parse_waiting(mesos_id: str, spec_raw: bytes | str, status_raw: bytes | str) -> WaitingTask:
    """A waiting task from its record; raises ValueError on a definition it cannot run.

    One-off tasks default to max_concurrent 10 per task id; tasks made by a queue are
    capped by the queue's max_concurrent (filled in later) and by their own
    `max_concurrent` only when their definition has one.
    """
    spec = json.loads(spec_raw)
    status = json.loads(status_raw)
    queue_id = status.get("queue_id") or None
    cap = spec.get("max_concurrent")
    if cap is None and queue_id is None:
        cap = DEFAULT_MAX_CONCURRENT
    try:
        rules = tuple(Rule.parse(c) for c in spec.get("constraints") or [])
        candidate = Candidate(
            mesos_id=mesos_id,
            task_id=str(status["id"]),
            queue_id=queue_id,
            cpus=float(spec["cpus"]),
            mem=float(spec["mem"]),
            rules=rules,
            max_concurrent=int(cap) if cap is not None else None,
        )
    except (KeyError, TypeError, IndexError, re.error) as e:
        raise ValueError(f"task {mesos_id}: unusable definition: {e!r}") from e
    return WaitingTask(candidate, spec)
