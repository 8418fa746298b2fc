"""Callbacks against real workers, a dev master and a real HTTP receiver: each run's end
is POSTed as JSON, signed with HMAC-SHA256 under the task's (or its queue's) secret, with
a delivery id the receiver dedupes on; a refused callback is sent again with a backoff,
and survives the leader's death (the outbox is in Redis, any worker sends it)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from starlette.testclient import TestClient

from tests.conftest import wait_until

from .conftest import Cluster

SECRET = "s3cr3t-of-the-receiver"
FAST_CALLBACKS = {"HIPPO_CALLBACK_TIMEOUT_S": "2"}


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-hippo-signature", ""), expected)


@dataclass
class Receiver:
    """A local HTTP server recording every POST; answers `status` (settable)."""

    url: str = ""
    status: int = 200
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)

    def accepted(self) -> list[Delivery]:
        return [d for d in self.seen() if d.answered == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = found.status
            with found.lock:
                found.deliveries.append(
                    Delivery({k.lower(): v for k, v in self.headers.items()}, body, status)
                )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


JOB = {"container": {"docker": {"image": "alpine"}}, "mem": 32, "cpus": 0.1}


def test_a_task_end_is_posted_signed_and_survives_the_leaders_death(
    make_cluster: Callable[..., Cluster], api: TestClient, receiver: Receiver
) -> None:
    cluster = make_cluster()
    for _ in range(2):
        cluster.start_worker(**FAST_CALLBACKS)
    leader = cluster.leader()
    epoch = cluster.epoch()
    receiver.status = 503  # refused until the leader is dead
    created = api.post(
        "/tasks/",
        json={
            **JOB,
            "id": "called",
            "cmd": "true",
            "callback_url": receiver.url,
            "callback_secret": SECRET,
        },
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["callback_url"] == receiver.url and task["callback_secret"] == "********"
    wait_until(lambda: len(receiver.seen()) >= 2, 30, "the callback refused twice")
    leader.kill()
    cluster.leader(timeout_s=30, after_epoch=epoch)
    receiver.status = 200
    wait_until(receiver.accepted, 60, "the callback delivered after the failover")
    seen = receiver.seen()
    # The same callback on every attempt: one delivery id (the run's mesos_id), one body.
    assert {d.headers["x-hippo-delivery"] for d in seen} == {task["mesos_id"]}
    assert len({d.body for d in seen}) == 1
    assert all(d.signed_with(SECRET) for d in seen)
    assert not seen[0].signed_with("another secret")
    body = seen[0].json
    assert body["delivery_id"] == task["mesos_id"] and body["event"] == "task.ended"
    assert body["task"]["mesos_id"] == task["mesos_id"]
    assert body["task"]["mesos_state"] == "TASK_FINISHED"
    assert body["task"]["finished_tstamp"]
    assert seen[0].headers["content-type"] == "application/json"
    assert SECRET not in json.dumps(api.get(f"/tasks/{task['mesos_id']}/").json())
    wait_until(lambda: cluster.redis.zcard("hippo:callbacks:due") == 0, 10, "an empty outbox")


def test_a_queue_posts_each_run_end_with_its_own_secret_and_delivery_id(
    make_cluster: Callable[..., Cluster],
    api: TestClient,
    receiver: Receiver,
    redis_url: str,
    raw_redis: redis.Redis,
) -> None:
    parts = urlsplit(redis_url)
    name = f"work-{uuid.uuid4().hex[:8]}"
    body = {
        **JOB,
        "id": "hooked",
        "cmd": "exit 3",
        "task_retries": 1,
        "callback_url": receiver.url,
        "callback_secret": SECRET,
        "queue": {
            "type": "redis",
            "frequency_seconds": 0.2,
            "redis": {"host": parts.hostname, "port": parts.port, "db": 1, "name": name},
        },
    }
    created = api.post("/queues/", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["callback_secret"] == "********"
    # Sent back masked, the stored secret stays.
    body["cmd"] = "exit 4"
    body["callback_secret"] = "********"
    assert api.put("/queues/hooked/", json=body).status_code == 200
    source = redis.Redis(host=parts.hostname, port=parts.port, db=1)
    source.rpush(name, "item")
    source.close()
    cluster = make_cluster()
    cluster.start_worker(**FAST_CALLBACKS)
    wait_until(lambda: len(receiver.accepted()) == 2, 30, "a callback for each run")
    first, second = sorted(receiver.accepted(), key=lambda d: d.json["task"]["created_tstamp"])
    assert all(d.signed_with(SECRET) for d in (first, second))
    ids = [d.headers["x-hippo-delivery"] for d in (first, second)]
    assert len(set(ids)) == 2 and ids == [d.json["delivery_id"] for d in (first, second)]
    assert first.json["task"]["mesos_state"] == "TASK_FAILED"
    assert first.json["task"]["next_mesos_id"] == ids[1]  # retried: the next run follows
    assert second.json["task"]["previous_mesos_id"] == ids[0]
    assert second.json["task"]["queue_id"] == "hooked"
    runs = api.get("/tasks/?queue_id=hooked").json()
    assert all("callback_secret" not in r and "callback_url" not in r for r in runs)
    stored = json.loads(raw_redis.hget("hippo:queue:hooked", "spec") or b"{}")
    assert stored["callback_secret"].startswith("enc:")  # encrypted at rest
    assert SECRET not in json.dumps(stored)
