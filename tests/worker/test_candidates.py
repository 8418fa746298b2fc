"""Waiting runs decoded with the model, once: typed fields, the model's defaults, the
model's constraints, and a definition that cannot be decoded says why. No Redis."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hippo.shared.model import Operator, TaskDefinition
from hippo.worker.candidates import UnusableDefinition, parse_waiting
from hippo.worker.taskinfo import build_task_info

JOB: dict[str, Any] = {
    "container": {"docker": {"image": "alpine"}},
    "cpus": 0.5,
    "mem": 64,
    "cmd": "true",
}
STATUS = json.dumps({"id": "x", "queue_id": None})


def test_a_waiting_run_reads_typed_fields_and_the_models_defaults() -> None:
    w = parse_waiting("x.1", json.dumps(JOB), STATUS)
    assert isinstance(w.definition, TaskDefinition)
    assert (w.candidate.cpus, w.candidate.mem, w.candidate.task_id) == (0.5, 64.0, "x")
    assert w.candidate.max_concurrent == TaskDefinition.model_fields["max_concurrent"].default


def test_constraint_rules_are_built_from_the_models_constraints() -> None:
    spec = {**JOB, "constraints": [["rack", "LIKE", "r[0-9]"], ["hostname", "UNIQUE"]]}
    rules = parse_waiting("x.1", json.dumps(spec), STATUS).candidate.rules
    assert [(r.field, r.operator, r.value) for r in rules] == [
        ("rack", Operator.LIKE, "r[0-9]"),
        ("hostname", Operator.UNIQUE, None),
    ]
    assert rules[0].pattern is not None and rules[0].pattern.fullmatch("r1")


@pytest.mark.parametrize(
    "spec_raw, why",
    [
        (json.dumps({**JOB, "cpus": -1}), "cpus: Input should be greater than 0"),
        (json.dumps({k: v for k, v in JOB.items() if k != "cmd"}), "cmd: Field required"),
        (json.dumps({**JOB, "constraints": [["rack", "LIKE", "("]]}), "constraints.0"),
        (json.dumps({**JOB, "constraints": [["rack", "NEAR", "a"]]}), "constraints.0"),
        (b"{not json", "Invalid JSON"),
    ],
)
def test_a_definition_that_cannot_be_decoded_says_why(spec_raw: str | bytes, why: str) -> None:
    with pytest.raises(UnusableDefinition) as e:
        parse_waiting("x.1", spec_raw, STATUS)
    assert str(e.value).startswith("definition cannot be decoded: ") and why in str(e.value)


def test_a_status_without_a_task_id_is_unusable_too() -> None:
    with pytest.raises(UnusableDefinition, match="status cannot be decoded"):
        parse_waiting("x.1", json.dumps(JOB), json.dumps({"queue_id": None}))


def test_task_info_takes_network_and_pull_defaults_from_the_model() -> None:
    spec = {**JOB, "container": {"docker": {"image": "alpine"}, "volumes": []}}
    definition = parse_waiting("x.1", json.dumps(spec), STATUS).definition
    info = build_task_info(
        mesos_id="x.1", task_id="x", definition=definition, agent_id="S1", role=None
    )
    docker = info["container"]["docker"]
    model_docker = definition.container.docker
    assert docker["network"] == model_docker.network.value == "BRIDGE"
    assert docker["force_pull_image"] is model_docker.forcePullImage is False
    assert "volumes" not in info["container"] and "network_infos" not in info["container"]
