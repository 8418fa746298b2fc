"""Fixtures for the deployment and CLI-client tests: real `hippo api` processes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import start_hippo_api

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
        process, url = start_hippo_api(redis_server, **env)
        processes.append(process)
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
