"""Pure decisions of polling: how many items to take, batching, the task each batch
becomes, and how long to wait after a failure. No I/O here."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pydantic_core

from hippo.shared.model import TaskDefinition
from hippo.shared.records import MAX_EXEC_STRING_BYTES, new_task_status
from hippo.shared.sources.base import Item
from hippo.shared.store.leases import NewTask

# `$HIPPO_DATA`, `${HIPPO_DATA}` and the _BASE64 forms; `$HIPPO_DATA_X` is another name.
_PLACEHOLDER = re.compile(r"\$(?:\{(HIPPO_DATA(?:_BASE64)?)\}|(HIPPO_DATA(?:_BASE64)?)(?!\w))")


def substitute(text: str, data: str, data_base64: str) -> str:
    """`text` with the HIPPO_DATA placeholders replaced, in one pass (data that itself
    contains a placeholder is not expanded again)."""
    if "$" not in text:
        return text

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return data_base64 if name == "HIPPO_DATA_BASE64" else data

    return _PLACEHOLDER.sub(value, text)


def undeliverable(data: str, spec: Mapping[str, Any], max_item_bytes: int) -> str | None:
    """Why a task made of this HIPPO_DATA could never start, or None. A process cannot
    receive a NUL, and execve refuses any environment string (or the `sh -c` argument)
    over MAX_EXEC_STRING_BYTES: such a launch would fail identically on every retry."""
    if "\x00" in data:
        at = data.index("\x00")
        return f"contains a NUL character (at index {at}), which no process can receive"
    size = len(data.encode())
    if size > max_item_bytes:
        return f"is {size} bytes, over HIPPO_MAX_ITEM_BYTES ({max_item_bytes})"
    strings = [spec["cmd"], *(f"{name}={value}" for name, value in spec["env"].items())]
    for text in strings:
        if len(text.encode()) + 1 > MAX_EXEC_STRING_BYTES:
            name = text.split("=", 1)[0] if text is not spec["cmd"] else "cmd"
            return (
                f"makes {name} {len(text.encode())} bytes, over the {MAX_EXEC_STRING_BYTES} "
                "bytes a process can receive in one string"
            )
    return None


def poll_limit(max_concurrent: int, batch_size: int, open_tasks: int) -> int:
    """Items a poll may take: max_concurrent x batch_size minus the queue's unfinished
    tasks, as the original Hippo counted it."""
    return max(0, max_concurrent * batch_size - open_tasks)


def fresh_items(items: Iterable[Item], seen: set[str]) -> list[Item]:
    """Items whose key is neither already stored nor repeated earlier in this poll: the
    items a poll takes into tasks, and what the queue's `items_taken` counts."""
    taken: set[str] = set()
    out = []
    for item in items:
        if item.key in seen or item.key in taken:
            continue
        taken.add(item.key)
        out.append(item)
    return out


def distinct_count(items: Iterable[Item]) -> int:
    """How many different items (by key) a poll took: a source may hand one out twice."""
    return len({item.key for item in items})


def batches(items: Sequence[Item], batch_size: int, separator: str) -> list[str]:
    """HIPPO_DATA of each task: `batch_size` items at a time, joined by `separator`."""
    return [
        separator.join(item.data for item in items[i : i + batch_size])
        for i in range(0, len(items), batch_size)
    ]


def batch_payloads(items: Sequence[Item], batch_size: int, separator: str) -> list[bytes]:
    """The bytes behind each batch of `batches` (what HIPPO_DATA_BASE64 encodes): the
    items' own bytes, so invalid UTF-8 reaches the task unchanged there."""
    joiner = separator.encode()
    return [
        joiner.join(item.payload for item in items[i : i + batch_size])
        for i in range(0, len(items), batch_size)
    ]


def retry_delay_s(failures: int, first_s: float, frequency_s: float) -> float:
    """Delay after the `failures`-th failure in a row: doubling from first_s, at most
    the queue's frequency."""
    factor: int = 2 ** min(max(failures - 1, 0), 40)  # a power >= 0 of an int is an int
    return min(frequency_s, first_s * factor)


_QUEUE_ONLY = frozenset({"queue", "callback_url", "callback_secret"})


class TaskTemplate:
    """Turns HIPPO_DATA values into task records of one queue."""

    def __init__(self, queue_id: str, queue_spec: Mapping[str, Any]) -> None:
        # The queue's callback stays the queue's: its runs' ends are posted to the callback
        # of its current definition (shared/store/task_lua.py), and a task's spec never
        # carries the secret.
        job = {k: v for k, v in queue_spec.items() if k not in _QUEUE_ONLY}
        job["max_concurrent"] = queue_spec["queue"]["max_concurrent"]
        self.queue_id = queue_id
        self.definition = TaskDefinition.model_validate({**job, "id": queue_id})
        self._job = job

    def spec(self, data: str, payload: bytes | None = None) -> dict[str, Any]:
        """The task definition for one HIPPO_DATA value. `cmd` is left as written: the
        task's shell expands `$HIPPO_DATA` from the environment variable, so data stays
        data (pasted into `sh -c` as text, `a$(rm -rf ~)b` would run). Env values are
        substituted as text: no shell parses them."""
        data_base64 = base64.b64encode(data.encode() if payload is None else payload).decode()
        job = dict(self._job)
        env = {
            name: substitute(value, data, data_base64) for name, value in job.get("env", {}).items()
        }
        env["HIPPO_DATA"] = data
        env["HIPPO_DATA_BASE64"] = data_base64
        job["env"] = env
        return job

    def new_tasks(
        self,
        data_values: Sequence[str],
        now: float,
        payloads: Sequence[bytes | None] | None = None,
    ) -> list[NewTask]:
        """One task per HIPPO_DATA value; `payloads` are their bytes (batch_payloads)."""
        tasks = []
        for data, payload in zip(data_values, payloads or [None] * len(data_values), strict=True):
            mesos_id = f"{self.queue_id}.{uuid.uuid4()}"
            status = new_task_status(
                self.definition, self.queue_id, mesos_id, now, queue_id=self.queue_id
            )
            tasks.append(
                NewTask(
                    mesos_id,
                    self.queue_id,
                    json.dumps(self.spec(data, payload), separators=(",", ":")).encode(),
                    pydantic_core.to_json(status),
                )
            )
        return tasks
