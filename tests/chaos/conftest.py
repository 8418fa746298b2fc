"""Fixtures of the fault runs: `make_rig(fault, **MasterConfig overrides)` builds a
tests/chaos/harness.Rig and stops it after the test; every test here carries the
`chaos` marker and runs HIPPO_CHAOS_RUNS times (1 by default) as `run` 0, 1, ..."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.harness import Rig
from tests.chaos.sources import (
    SOURCE_KINDS,
    Feed,
    cron_feed,
    redis_feed,
    s3_feed,
    sql_feed,
    sqs_feed,
)
from tests.conftest import need_service
from tests.sources.conftest import moto_endpoint, mysql, postgres  # noqa: F401  (fixtures)

postgresql = postgres

RUNS_ENV = "HIPPO_CHAOS_RUNS"


def chaos_runs(env: dict[str, str] | os._Environ[str] = os.environ) -> int:
    """How many times each fault runs (HIPPO_CHAOS_RUNS, default 1)."""
    raw = env.get(RUNS_ENV, "1")
    try:
        runs = int(raw)
    except ValueError:
        raise pytest.UsageError(f"{RUNS_ENV} must be a whole number >= 1, got {raw!r}") from None
    if runs < 1:
        raise pytest.UsageError(f"{RUNS_ENV} must be a whole number >= 1, got {raw!r}")
    return runs


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "run" in metafunc.fixturenames:
        metafunc.parametrize("run", range(chaos_runs()))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.chaos)


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    if not shutil.which("redis-server"):
        need_service("redis-server is not installed (apt-get install redis-server)")
    rigs: list[Rig] = []

    def make(fault: str, **master: Any) -> Rig:
        rig = Rig(fault, tmp_path / f"rig{len(rigs)}", **master)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.stop()


@pytest.fixture
def feeds(
    redis_server: str,
    moto_endpoint: str,  # noqa: F811 (the fixture imported above)
    postgresql: Any,
    mysql: Any,  # noqa: F811
) -> Iterator[list[Feed]]:
    """One source of each kind (sources.SOURCE_KINDS, in that order) on the source tests'
    backends, which are set up before and torn down after them."""
    made = [
        redis_feed(redis_server),
        sqs_feed(moto_endpoint),
        s3_feed(moto_endpoint),
        sql_feed(postgresql, "postgresql"),
        sql_feed(mysql, "mysql"),
        cron_feed(),
    ]
    for kind, feed in zip(SOURCE_KINDS, made, strict=True):
        feed.kind = kind
    yield made
    for feed in made:
        feed.close()
