"""The reported instance of "item data runs as code", end to end: a Redis-list item
`a$(touch <file>)b`, a queue whose cmd is what the docs advised (`echo "$HIPPO_DATA"`),
a real worker (polling and leading) and the dev master running the command with
`/bin/sh -c` as Mesos does. tests/sources/test_item_data_is_data.py covers each family
of shell metacharacters."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from starlette.testclient import TestClient

from tests.conftest import wait_until

from .conftest import Cluster


def test_an_item_with_shell_code_runs_as_data(
    make_cluster: Callable[..., Cluster],
    api: TestClient,
    redis_url: str,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "created-by-the-item"
    out = tmp_path / "out"
    item = f"a$(touch {marker})b`touch {marker}`c"
    parts = urlsplit(redis_url)
    source = {"host": parts.hostname, "port": parts.port, "db": 1, "name": "hostile"}
    items = redis.Redis(host=parts.hostname, port=parts.port, db=1)
    items.lpush("hostile", item)
    items.close()
    body: dict[str, Any] = {
        "id": "hostile",
        "container": {"docker": {"image": "busybox"}},
        "mem": 32,
        "cpus": 0.1,
        "cmd": f'echo "$HIPPO_DATA" > {out}',
        "queue": {"type": "redis", "frequency_seconds": 0.2, "redis": source},
    }
    assert api.post("/queues/", json=body).status_code == 201
    cluster = make_cluster(agents=1)
    cluster.start_worker()

    def finished() -> dict[str, Any] | None:
        records = json.loads(api.get("/tasks/?queue_id=hostile").content)
        done = [r for r in records if r["mesos_state"] == "TASK_FINISHED"]
        return done[0] if done else None

    record = wait_until(finished, 60, "the item's task to finish")
    assert isinstance(record, dict)
    assert out.read_text() == item + "\n"
    assert not marker.exists()
    assert record["cmd"] == f'echo "$HIPPO_DATA" > {out}'
    assert record["env"]["HIPPO_DATA"] == item
