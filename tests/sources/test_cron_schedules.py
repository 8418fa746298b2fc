"""Cron schedules are checked for whether they ever fire, not only for syntax, and run
in UTC."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import redis
from starlette.testclient import TestClient

from hippo.shared.sources.cron import FIRES_WITHIN_YEARS, fire_times, next_fire_time
from tests.conftest import wait_until
from tests.sources.conftest import PollerThread, create_queue, queue_body, queue_fields

NEVER_FIRES = [
    "0 0 31 2 *",  # February has no 31st
    "0 0 30 2 *",  # nor a 30th
    "0 0 31 4,6,9,11 *",  # these months have 30 days
    "0 0 1 1 * 0 2020",  # croniter's year field: a year gone by
]
RARE_BUT_FIRES = [
    "0 0 29 2 *",  # leap days only
    "0 0 * * 5#5",  # fifth Fridays
    "0 0 L 2 *",  # the last day of February
    "0 0 29 2 * 30",  # leap days, with the seconds field (the 6th)
]


def _unix(*date: int) -> float:
    return datetime(*date, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("cronstring", NEVER_FIRES)
def test_a_schedule_that_never_fires_is_refused_at_save_naming_the_field(
    api: TestClient, cronstring: str
) -> None:
    response = api.post("/queues/", json=queue_body("cron", {"cronstring": cronstring}))
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "queue.cron.cronstring"
    assert f"no fire time in the next {FIRES_WITHIN_YEARS} years" in error["message"]
    assert cronstring in error["message"]


@pytest.mark.parametrize("cronstring", NEVER_FIRES)
def test_an_edit_to_a_schedule_that_never_fires_is_refused(
    api: TestClient, cronstring: str
) -> None:
    queue_id = create_queue(api, "cron", {"cronstring": "* * * * *"})
    body = queue_body("cron", {"cronstring": cronstring}, id=queue_id)
    response = api.put(f"/queues/{queue_id}/", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "queue.cron.cronstring"
    assert api.get(f"/queues/{queue_id}/").json()["queue"]["cron"]["cronstring"] == "* * * * *"


@pytest.mark.parametrize("cronstring", RARE_BUT_FIRES)
def test_a_rare_schedule_that_fires_is_accepted(api: TestClient, cronstring: str) -> None:
    response = api.post("/queues/", json=queue_body("cron", {"cronstring": cronstring}))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "cronstring, after, expected",
    [
        ("0 0 29 2 *", _unix(2024, 3, 1), _unix(2028, 2, 29)),
        # The longest wait of any schedule without a year: 2100 is not a leap year.
        ("0 0 29 2 *", _unix(2097, 3, 1), _unix(2104, 2, 29)),
        ("0 0 1 1 * 0 2030", _unix(2024, 3, 1), _unix(2030, 1, 1)),
        ("0 0 1 1 * 0 2035", _unix(2024, 3, 1), None),  # fires, but beyond the window
        ("0 0 31 2 *", _unix(2024, 3, 1), None),
        ("0 0 30 2 *", _unix(2024, 3, 1), None),
        ("0 0 31 4,6,9,11 *", _unix(2024, 3, 1), None),
        ("0 0 1 1 * 0 2020", _unix(2024, 3, 1), None),
    ],
)
def test_next_fire_time_within_the_window(
    cronstring: str, after: float, expected: float | None
) -> None:
    assert next_fire_time(cronstring, after, FIRES_WITHIN_YEARS) == expected


def test_a_schedule_whose_year_is_still_ahead_has_no_fire_time_yet() -> None:
    now = _unix(2024, 3, 1)
    assert fire_times("0 0 1 1 * 0 2025", now - 400 * 86400, now, 3) == []


@pytest.fixture
def local_timezone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set the process's local timezone (TZ) for a test, restored after it."""

    def use(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "UTC"])
def test_fire_times_are_utc_whatever_the_local_timezone(
    local_timezone: Callable[[str], None], zone: str
) -> None:
    local_timezone(zone)
    after = _unix(2024, 6, 1)
    times = fire_times("30 12 * * *", after, after + 3 * 86400, 10)
    assert times == [_unix(2024, 6, day, 12, 30) for day in (1, 2, 3)]
    assert next_fire_time("30 12 * * *", after, 1) == _unix(2024, 6, 1, 12, 30)


def test_a_stored_schedule_that_never_fires_records_why_on_the_queue(
    api: TestClient, raw_redis: redis.Redis, start_poller: Callable[..., PollerThread]
) -> None:
    # Saved before schedules were checked: the worker names the problem on the queue.
    queue_id = create_queue(api, "cron", {"cronstring": "0 0 1 * *"})
    spec = raw_redis.hget(f"hippo:queue:{queue_id}", "spec")
    assert spec is not None
    raw_redis.hset(f"hippo:queue:{queue_id}", "spec", spec.replace(b'"0 0 1 * *"', b'"0 0 31 2 *"'))
    start_poller()
    wait_until(lambda: "last_error" in queue_fields(raw_redis, queue_id), what="the error")
    error = queue_fields(raw_redis, queue_id)["last_error"]
    assert "queue.cron.cronstring" in error and "never fires" in error
    assert "CroniterBadDateError" not in error
