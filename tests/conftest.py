"""Fixtures: a real redis-server of our own on a free port, the API app, clients.

Tests never touch data they did not create: they use their own Redis server
process (flushed between tests), never the machine's shared one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from hippo.api.app import create_app
from hippo.shared.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Every wait for a condition is bounded by a deadline, which only matters when the
# condition never comes. A loaded machine (CI beside other jobs) can be several times
# slower than a quiet one, so each test's deadline is multiplied by this factor.
DEADLINE_SCALE = float(os.environ.get("HIPPO_TEST_DEADLINE_SCALE", "3"))


def need_service(reason: str) -> None:
    """Skip a test that lacks a service, except in CI, where that is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service fails the run)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    condition: Callable[[], object], timeout_s: float = 10.0, what: str = "condition"
) -> object:
    """Poll `condition` until it returns something truthy, failing after the deadline
    (`timeout_s` times DEADLINE_SCALE)."""
    timeout_s *= DEADLINE_SCALE
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def start_hippo_api(
    redis_url: str, *, workers: int = 1, output: Any = subprocess.DEVNULL, **env: str
) -> tuple[subprocess.Popen[bytes], str]:
    """A `python -m hippo api` process on a free port, once it answers /healthz; returns
    the process (the caller stops it) and its URL."""
    import httpx

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hippo", "api", "--port", str(port), "--workers", str(workers)],
        env={**os.environ, "HIPPO_REDIS_URL": redis_url, **env},
        stdout=output,
        stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stop_process reaches its workers
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"hippo api exited with {process.returncode}")
        try:
            return httpx.get(f"{url}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(up, timeout_s=20, what="hippo api to answer")
    except AssertionError:
        stop_process(process, timeout_s=0)
        raise
    return process, url


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> bytes:
    """Stop a process started in its own session and everything it started: SIGTERM
    to its group, SIGKILL after `timeout_s` (times DEADLINE_SCALE); always reaped, its
    pipes closed, so that nothing is left running into a later test. Returns what it
    wrote to a stdout pipe (b"" without one)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            output = process.communicate(timeout=timeout_s * DEADLINE_SCALE)[0]
            return output or b""
        except subprocess.TimeoutExpired:
            continue
    return process.communicate()[0] or b""


class RedisServer:
    """A redis-server process of our own; can be stopped and started on the same port."""

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        appendonly: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        """`appendonly`: every write fsynced to an AOF in `directory` before it is
        answered, so a restart on the same port and directory loses nothing.
        `extra_args`: more redis-server options (`--replicaof 127.0.0.1 6390`)."""
        self.port = port or free_port()
        self.directory = directory
        self.appendonly = appendonly
        self.extra_args = tuple(extra_args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        try:
            wait_until(answers, what=f"redis-server on port {self.port}")
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis of our own for the whole session. Without a redis-server binary the
    tests that need it skip (fail under CI=true): no other Redis stands in for it."""
    if not shutil.which("redis-server"):
        need_service("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """Our own Redis, empty at the start of each test."""
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    yield redis_server


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def make_settings(redis_url: str) -> Callable[..., Settings]:
    def make(**env: str) -> Settings:
        return Settings.from_env({"HIPPO_REDIS_URL": redis_url, **env})

    return make


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Factory of API clients; each runs the app's lifespan and is closed after the test."""
    clients: list[TestClient] = []

    def make(**env: str) -> TestClient:
        client = TestClient(create_app(make_settings(**env)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
