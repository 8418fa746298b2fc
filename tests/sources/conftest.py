"""Fixtures of the source tests: queues made through the API, pollers in threads or
processes, and the backends (our Redis, moto's server for SQS and S3, PostgreSQL,
MariaDB)."""

from __future__ import annotations

import asyncio
import copy
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from hippo.shared.settings import Settings
from hippo.worker.polling import run_polling
from tests.conftest import free_port, need_service

JOB: dict[str, Any] = {
    "container": {"docker": {"image": "busybox"}},
    "mem": 32,
    "cpus": 0.1,
    "cmd": "echo $HIPPO_DATA",
    "env": {"ITEM": "item=$HIPPO_DATA"},
}


def queue_body(queue_type: str, settings: dict[str, Any], **block: Any) -> dict[str, Any]:
    body = copy.deepcopy(JOB)
    body["id"] = block.pop("id", f"q-{uuid.uuid4().hex[:8]}")
    body["queue"] = {"type": queue_type, "frequency_seconds": 0.2, **block, queue_type: settings}
    return body


def create_queue(api: TestClient, queue_type: str, settings: dict[str, Any], **block: Any) -> str:
    response = api.post("/queues/", json=queue_body(queue_type, settings, **block))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


class PollerThread:
    """run_polling in a thread with its own event loop, stopped on exit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        started = threading.Event()
        self._started = started
        self.thread.start()
        started.wait(10)

    def _run(self) -> None:
        async def main() -> None:
            self.stop_event = asyncio.Event()
            self._started.set()
            await run_polling(self.settings, self.stop_event)

        try:
            self.loop.run_until_complete(main())
        except BaseException as e:
            self.error = e
        finally:
            self.loop.close()

    def stop(self) -> None:
        if self.thread.is_alive():
            assert self.stop_event is not None
            self.loop.call_soon_threadsafe(self.stop_event.set)
            self.thread.join(15)
        assert not self.thread.is_alive(), "run_polling did not return after stop"
        assert self.error is None, f"run_polling raised {self.error!r}"


@pytest.fixture
def start_poller(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., PollerThread]]:
    pollers: list[PollerThread] = []

    def start(**env: str) -> PollerThread:
        poller = PollerThread(make_settings(**{"HIPPO_POLL_IDLE_S": "0.05", **env}))
        pollers.append(poller)
        return poller

    yield start
    for poller in pollers:
        poller.stop()


@pytest.fixture
def redis_source(redis_url: str) -> dict[str, Any]:
    """Settings of a redis queue reading a list on our own Redis (database 1)."""
    parts = urlsplit(redis_url)
    return {
        "host": parts.hostname,
        "port": parts.port,
        "db": 1,
        "name": f"work-{uuid.uuid4().hex[:8]}",
    }


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        need_service("moto[server] is not installed")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def aws_settings(endpoint: str) -> dict[str, Any]:
    return {
        "awskey": "testing",
        "awssecret": "testing-secret",
        "awsregion": "us-east-1",
        "endpoint_url": endpoint,
    }


def boto_client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )


POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
MYSQL_URL = "mysql://root@127.0.0.1:3306/test"


def _service_answers(name: str, url: str) -> None:
    """The one condition that makes a database service "missing": nothing accepts a TCP
    connection at its address (refused, unreachable, no answer). Once it accepts one,
    any error of the test's own connection (authentication, no such database) fails."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 0)
    try:
        with socket.create_connection(address, timeout=3):
            pass
    except OSError as e:
        need_service(f"{name} is not reachable at {url}: {e}")


@pytest.fixture
def postgres() -> Iterator[Any]:
    """A connection to the local PostgreSQL (autocommit)."""
    import psycopg2  # a test dependency: its absence is an error, not a missing service

    _service_answers("PostgreSQL", POSTGRES_URL)
    conn = psycopg2.connect(POSTGRES_URL, connect_timeout=3)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def mysql() -> Iterator[Any]:
    """A connection to the local MariaDB/MySQL (autocommit)."""
    import pymysql  # a test dependency: its absence is an error, not a missing service

    _service_answers("MariaDB/MySQL", MYSQL_URL)
    parts = urlsplit(MYSQL_URL)
    conn = pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username,
        database=parts.path.lstrip("/"),
        autocommit=True,
        connect_timeout=3,
    )
    yield conn
    conn.close()


def task_data(raw_redis: Any, queue_id: str, prefix: str = "hippo:") -> list[str]:
    """HIPPO_DATA of every task the queue made, in creation order."""
    import json

    ids = raw_redis.zrange(f"{prefix}tasks:queue:{queue_id}", 0, -1)
    pipe = raw_redis.pipeline()
    for mesos_id in ids:
        pipe.hget(f"{prefix}task:{mesos_id.decode()}", "spec")
    return [json.loads(spec)["env"]["HIPPO_DATA"] for spec in pipe.execute()]


def queue_fields(raw_redis: Any, queue_id: str, prefix: str = "hippo:") -> dict[str, str]:
    return {
        k.decode(): v.decode() for k, v in raw_redis.hgetall(f"{prefix}queue:{queue_id}").items()
    }
