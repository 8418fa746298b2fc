"""A queue's dead letters are also pushed to the Redis list or SQS queue its
`queue.deadletter_target` names (worker/deadletter_push.py), against real workers, a
dev master, our Redis and a moto SQS; the target's secrets are masked like a source's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
from starlette.testclient import TestClient

from tests.conftest import wait_until
from tests.sources.conftest import aws_settings, boto_client, moto_endpoint  # noqa: F401

from .conftest import Cluster

JOB = {"container": {"docker": {"image": "alpine"}}, "mem": 32, "cpus": 0.1, "cmd": "exit 3"}


def queue_reading(redis_url: str, name: str, target: dict[str, Any]) -> dict[str, Any]:
    parts = urlsplit(redis_url)
    return {
        **JOB,
        "id": f"q-{uuid.uuid4().hex[:8]}",
        "queue": {
            "type": "redis",
            "frequency_seconds": 0.2,
            "redis": {"host": parts.hostname, "port": parts.port, "db": 1, "name": name},
            "deadletter_target": target,
        },
    }


def list_client(redis_url: str) -> redis.Redis:
    parts = urlsplit(redis_url)
    return redis.Redis(host=parts.hostname, port=parts.port, db=1)


def test_dead_letters_are_pushed_to_a_redis_list(
    make_cluster: Callable[..., Cluster], api: TestClient, redis_url: str
) -> None:
    parts = urlsplit(redis_url)
    items, dead = f"work-{uuid.uuid4().hex[:8]}", f"dead-{uuid.uuid4().hex[:8]}"
    target = {"type": "redis", "redis": {"host": parts.hostname, "port": parts.port, "db": 1}}
    target["redis"]["name"] = dead
    body = queue_reading(redis_url, items, target)
    assert api.post("/queues/", json=body).status_code == 201
    source = list_client(redis_url)
    source.lpush(items, "fails", "no\x00process")
    cluster = make_cluster()
    cluster.start_worker()
    wait_until(lambda: source.llen(dead) == 2, 60, "both dead letters pushed")
    pushed = {d["data"]: d for d in (json.loads(raw) for raw in source.lrange(dead, 0, -1))}
    assert pushed["fails"]["cause"] == "retries_exhausted"
    assert pushed["fails"]["mesos_state"] == "TASK_FAILED" and len(pushed["fails"]["runs"]) == 1
    assert pushed["no\x00process"]["cause"] == "undeliverable"
    listed = api.get(f"/queues/{body['id']}/deadletters/").json()
    assert sorted(listed, key=lambda d: d["id"]) == sorted(pushed.values(), key=lambda d: d["id"])
    source.close()


def test_dead_letters_are_pushed_to_sqs_and_its_secret_is_masked(
    make_cluster: Callable[..., Cluster],
    api: TestClient,
    redis_url: str,
    raw_redis: redis.Redis,
    moto_endpoint: str,  # noqa: F811
) -> None:
    sqs = boto_client("sqs", moto_endpoint)
    name = f"dead-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    items = f"work-{uuid.uuid4().hex[:8]}"
    target = {"type": "sqs", "sqs": {**aws_settings(moto_endpoint), "queuename": name}}
    body = queue_reading(redis_url, items, target)
    created = api.post("/queues/", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["queue"]["deadletter_target"]["sqs"]["awssecret"] == "********"
    stored = raw_redis.hget(f"hippo:queue:{body['id']}", "spec") or b""
    assert b"testing-secret" not in stored and b"enc:" in stored
    # Sent back masked, the stored secret stays (the push below needs it).
    body["queue"]["deadletter_target"]["sqs"]["awssecret"] = "********"
    assert api.put(f"/queues/{body['id']}/", json=body).status_code == 200
    source = list_client(redis_url)
    source.lpush(items, "no\x00process")
    source.close()
    cluster = make_cluster()
    cluster.start_worker()

    def received() -> list[dict[str, Any]]:
        answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
        return [json.loads(m["Body"]) for m in answer.get("Messages", [])]

    [message] = wait_until(received, 60, "the dead letter in SQS")  # type: ignore[misc]
    assert message["cause"] == "undeliverable" and message["data"] == "no\x00process"
    assert message["queue_id"] == body["id"]


def test_a_target_without_its_block_is_refused_naming_the_field(api: TestClient) -> None:
    body = {**JOB, "queue": {"type": "cron", "deadletter_target": {"type": "sqs"}}}
    answer = api.post("/queues/", json=body)
    assert answer.status_code == 422
    fields = [e["field"] for e in answer.json()["errors"]]
    assert fields == ["queue.deadletter_target"], answer.json()
    settings = {**aws_settings("http://x"), "awssecret": "do-not-echo", "queuename": "q"}
    body["queue"]["deadletter_target"] = {"type": "sqs", "sqs": {**settings, "bogus": 1}}
    answer = api.post("/queues/", json=body)
    assert answer.status_code == 422 and "do-not-echo" not in answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["queue.deadletter_target.sqs.bogus"]
