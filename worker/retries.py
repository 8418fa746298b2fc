"""Which retry budget a task's end spends. Pure: the leader passes the answer to the
store, which applies it atomically with the state change (and refuses it for a task
whose kill was requested, or whose budget is spent)."""

from __future__ import annotations

from typing import Literal

RetryBudget = Literal["task", "system"]

# TASK_FAILED with these reasons is the cluster's fault, not the command's.
SYSTEM_FAILURE_REASONS = frozenset(
    {
        "REASON_CONTAINER_LAUNCH_FAILED",
        "REASON_CONTAINER_PREEMPTED",
        "REASON_CONTAINER_UPDATE_FAILED",
        "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
        "REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
        "REASON_AGENT_DISCONNECTED",
        "REASON_AGENT_REMOVED",
        "REASON_AGENT_RESTARTED",
        "REASON_AGENT_UNKNOWN",
        "REASON_GC_ERROR",
        "REASON_INVALID_OFFERS",
        "REASON_RESOURCES_UNKNOWN",
    }
)
# Terminal states in which the task never got a fair run.
SYSTEM_FAILURE_STATES = frozenset(
    {
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_ERROR",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)


# A launch refused for the task's own size (execve's E2BIG, "Argument list too long")
# fails the same way on every agent and every retry: retrying only burns the budget.
RECURRING_LAUNCH_FAILURES = ("Argument list too long",)


def retry_budget(
    state: str, reason: str | None = None, message: str | None = None
) -> RetryBudget | None:
    """The budget a task ending in `state` spends to run again, or None: not retried.

    TASK_FINISHED and TASK_KILLED are never retried; TASK_FAILED spends `task_retries`
    unless its reason blames the cluster; lost, dropped, errored and gone tasks spend
    `system_retries`. A launch failure that will recur identically (its message names
    one of RECURRING_LAUNCH_FAILURES) is not retried at all.
    """
    if reason == "REASON_CONTAINER_LAUNCH_FAILED" and any(
        text in (message or "") for text in RECURRING_LAUNCH_FAILURES
    ):
        return None
    if state == "TASK_FAILED":
        return "system" if reason in SYSTEM_FAILURE_REASONS else "task"
    if state in SYSTEM_FAILURE_STATES:
        return "system"
    return None
