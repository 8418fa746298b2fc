"""Dead letters: a queue's items that will not run again by themselves.

An item lands here when its task ended without finishing and without a retry left
(`retries_exhausted`: failed, lost, errored or killed by Mesos, its `task_retries` or
`system_retries` spent; a kill a user asked for is not a failure), or when no process
could receive it at all (`undeliverable`: over HIPPO_MAX_ITEM_BYTES, a NUL, an
environment string over execve's limit; worker/polling_tasks.undeliverable). Each keeps
its data, its runs and the last reason, until it is run again or discarded
(`/queues/{id}/deadletters/`).

The record's one definition: DEAD_LETTER_FIELDS here (with each field's type in
api/schemas.py). The leader writes `retries_exhausted` ones in Lua (shared/store/
task_lua.py, `dead_letter_run`) with these names; the poller builds `undeliverable`
ones with `undeliverable_dead_letter`. Stored records also carry `spec`, the task
definition the item ran (or would have run) with: what "run again" creates a task from.
The API never shows it (`public_dead_letter`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hippo.shared.errors import Conflict, ValidationFailed
from hippo.shared.model import parse_task
from hippo.shared.records import new_task_status

CAUSES = ("retries_exhausted", "undeliverable")

# Every field of a dead letter as the API shows it, in order.
DEAD_LETTER_FIELDS = (
    "id",  # the last run's mesos_id; `<queue id>.<uuid>` for an item never run
    "queue_id",
    "task_id",
    "cause",  # one of CAUSES
    "mesos_state",  # the last run's end (None when never run)
    "status_reason",  # Mesos' reason of that end
    "status_message",  # Mesos' message, or why the item could not be delivered
    "data",  # HIPPO_DATA
    "data_base64",  # HIPPO_DATA_BASE64: the item's bytes
    "runs",  # each run, oldest first: RUN_FIELDS
    "dead_tstamp",  # when it became a dead letter (unix s)
)
# What a dead letter keeps of each run (task record fields of shared/records.py).
RUN_FIELDS = (
    "mesos_id",
    "mesos_state",
    "status_reason",
    "status_message",
    "agent_hostname",
    "created_tstamp",
    "started_tstamp",
    "finished_tstamp",
)


def undeliverable_dead_letter(
    dead_letter_id: str, queue_id: str, spec: Mapping[str, Any], problem: str, now: float
) -> bytes:
    """The stored record of an item no process can receive (`spec`: the task definition
    it would have run with, HIPPO_DATA in its env); `problem` says why."""
    env = spec.get("env", {})
    record = {
        "id": dead_letter_id,
        "queue_id": queue_id,
        "task_id": queue_id,
        "cause": "undeliverable",
        "mesos_state": None,
        "status_reason": None,
        "status_message": f"never run: the item {problem}",
        "data": env.get("HIPPO_DATA"),
        "data_base64": env.get("HIPPO_DATA_BASE64"),
        "runs": [],
        "dead_tstamp": now,
        "spec": json.dumps(spec, separators=(",", ":")),
    }
    return json.dumps(record, separators=(",", ":")).encode()


def public_dead_letter(stored: bytes) -> dict[str, Any]:
    """A stored record as the API shows it: DEAD_LETTER_FIELDS, in order (an empty Lua
    table, which cjson writes as `{}`, is an empty list of runs)."""
    record = json.loads(stored)
    shown = {name: record.get(name) for name in DEAD_LETTER_FIELDS}
    runs = shown["runs"] if isinstance(shown["runs"], list) else []
    shown["runs"] = [{name: run.get(name) for name in RUN_FIELDS} for run in runs]
    return shown


def stored_spec(stored: bytes) -> str:
    """The task definition JSON a dead letter runs again with."""
    return str(json.loads(stored)["spec"])


def run_again_status(stored: bytes, mesos_id: str, now: float) -> bytes:
    """The status JSON of the new run a dead letter becomes when run again: a new task
    of its queue with fresh retry budgets, linked to its last run by previous_mesos_id.

    Raises Conflict (409) when its definition is not one a process can receive (an
    undeliverable item still is: the error names the field and why)."""
    record = json.loads(stored)
    try:
        definition = parse_task({**json.loads(record["spec"]), "id": record["task_id"]})
    except ValidationFailed as e:
        # Messages quote the bad value: the item's data, cut short here.
        problems = "; ".join(f"{error.field}: {error.message[:200]}" for error in e.errors)
        raise Conflict(f"dead letter {record['id']} cannot run: {problems}") from None
    status = new_task_status(
        definition, record["task_id"], mesos_id, now, queue_id=record["queue_id"]
    )
    status["previous_mesos_id"] = record["id"] if record["runs"] else None
    return json.dumps(status, separators=(",", ":")).encode()
