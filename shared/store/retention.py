"""How many finished runs are kept, as the task scripts take it (task_lua.retention):
one argument `"<per task id>:<per queue>"`. A queue's tasks all carry the queue's id, so
they are counted against the per-queue number (HIPPO_TASK_RETENTION_PER_QUEUE), and
one-off tasks against the per-id one (HIPPO_TASK_RETENTION_PER_ID)."""

from __future__ import annotations


def retention_arg(keep_per_id: int, keep_per_queue: int) -> str:
    if keep_per_id < 1 or keep_per_queue < 1:
        raise ValueError(f"retention must keep at least 1 run, got {keep_per_id}:{keep_per_queue}")
    return f"{keep_per_id}:{keep_per_queue}"
