"""Which retry budget a task's end spends (worker/retries.py): the command's failures
spend `task_retries`; the cluster's (lost, dropped, gone, unknown, killed by a draining
agent, or failed for a reason that blames the cluster) spend `system_retries`; a task
whose offers were invalid is made again for free; a finished, errored (invalid
TaskInfo) or killed task is never retried."""

from __future__ import annotations

import pytest

from hippo.worker.retries import retry_budget


@pytest.mark.parametrize(
    ("state", "reason", "budget"),
    [
        ("TASK_FAILED", None, "task"),
        ("TASK_FAILED", "REASON_COMMAND_EXECUTOR_FAILED", "task"),
        ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", "system"),
        ("TASK_FAILED", "REASON_AGENT_REMOVED", "system"),
        ("TASK_LOST", None, "system"),
        ("TASK_LOST", "REASON_RECONCILIATION", "system"),
        ("TASK_DROPPED", None, "system"),
        ("TASK_ERROR", "REASON_TASK_INVALID", None),
        ("TASK_ERROR", None, None),
        ("TASK_GONE", None, "system"),
        ("TASK_GONE_BY_OPERATOR", "REASON_AGENT_REMOVED_BY_OPERATOR", "system"),
        ("TASK_UNKNOWN", "REASON_RECONCILIATION", "system"),
        ("TASK_KILLED", "REASON_AGENT_DRAINING", "system"),
        ("TASK_LOST", "REASON_INVALID_OFFERS", "free"),
        ("TASK_DROPPED", "REASON_INVALID_OFFERS", "free"),
        ("TASK_FINISHED", None, None),
        ("TASK_KILLED", None, None),
        ("TASK_UNREACHABLE", "REASON_AGENT_REMOVED", None),
        ("TASK_RUNNING", None, None),
    ],
)
def test_each_end_spends_the_budget_of_whoever_is_at_fault(
    state: str, reason: str | None, budget: str | None
) -> None:
    assert retry_budget(state, reason) == budget


@pytest.mark.parametrize(
    "message",
    [
        "Failed to launch: [Errno 7] Argument list too long: '/bin/sh'",
        "Failed to run 'docker -H ... run': exec /bin/sh: Argument list too long",
    ],
)
def test_a_launch_failure_that_will_recur_identically_is_not_retried(message: str) -> None:
    assert retry_budget("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", message) is None


def test_other_launch_failures_still_spend_system_retries() -> None:
    message = "Failed to launch: image pull timed out"
    assert retry_budget("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", message) == "system"
