"""Validation of definitions, with no Redis."""

from __future__ import annotations

from typing import Any

import pytest

from hippo.shared.errors import ValidationFailed
from hippo.shared.model import parse_queue, parse_task
from hippo.shared.sources import load_sources
from tests.examples import SPEC_QUEUE, task

SOURCES = load_sources()


def _errors(body: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as failed:
        parse_task(body)
    return {e.field: e.message for e in failed.value.errors}


@pytest.mark.parametrize(
    "constraint",
    [
        ["host", "UNIQUE"],
        ["rack", "CLUSTER", "r1"],
        ["rack", "EQUAL", "r1"],
        ["rack", "UNEQUAL", "r1"],
        ["rack", "GROUP_BY"],
        ["rack", "GROUP_BY", "3"],
        ["host", "LIKE", "web-[0-9]+"],
        ["host", "UNLIKE", "db.*"],
        ["rack", "MAX_PER", "2"],
        ["os", "IS", "linux"],
    ],
)
def test_valid_constraints_round_trip(constraint: list[str]) -> None:
    parsed = parse_task(task(constraints=[constraint]))
    assert parsed.model_dump(mode="json")["constraints"] == [constraint]


@pytest.mark.parametrize(
    "constraint, message",
    [
        (["host"], "must be [field, OPERATOR]"),
        (["host", "UNIQUE", "x"], "UNIQUE takes no value"),
        (["rack", "CLUSTER"], "CLUSTER needs a value"),
        (["rack", "MAX_PER", "two"], "MAX_PER value must be a positive integer"),
        (["host", "LIKE", "("], "LIKE value is not a valid regular expression"),
    ],
)
def test_invalid_constraints(constraint: list[str], message: str) -> None:
    errors = _errors(task(constraints=[constraint]))
    assert any(message in m for m in errors.values()), errors


@pytest.mark.parametrize(
    "field, value",
    [
        ("cpus", 0),
        ("mem", -1),
        ("cmd", ""),
        ("task_retries", -1),
        ("system_retries", -1),
        ("max_concurrent", 0),
        ("id", "has/slash"),
    ],
)
def test_out_of_range_fields(field: str, value: Any) -> None:
    assert field in _errors(task(**{field: value}))


def test_an_empty_task_id_is_no_id_as_in_the_original() -> None:
    assert parse_task(task(id="")).id is None


def test_required_fields() -> None:
    assert set(_errors({})) == {"container", "mem", "cpus", "cmd"}


def test_runtime_fields_sent_back_are_ignored() -> None:
    parsed = parse_task(task(mesos_id="x.1", mesos_state="TASK_RUNNING", created_tstamp=5))
    assert parsed.id == "myId"


def test_volume_mode_is_required_and_checked() -> None:
    body = task()
    body["container"]["volumes"] = [{"containerPath": "/c"}]
    assert "container.volumes.0.mode" in _errors(body)


def test_user_network_needs_a_name() -> None:
    body = task()
    body["container"]["docker"]["network"] = "USER"
    assert "container.docker" in _errors(body)
    body["container"]["docker"]["networkName"] = "calico"
    assert parse_task(body).container.docker.networkName == "calico"


@pytest.mark.parametrize(
    "queue_type, settings, field",
    [
        ("cron", {"cronstring": "not cron"}, "queue.cron.cronstring"),
        ("cron", {"cronstring": "* * * * *", "maxbacklog": -1}, "queue.cron.maxbacklog"),
        ("redis", {"host": "h", "name": "l", "port": 70000}, "queue.redis.port"),
        ("redis", {"host": "h", "name": "l", "ssl": "yes"}, "queue.redis.ssl"),
        ("redis", {"name": "l"}, "queue.redis.host"),
        ("s3bucket", {"bucket_name": "/prefix-only"}, "queue.s3bucket.bucket_name"),
        (
            "sqlquery",
            {"conn_string": "postgresql://h/db", "query": "q", "filter_field": "a b"},
            "queue.sqlquery.filter_field",
        ),
        ("sqs", {"queuename": "q", "extra": 1}, "queue.sqs.extra"),
    ],
)
def test_source_settings_are_checked_by_their_declarations(
    queue_type: str, settings: dict[str, Any], field: str
) -> None:
    body = dict(SPEC_QUEUE, queue={"type": queue_type, queue_type: settings})
    with pytest.raises(ValidationFailed) as failed:
        parse_queue(body, SOURCES)
    assert field in [e.field for e in failed.value.errors]


def test_block_of_another_type_is_refused() -> None:
    body = dict(
        SPEC_QUEUE,
        queue={"type": "cron", "cron": {"cronstring": "* * * * *"}, "sqs": {"queuename": "q"}},
    )
    with pytest.raises(ValidationFailed) as failed:
        parse_queue(body, SOURCES)
    assert [e.field for e in failed.value.errors] == ["queue.sqs"]
