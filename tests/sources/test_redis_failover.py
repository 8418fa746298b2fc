"""A Redis failover must not lose a source item (issue 15, Redis high availability).

Redis replicates asynchronously: a poll's tasks stored on the master, and the item then
acknowledged to its source, are lost together if the master dies before its replica has
them and the replica is promoted. With HIPPO_REDIS_WAIT_REPLICAS (1 by default with
Sentinel), a poll acknowledges its items only once that many replicas have its writes
(Redis WAIT); short of that, the items stay in the source and come again, so the write
lost in a failover is made again from them: a retry, not a loss.

The failover is the one Sentinel performs, done by hand so that the moment is ours: the
replica is cut off from the master (pointed at a port where no master answers, keeping
its data, as in a partition) while the master takes the poll, the master is killed, the
replica is promoted (REPLICAOF NO ONE) and the old master comes back as its replica.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from tests.conftest import RedisServer, free_port, wait_until

from .conftest import PollerThread, create_queue, task_data


def replica_of(master: RedisServer, directory: Path) -> RedisServer:
    server = RedisServer(directory, extra_args=("--replicaof", "127.0.0.1", str(master.port)))
    server.start()
    replica = redis.Redis(port=server.port)
    try:
        wait_until(
            lambda: (
                replica.info("replication").get("master_link_status") == "up"
                and replica.info("replication").get("master_sync_in_progress") == 0
            ),
            what=f"replica on {server.port} in sync with {master.port}",
        )
    finally:
        replica.close()
    return server


@pytest.fixture
def servers() -> Iterator[list[RedisServer]]:
    started: list[RedisServer] = []
    yield started
    for server in started:
        server.stop()


def test_an_item_polled_before_a_failover_lost_its_tasks_is_run_after_it(
    tmp_path: Path,
    servers: list[RedisServer],
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Any],
    redis_source: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="hippo.worker.polling")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    master = RedisServer(tmp_path / "a")
    master.start()
    servers.append(master)
    replica = replica_of(master, tmp_path / "b")
    servers.append(replica)
    env = {"HIPPO_REDIS_WAIT_REPLICAS": "1", "HIPPO_POLL_IDLE_S": "0.05"}

    api = make_client(HIPPO_REDIS_URL=master.url)
    queue_id = create_queue(api, "redis", redis_source, frequency_seconds=1)
    on_master = redis.Redis(port=master.port)
    assert on_master.wait(1, 10_000) == 1  # the queue's definition is on the replica
    on_master.close()

    # The replica is cut off: the master takes the poll alone.
    on_replica = redis.Redis(port=replica.port)
    on_replica.replicaof("127.0.0.1", free_port())
    source = redis.Redis(
        host=redis_source["host"], port=redis_source["port"], db=redis_source["db"]
    )
    source.lpush(redis_source["name"], "item-1")
    poller = PollerThread(make_settings(HIPPO_REDIS_URL=master.url, **env))
    try:
        wait_until(
            lambda: "not yet on 1 Redis replica" in caplog.text,
            what="a poll stored on the master alone",
        )
    finally:
        poller.stop()
    master_client = redis.Redis(port=master.port)
    assert task_data(master_client, queue_id) == ["item-1"]
    master_client.close()
    in_flight = [
        k
        for k in source.keys(f"{redis_source['name']}:hippo:processing:*")
        if not k.endswith(b":seq")
    ]
    assert [source.lrange(k, 0, -1) for k in in_flight] == [[b"item-1"]], (
        "the item was acknowledged although no replica had its task"
    )

    # Failover: the master dies with the write, the replica is promoted, the old master
    # comes back (empty) as the new master's replica, as Sentinel reconfigures it.
    assert master.process is not None
    master.process.kill()
    master.process.wait(10)
    master.process = None
    on_replica.replicaof("NO", "ONE")
    assert task_data(on_replica, queue_id) == []  # the failover lost the poll's write
    servers.append(replica_of(replica, tmp_path / "c"))

    poller = PollerThread(make_settings(HIPPO_REDIS_URL=replica.url, **env))
    try:
        wait_until(
            lambda: not any(source.llen(k) for k in in_flight),
            what="the item acknowledged after the failover",
        )
    finally:
        poller.stop()
    assert task_data(on_replica, queue_id) == ["item-1"]  # run once: a retry, not a loss
    assert source.llen(redis_source["name"]) == 0
    on_replica.close()
    source.close()
