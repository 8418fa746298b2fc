"""UPDATE events, the most frequent by far, are built without their dataclasses'
__init__: what parse_event gives is what the constructors give, field for field, for
every shape of status; and their acknowledgements are encoded as the bytes of their
call bodies. No I/O."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from hippo.worker.mesos import messages
from hippo.worker.mesos.client import acknowledge_bodies
from hippo.worker.mesos.events import TaskStatus, Update, parse_event

FULL: dict[str, Any] = {
    "task_id": {"value": "t1.abc"},
    "state": "TASK_FAILED",
    "agent_id": {"value": "S1"},
    "uuid": "AAECAwQFBgcICQoLDA0ODw==",
    "message": "Command exited with status 1",
    "reason": "REASON_COMMAND_EXECUTOR_FAILED",
    "source": "SOURCE_EXECUTOR",
    "timestamp": 1764543000.5,
    "container_status": {"container_id": {"value": "c1"}},
}


@pytest.mark.parametrize(
    "status",
    [
        FULL,
        {"task_id": {"value": "t2"}, "state": "TASK_LOST", "reason": "REASON_RECONCILIATION"},
        {"task_id": {"value": "t3"}, "state": "TASK_RUNNING", "agent_id": {"value": "S2"}},
        {"task_id": "not-an-id", "state": 5, "agent_id": {"value": 7}},
        {},
    ],
)
def test_an_update_event_is_what_its_constructors_make(status: dict[str, Any]) -> None:
    event = {"type": "UPDATE", "update": {"status": status}}
    made = parse_event(orjson.dumps(event))
    expected = Update(
        event,
        status=TaskStatus(
            status,
            task_id=status["task_id"]["value"] if isinstance(status.get("task_id"), dict) else "",
            state=str(status.get("state", "")),
            agent_id=status["agent_id"]["value"]
            if isinstance(status.get("agent_id"), dict)
            and isinstance(status["agent_id"]["value"], str)
            else None,
            uuid=status.get("uuid"),
            message=status.get("message"),
            reason=status.get("reason"),
            source=status.get("source"),
        ),
    )
    assert type(made) is Update and type(made.status) is TaskStatus
    assert made == expected and repr(made) == repr(expected)
    assert dataclasses.asdict(made) == dataclasses.asdict(expected)
    assert made.status.terminal == expected.status.terminal
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.status.state = "TASK_RUNNING"  # type: ignore[misc]


def test_an_update_without_a_body_has_an_empty_status() -> None:
    made = parse_event(b'{"type":"UPDATE"}')
    assert isinstance(made, Update)
    assert (made.status.task_id, made.status.state, made.status.uuid) == ("", "", None)


@pytest.mark.parametrize(
    "framework_id, agent_id, task_id, uuid",
    [
        ("F1", "S1", "t1.abc", "AAECAwQFBgcICQoLDA0ODw=="),
        ("", "", "", ""),
        ('quo"te', "back\\slash", "ünïcødé ☃ 😀", "a\nb\tc\x00\x1f"),
        ("F-" * 50, "S" * 200, "t" * 300, "u/+=" * 8),
    ],
)
def test_acknowledgements_are_encoded_as_their_call_bodies(
    framework_id: str, agent_id: str, task_id: str, uuid: str
) -> None:
    updates = [(agent_id, task_id, uuid), ("S2", task_id[::-1], uuid[::-1])]
    assert acknowledge_bodies(framework_id, updates) == [
        orjson.dumps(messages.acknowledge_call(framework_id, *update)) for update in updates
    ]
    assert acknowledge_bodies(framework_id, []) == []
