"""The task run record: the states a run moves through, its fields and their defaults.

The one definition of both: the API and the poller build new records from it
(`new_task_status`), and the Lua scripts get the state sets and the template from it
(shared/lua.py), so a field added here reaches every record, retried runs included.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hippo.shared.model import TaskDefinition

# Linux's limit on one argument or environment string, its NUL included
# (MAX_ARG_STRLEN, include/uapi/linux/binfmts.h): execve refuses a longer one with E2BIG,
# "Argument list too long", on every attempt.
MAX_EXEC_STRING_BYTES = 131072

WAITING = "WAITING_ON_OFFERS"
# Mesos states in which a task holds resources on an agent (or is about to). A task
# TASK_UNREACHABLE keeps its max_concurrent slot: it may still run behind a partition
# (it is given up after HIPPO_UNREACHABLE_TIMEOUT_S, worker/reconciliation.py).
ACTIVE_STATES = frozenset(
    {
        "TASK_STAGING",
        "TASK_STARTING",
        "TASK_RUNNING",
        "TASK_KILLING",
        "TASK_UNREACHABLE",
    }
)
TERMINAL_STATES = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_ERROR",
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
        # Not terminal in mesos.proto (the master has forgotten the agent, the task may
        # come back), but the end of the run for Hippo: retried, killed if it returns.
        "TASK_UNKNOWN",
    }
)
ALL_STATES = frozenset({WAITING}) | ACTIVE_STATES | TERMINAL_STATES

# The run-time half of a task record: every field Hippo writes about a task run, with
# the value a new run starts with. The one definition: the API and the poller build new
# records from it (new_task_status), the leader's retry script gets it as NEW_RUN
# (shared/lua.py), and clients that send these fields back have them ignored. Flat
# scalars only: the scripts rewrite the record with cjson.
TASK_RECORD_TEMPLATE: Mapping[str, Any] = MappingProxyType(
    {
        "id": None,
        "mesos_id": None,
        "queue_id": None,
        "mesos_state": WAITING,
        "task_retries_left": 0,
        "system_retries_left": 0,
        "agent_id": None,
        "agent_hostname": None,
        "created_tstamp": None,
        "updated_tstamp": None,
        "started_tstamp": None,
        "finished_tstamp": None,
        # The original Hippo's field: when mesos_state last changed (unix s). Old
        # clients list and sort tasks by it.
        "status_tstamp": None,
        "status_message": None,
        "status_reason": None,
        "previous_mesos_id": None,
        "kill_requested": False,
        # Run number in its chain of retries (1: the first run), and the run that retried
        # this one (previous_mesos_id links back).
        "attempt": 1,
        "next_mesos_id": None,
        # A delayed retry (retry_delay_seconds): when it may launch, unix s.
        "retry_due_tstamp": None,
        # Why the run is not launched yet, as a user reads it; None when nothing holds it
        # (a delayed retry: worker/deadlines.py; offer rounds: worker/pending.py).
        "pending_reason": None,
        # The limit that ended this run: "max_runtime_seconds" or "max_pending_seconds".
        "timed_out": None,
    }
)
TASK_RECORD_FIELDS = tuple(TASK_RECORD_TEMPLATE)


def new_task_status(
    definition: TaskDefinition,
    task_id: str,
    mesos_id: str,
    now: float,
    *,
    queue_id: str | None = None,
) -> dict[str, Any]:
    """The run-time half of a new task record, from TASK_RECORD_TEMPLATE."""
    return {
        **TASK_RECORD_TEMPLATE,
        "id": task_id,
        "mesos_id": mesos_id,
        "queue_id": queue_id,
        "task_retries_left": definition.task_retries,
        "system_retries_left": definition.system_retries,
        "created_tstamp": now,
        "updated_tstamp": now,
        "status_tstamp": now,
    }


# What a run's chain of runs shows of each run (GET /tasks/{mesos_id}/history/).
CHAIN_FIELDS = (
    "mesos_id",
    "attempt",
    "mesos_state",
    "created_tstamp",
    "started_tstamp",
    "finished_tstamp",
    "retry_due_tstamp",
    "status_reason",
    "status_message",
    "timed_out",
    "agent_hostname",
)


def run_history(
    mesos_id: str, entries: Sequence[Mapping[str, Any]], chain: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The answer of GET /tasks/{mesos_id}/history/. Pure.

    `entries` are the run's stored history (one per state entered after creation:
    state, tstamp, message, reason, agent_id); the first entry, WAITING_ON_OFFERS at
    created_tstamp, is made here from the record (for a delayed retry, its message says
    when it was due). `chain` is the status of every run of its chain of retries, oldest
    first, the run itself included.
    """
    run = next(st for st in chain if st.get("mesos_id") == mesos_id)
    due = run.get("retry_due_tstamp")
    first = {
        "state": WAITING,
        "tstamp": run.get("created_tstamp"),
        "message": None if due is None else f"retry due at {iso_utc(due)}",
        "reason": None,
        "agent_id": None,
    }
    return {
        "mesos_id": mesos_id,
        "history": [first, *entries],
        "runs": [{name: st.get(name) for name in CHAIN_FIELDS} for st in chain],
    }


def iso_utc(t: float) -> str:
    """`2026-11-30T14:05:00Z` for unix seconds (whole seconds, as pending_reason says it)."""
    return datetime.datetime.fromtimestamp(int(t), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
