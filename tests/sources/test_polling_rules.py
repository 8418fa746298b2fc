"""Pure rules of polling: substitution, batching, limits, backoff, masking."""

from __future__ import annotations

import pytest

from hippo.shared.sources.base import Item
from hippo.shared.sources.redislist import RedisListSettings
from hippo.shared.sources.settings import SourceSettings
from hippo.shared.sources.sqlquery import SqlQuerySettings
from hippo.worker.polling import mask_secrets
from hippo.worker.polling_tasks import (
    TaskTemplate,
    batches,
    fresh_items,
    poll_limit,
    retry_delay_s,
    substitute,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("run $HIPPO_DATA", "run a b"),
        ("run ${HIPPO_DATA}x", "run a bx"),
        ("b64 $HIPPO_DATA_BASE64", "b64 YSBi"),
        ("b64 ${HIPPO_DATA_BASE64}", "b64 YSBi"),
        ("both $HIPPO_DATA/$HIPPO_DATA_BASE64", "both a b/YSBi"),
        ("other $HIPPO_DATA_OTHER", "other $HIPPO_DATA_OTHER"),
        ("twice $HIPPO_DATA$HIPPO_DATA", "twice a ba b"),
        ("none", "none"),
        ("$ alone", "$ alone"),
    ],
)
def test_substitute_replaces_placeholders(text: str, expected: str) -> None:
    assert substitute(text, "a b", "YSBi") == expected


def test_substituted_data_is_not_expanded_again() -> None:
    assert substitute("x $HIPPO_DATA", "$HIPPO_DATA_BASE64", "B") == "x $HIPPO_DATA_BASE64"


@pytest.mark.parametrize(
    "count, size, expected",
    [
        (0, 3, []),
        (1, 3, ["0"]),
        (3, 3, ["0|1|2"]),
        (7, 3, ["0|1|2", "3|4|5", "6"]),
        (3, 1, ["0", "1", "2"]),
    ],
)
def test_batches_group_items_by_batch_size(count: int, size: int, expected: list[str]) -> None:
    items = [Item(str(i), f"k{i}") for i in range(count)]
    assert batches(items, size, "|") == expected


def test_fresh_items_drop_seen_and_repeated_keys() -> None:
    items = [Item("a", "1"), Item("b", "2"), Item("a again", "1"), Item("c", "3")]
    assert [i.data for i in fresh_items(items, {"2"})] == ["a", "c"]


@pytest.mark.parametrize(
    "max_concurrent, batch_size, open_tasks, expected",
    [
        (10, 1, 0, 10),
        (10, 1, 4, 6),
        (10, 3, 4, 26),
        (10, 1, 12, 0),
    ],
)
def test_poll_limit_is_capacity_minus_open_tasks(
    max_concurrent: int, batch_size: int, open_tasks: int, expected: int
) -> None:
    assert poll_limit(max_concurrent, batch_size, open_tasks) == expected


@pytest.mark.parametrize("failures, expected", [(1, 1), (2, 2), (3, 4), (6, 30), (100, 30)])
def test_retry_delay_doubles_up_to_the_frequency(failures: int, expected: float) -> None:
    assert retry_delay_s(failures, 1, 30) == expected


def test_task_template_sets_env_and_queue_fields() -> None:
    template = TaskTemplate(
        "q1",
        {
            "container": {"docker": {"image": "busybox"}},
            "mem": 32,
            "cpus": 0.1,
            "cmd": "echo $HIPPO_DATA",
            "env": {"A": "<$HIPPO_DATA_BASE64>", "HIPPO_DATA": "user"},
            "queue": {"type": "redis", "max_concurrent": 3},
        },
    )
    spec = template.spec("hi")
    assert spec["cmd"] == "echo $HIPPO_DATA"  # left to the shell: data is never code
    assert spec["max_concurrent"] == 3 and "queue" not in spec
    assert spec["env"] == {"A": "<aGk=>", "HIPPO_DATA": "hi", "HIPPO_DATA_BASE64": "aGk="}
    (task,) = template.new_tasks(["hi"], now=5.0)
    assert task.task_id == "q1" and task.mesos_id.startswith("q1.")


def _sql(conn_string: str) -> SqlQuerySettings:
    return SqlQuerySettings(conn_string=conn_string, query="q", filter_field="id")


@pytest.mark.parametrize(
    "settings, text",
    [
        (RedisListSettings(host="h", name="l", password="pw-123"), "auth failed for pw-123"),
        (
            _sql("postgresql://u:pw-123@db/x"),
            "cannot connect to postgresql://u:pw-123@db/x",
        ),
        (_sql("jdbc:postgresql://u:pw-123@db:5432/x"), "bad password pw-123"),
        (None, "mysql://root:pw-123@host/db refused"),
    ],
)
def test_errors_are_masked(settings: SourceSettings | None, text: str) -> None:
    masked = mask_secrets(text, settings)
    assert "pw-123" not in masked and "********" in masked
