"""Which retry budget a task's end spends. Pure: the leader passes the answer to the
store, which applies it atomically with the state change (and refuses it for a task
whose kill was requested, or whose budget is spent)."""

from __future__ import annotations

from typing import Literal

# "free": the run is made again without spending either budget (not the task's fault,
# and not a failure of the cluster's that could recur: an offer that died under it).
RetryBudget = Literal["task", "system", "free"]

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
        "REASON_RESOURCES_UNKNOWN",
    }
)
# Terminal states in which the task never got a fair run. Not TASK_ERROR: Mesos found
# the TaskInfo invalid (src/master/validation.cpp) and will again, on any agent.
# TASK_UNKNOWN ends the run for Hippo (a partition-aware framework is told it when the
# master has forgotten the agent): it is retried, and killed should it come back.
SYSTEM_FAILURE_STATES = frozenset(
    {
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
        "TASK_UNKNOWN",
    }
)
# An ACCEPT sent with offers the master no longer had (rescinded, or dead at a
# re-subscription): Mesos ends its tasks TASK_LOST (TASK_DROPPED when partition-aware)
# with this reason (`Master::accept`, src/master/master.cpp). The task never reached an
# agent: it is made again at no cost.
FREE_RETRY_REASONS = frozenset({"REASON_INVALID_OFFERS"})
# Killed although nobody asked: the agent was drained by an operator (its tasks end
# TASK_KILLED with this reason, src/slave/slave.cpp). The cluster's doing.
SYSTEM_KILL_REASONS = frozenset({"REASON_AGENT_DRAINING"})


# A launch refused for the task's own size (execve's E2BIG, "Argument list too long")
# fails the same way on every agent and every retry: retrying only burns the budget.
RECURRING_LAUNCH_FAILURES = ("Argument list too long",)


def retry_budget(
    state: str, reason: str | None = None, message: str | None = None
) -> RetryBudget | None:
    """The budget a task ending in `state` spends to run again, or None: not retried.

    TASK_FINISHED, TASK_ERROR and TASK_KILLED are never retried, except a kill by a
    draining agent (`system_retries`); TASK_FAILED spends `task_retries` unless its
    reason blames the cluster; lost, dropped, gone and unknown tasks spend
    `system_retries`, and those whose offers were invalid spend nothing ("free"). A
    launch failure that will recur identically (its message names one of
    RECURRING_LAUNCH_FAILURES) is not retried at all. The task's kill requested: the
    store retries nothing, whatever this says.
    """
    if reason == "REASON_CONTAINER_LAUNCH_FAILED" and any(
        text in (message or "") for text in RECURRING_LAUNCH_FAILURES
    ):
        return None
    if reason in FREE_RETRY_REASONS and state in ("TASK_LOST", "TASK_DROPPED"):
        return "free"
    if state == "TASK_KILLED":
        return "system" if reason in SYSTEM_KILL_REASONS else None
    if state == "TASK_FAILED":
        return "system" if reason in SYSTEM_FAILURE_REASONS else "task"
    if state in SYSTEM_FAILURE_STATES:
        return "system"
    return None
