"""The exact fields of a task record and a queue document, pinned to the REST contract:
SPEC.md's fields plus the ones Hippo adds. A field lost (or renamed) anywhere between the
model, the store's scripts and the API fails here, for a record made by the API and for
a run made by the leader's retry script alike (tests/worker/test_fenced_scripts.py
checks that the two are the same shape)."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.examples import task

# SPEC.md "Tasks": the definition, the two ids.
SPEC_TASK_FIELDS = {
    "id",
    "mesos_id",
    "container",
    "mem",
    "cpus",
    "cmd",
    "env",
    "constraints",
    "task_retries",
    "system_retries",
    "max_concurrent",
}
# Hippo's run-time fields (README "Task records").
HIPPO_TASK_FIELDS = {
    "queue_id",
    "mesos_state",
    "task_retries_left",
    "system_retries_left",
    "agent_id",
    "agent_hostname",
    "created_tstamp",
    "updated_tstamp",
    "started_tstamp",
    "finished_tstamp",
    "status_tstamp",
    "status_message",
    "status_reason",
    "previous_mesos_id",
    "kill_requested",
    # retry chains and limits (README "Retries, delays and time limits")
    "attempt",
    "next_mesos_id",
    "retry_due_tstamp",
    "pending_reason",
    "timed_out",
}
# Definition fields Hippo adds, shown with their defaults (max_runtime_seconds and
# max_pending_seconds are shown only when set: they have no default).
HIPPO_DEFINITION_FIELDS = {"retry_delay_seconds", "retry_backoff_factor", "retry_max_delay_seconds"}
SPEC_QUEUE_FIELDS = {
    "id",
    "container",
    "mem",
    "cpus",
    "cmd",
    "env",
    "constraints",
    "task_retries",
    "system_retries",
    "queue",
}
SPEC_QUEUE_BLOCK_FIELDS = {
    "type",
    "name",
    "max_concurrent",
    "batch_size",
    "batch_separator",
    "frequency_seconds",
    "last_run_tstamp",
    "status",
}
HIPPO_QUEUE_BLOCK_FIELDS = {
    "last_error",
    "last_error_tstamp",
    "items_taken",
    "tasks_created",
    "active_tasks",
    "waiting_tasks",
}
MINIMAL = {"container": {"docker": {"image": "alpine"}}, "cpus": 0.1, "mem": 32, "cmd": "true"}


def test_a_task_record_has_exactly_the_contracts_fields(api: TestClient) -> None:
    for body in (MINIMAL, task(id="full")):
        created = api.post("/tasks/", json=body).json()
        fetched = api.get(f"/tasks/{created['mesos_id']}/").json()
        (listed,) = [r for r in api.get("/tasks/").json() if r["mesos_id"] == created["mesos_id"]]
        for record in (created, fetched, listed):
            assert set(record) == SPEC_TASK_FIELDS | HIPPO_TASK_FIELDS | HIPPO_DEFINITION_FIELDS
    minimal = api.get("/tasks/?limit=100").json()[-1]
    assert (minimal["task_retries"], minimal["system_retries"], minimal["max_concurrent"]) == (
        0,
        2,
        10,
    )
    # SPEC.md's behaviour by default: a retry launches at once, no time limit.
    assert minimal["retry_delay_seconds"] == 0
    assert "max_runtime_seconds" not in minimal and "max_pending_seconds" not in minimal


def test_a_queue_document_has_exactly_the_contracts_fields(api: TestClient) -> None:
    body = {**MINIMAL, "id": "q", "queue": {"type": "cron", "cron": {"cronstring": "* * * * *"}}}
    created = api.post("/queues/", json=body).json()
    fetched = api.get("/queues/q/").json()
    (listed,) = api.get("/queues/").json()
    for doc in (created, fetched, listed):
        assert set(doc) == SPEC_QUEUE_FIELDS | HIPPO_DEFINITION_FIELDS
        block_fields = SPEC_QUEUE_BLOCK_FIELDS | HIPPO_QUEUE_BLOCK_FIELDS | {"cron"}
        assert set(doc["queue"]) == block_fields
    block = fetched["queue"]
    assert (block["max_concurrent"], block["batch_size"], block["frequency_seconds"]) == (
        10000,
        1,
        60,
    )
    assert (block["batch_separator"], block["status"], block["last_run_tstamp"]) == (
        "|",
        "ENABLED",
        0,
    )
