"""The answer of GET /tasks/{mesos_id}/history/ from what the store keeps (pure)."""

from __future__ import annotations

from hippo.shared.records import CHAIN_FIELDS, TASK_RECORD_TEMPLATE, run_history


def status(mesos_id: str, **fields: object) -> dict[str, object]:
    return {**TASK_RECORD_TEMPLATE, "mesos_id": mesos_id, "created_tstamp": 100.0, **fields}


def test_the_history_starts_waiting_at_creation_then_the_stored_states() -> None:
    stored = [
        {
            "state": "TASK_STAGING",
            "tstamp": 101.0,
            "message": None,
            "reason": None,
            "agent_id": "a1",
        }
    ]
    found = run_history("t.1", stored, [status("t.1")])
    assert found["history"] == [
        {
            "state": "WAITING_ON_OFFERS",
            "tstamp": 100.0,
            "message": None,
            "reason": None,
            "agent_id": None,
        },
        *stored,
    ]
    assert found["runs"] == [{name: status("t.1").get(name) for name in CHAIN_FIELDS}]


def test_a_delayed_retry_says_when_it_was_due_as_its_first_entry() -> None:
    due = 1_796_000_000.0
    found = run_history("t.2", [], [status("t.1"), status("t.2", attempt=2, retry_due_tstamp=due)])
    assert found["history"][0]["message"] == "retry due at 2026-11-30T00:53:20Z"
    assert [r["attempt"] for r in found["runs"]] == [1, 2]
