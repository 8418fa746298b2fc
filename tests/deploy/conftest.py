"""Fixtures for the deployment and CLI-client tests: real `hippo api` processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def start_api(redis_server: str) -> Iterator[Callable[..., str]]:
    """Factory: a `python -m hippo api` process with extra HIPPO_* env; answers its URL.

    Module-scoped, so the few processes a module needs start once; `hippo_url` empties
    Redis before each test. Every process is stopped at the end of the module.
    """
    processes: list[subprocess.Popen[bytes]] = []
    started: dict[tuple[tuple[str, str], ...], str] = {}

    def start(**env: str) -> str:
        key = tuple(sorted(env.items()))
        if key in started:
            return started[key]
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "hippo", "api", "--port", str(port), "--workers", "1"],
            env={**os.environ, "HIPPO_REDIS_URL": redis_server, **env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(process)
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"hippo api exited with {process.returncode}")
            try:
                return httpx.get(f"{url}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, timeout_s=20, what="hippo api to answer")
        started[key] = url
        return url

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def hippo_url(start_api: Callable[..., str], redis_url: str) -> str:
    """An open `hippo api` (no tokens) over an empty Redis."""
    return start_api()
