"""Cron queues: fire times after the watermark, at most maxbacklog, each once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis
from starlette.testclient import TestClient

from hippo.shared.sources.base import PollRequest
from hippo.shared.sources.cron import CronSettings, CronSource, fire_times
from tests.conftest import wait_until
from tests.sources.conftest import PollerThread, create_queue, task_data

MINUTE = 60.0
T0 = 1_700_000_040.0  # a whole minute


@pytest.mark.parametrize(
    "after, now, backlog, expected",
    [
        (T0, T0 + 30, 1, []),
        (T0, T0 + MINUTE, 1, [T0 + MINUTE]),  # a fire time exactly now counts
        (T0, T0 + 5 * MINUTE + 1, 10, [T0 + i * MINUTE for i in range(1, 6)]),
        (T0, T0 + 5 * MINUTE + 1, 2, [T0 + 4 * MINUTE, T0 + 5 * MINUTE]),  # newest, oldest first
        (T0, T0 + 5 * MINUTE, 0, [T0 + 5 * MINUTE]),
        (T0, T0 + 365 * 24 * 3600, 3, [T0 + 365 * 24 * 3600 - i * MINUTE for i in (2, 1, 0)]),
    ],
)
def test_fire_times_catch_up_at_most_maxbacklog(
    after: float, now: float, backlog: int, expected: list[float]
) -> None:
    assert fire_times("* * * * *", after, now, backlog) == expected


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now


def _poll(
    source: CronSource, clock: Clock, watermark: object, limit: int = 100, backlog: int = 3
) -> tuple[list[str], object]:
    settings = CronSettings(cronstring="*/5 * * * *", maxbacklog=backlog)
    fetched = asyncio.run(source.fetch(PollRequest("q", settings, limit, watermark, clock.now, T0)))
    return [i.data for i in fetched.items], (
        fetched.watermark if fetched.watermark is not None else watermark
    )


def test_each_fire_time_runs_once_across_polls_with_a_controllable_clock() -> None:
    source, clock = CronSource(), Clock(T0 + 60)
    seen: list[str] = []
    watermark = None
    for step in range(40):  # every 2 minutes for 80 minutes
        clock.now = T0 + 60 + step * 120
        data, watermark = _poll(source, clock, watermark)
        seen += data
    # T0 is 2023-11-14 22:14:00 UTC; the polls run to T0 + 79 min (23:33). `*/5` fires at
    # 22:15, 22:20, ..., 23:30: each of those once, in order, none missed.
    assert seen == [
        "1700000100",  # 22:15
        "1700000400",
        "1700000700",
        "1700001000",
        "1700001300",
        "1700001600",
        "1700001900",
        "1700002200",
        "1700002500",
        "1700002800",  # 23:00
        "1700003100",
        "1700003400",
        "1700003700",
        "1700004000",
        "1700004300",
        "1700004600",  # 23:30
    ]


def test_backpressure_limit_takes_the_oldest_and_the_rest_later() -> None:
    source, clock = CronSource(), Clock(T0 + 3600)
    first, watermark = _poll(source, clock, None, limit=1, backlog=3)
    second, watermark = _poll(source, clock, watermark, limit=5, backlog=3)
    # Now is 23:14 with a backlog of 3: 23:00, 23:05 and 23:10, the oldest first.
    assert first == ["1700002800"]
    assert second == ["1700003100", "1700003400"]


def test_cron_queue_makes_a_task_per_fire_time(
    api: TestClient, raw_redis: redis.Redis, start_poller: Callable[..., PollerThread]
) -> None:
    # Every second (croniter's optional 6th field is seconds).
    queue_id = create_queue(
        api, "cron", {"cronstring": "* * * * * *", "maxbacklog": 5}, frequency_seconds=0.5
    )
    start_poller()
    wait_until(lambda: len(task_data(raw_redis, queue_id)) >= 2, what="two fire times")
    data = task_data(raw_redis, queue_id)
    assert len(data) == len(set(data)) and all(d.isdigit() for d in data)
