"""Fixtures for the deployment and CLI-client tests: real `hippo api` processes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hippo.cli import main
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


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[str]:
        return self.out.rstrip("\n").splitlines()


Hippo = Callable[..., Result]


@pytest.fixture
def hippo(
    hippo_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Hippo:
    """Runs `hippo ARGS...` in this process, aimed at the test's API through HIPPO_URL."""
    monkeypatch.setenv("HIPPO_URL", hippo_url)
    monkeypatch.delenv("HIPPO_TOKEN", raising=False)

    def run(*argv: str, **env: str) -> Result:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(argv))
        captured = capsys.readouterr()
        code = exited.value.code
        return Result(code if isinstance(code, int) else 1, captured.out, captured.err)

    return run
