"""What a process can receive is checked at the edge: a task or queue whose `cmd` or env
would be cut or refused by execve (a NUL anywhere, `=` in an env name) is refused with
422 naming the field, and nothing is stored. (A lone surrogate cannot reach the model:
the JSON reader refuses it with 400.)"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from tests.examples import SPEC_QUEUE, SPEC_TASK

CASES = [
    ({"cmd": "echo a\x00b"}, "cmd", "NUL"),
    ({"cmd": "\x00"}, "cmd", "NUL"),
    ({"env": {"A": "v\x00"}}, "env.A", "NUL"),
    ({"env": {"A\x00B": "v"}}, "env.A\x00B.[key]", "NUL"),
    ({"env": {"A=B": "v"}}, "env.A=B.[key]", "'='"),
    ({"env": {"=": "v"}}, "env.=.[key]", "'='"),
    ({"cmd": "x" * 131072}, "cmd", "a process receives at most 131071"),
    ({"env": {"BIG": "x" * 131068}}, "env", "BIG=... is 131072 bytes"),
]


@pytest.mark.parametrize(("change", "field", "problem"), CASES)
@pytest.mark.parametrize("kind", ["task", "queue"])
def test_strings_a_process_cannot_receive_are_refused(
    api: TestClient,
    raw_redis: redis.Redis,
    kind: str,
    change: dict[str, Any],
    field: str,
    problem: str,
) -> None:
    body = copy.deepcopy(SPEC_TASK if kind == "task" else {**SPEC_QUEUE, "id": "q"})
    body.update(change)
    answer = api.post(f"/{kind}s/", json=body)
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == field and problem in error["message"]
    assert raw_redis.dbsize() == 0  # nothing stored


def test_ordinary_text_is_accepted(api: TestClient) -> None:
    body = {**SPEC_TASK, "cmd": "printf '%s\\n' \"$A\" ü 😀", "env": {"A": "x=y", "B_1": "ä\tb"}}
    assert api.post("/tasks/", json=body).status_code == 201
