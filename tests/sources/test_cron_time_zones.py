"""Cron queues read their schedule in their `timezone` (IANA names, UTC by default),
daylight saving time as croniter has it, each fire time once; after an outage at most
`maxbacklog` missed fire times run, each with its own HIPPO_DATA."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from starlette.testclient import TestClient

from hippo.shared.sources.base import PollRequest
from hippo.shared.sources.cron import CronSettings, CronSource, fire_times, zone
from tests.sources.conftest import create_queue, queue_body


def local_fire_times(
    zone_name: str, cronstring: str, after: str, now: str, backlog: int = 100
) -> list[str]:
    tz = zone(zone_name)
    found = fire_times(
        cronstring,
        datetime.datetime.fromisoformat(after).timestamp(),
        datetime.datetime.fromisoformat(now).timestamp(),
        backlog,
        tz,
    )
    assert found == sorted(set(found))  # each instant once, in order
    return [datetime.datetime.fromtimestamp(t, tz).isoformat() for t in found]


@pytest.mark.parametrize(
    "zone_name, cronstring, after, now, expected",
    [
        # Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST. A time in the gap
        # fires at the first time after it; an hourly schedule has no 02:00 that day.
        (
            "Europe/Berlin",
            "30 2 * * *",
            "2026-03-28T00:00:00+01:00",
            "2026-03-30T00:00:00+02:00",
            ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00"],
        ),
        (
            "Europe/Berlin",
            "0 * * * *",
            "2026-03-29T00:30:00+01:00",
            "2026-03-29T04:30:00+02:00",
            ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"],
        ),
        # Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET. The repeated hour's
        # times are two instants each: both fire, once each.
        (
            "Europe/Berlin",
            "30 2 * * *",
            "2026-10-24T00:00:00+02:00",
            "2026-10-26T00:00:00+01:00",
            [
                "2026-10-24T02:30:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-25T02:30:00+01:00",
            ],
        ),
        (
            "Europe/Berlin",
            "*/30 * * * *",
            "2026-10-25T01:45:00+02:00",
            "2026-10-25T03:15:00+01:00",
            [
                "2026-10-25T02:00:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-25T02:00:00+01:00",
                "2026-10-25T02:30:00+01:00",
                "2026-10-25T03:00:00+01:00",
            ],
        ),
        # America/New_York, 2026-03-08: 02:00 EST becomes 03:00 EDT; 9:00 stays 9:00
        # local (14:00 UTC, then 13:00 UTC).
        (
            "America/New_York",
            "30 2 * * *",
            "2026-03-07T00:00:00-05:00",
            "2026-03-09T00:00:00-04:00",
            ["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00"],
        ),
        (
            "America/New_York",
            "0 9 * * *",
            "2026-03-07T00:00:00-05:00",
            "2026-03-09T00:00:00-04:00",
            ["2026-03-07T09:00:00-05:00", "2026-03-08T09:00:00-04:00"],
        ),
        # America/New_York, 2026-11-01: 02:00 EDT becomes 01:00 EST.
        (
            "America/New_York",
            "30 1 * * *",
            "2026-10-31T00:00:00-04:00",
            "2026-11-02T00:00:00-05:00",
            [
                "2026-10-31T01:30:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-01T01:30:00-05:00",
            ],
        ),
        # UTC, the default, has no DST: the same schedule is 24 hours apart.
        (
            "UTC",
            "30 1 * * *",
            "2026-10-31T00:00:00+00:00",
            "2026-11-02T00:00:00+00:00",
            ["2026-10-31T01:30:00+00:00", "2026-11-01T01:30:00+00:00"],
        ),
    ],
    ids=[
        "berlin-spring-gap-daily",
        "berlin-spring-gap-hourly",
        "berlin-fall-repeat-daily",
        "berlin-fall-repeat-half-hourly",
        "new-york-spring-gap-daily",
        "new-york-spring-9am-local",
        "new-york-fall-repeat-daily",
        "utc",
    ],
)
def test_fire_times_on_a_dst_day_are_croniters_each_once(
    zone_name: str, cronstring: str, after: str, now: str, expected: list[str]
) -> None:
    assert local_fire_times(zone_name, cronstring, after, now) == expected


def test_after_an_outage_across_the_repeated_hour_at_most_maxbacklog_run() -> None:
    # Down from midnight to 05:30 on Berlin's fall-back day: six hourly fire times were
    # missed (02:00 twice); the newest three run, oldest first.
    assert local_fire_times(
        "Europe/Berlin", "0 * * * *", "2026-10-25T00:00:00+02:00", "2026-10-25T05:30:00+01:00", 3
    ) == ["2026-10-25T03:00:00+01:00", "2026-10-25T04:00:00+01:00", "2026-10-25T05:00:00+01:00"]


def test_each_missed_fire_time_is_an_item_of_its_own_with_its_time_as_data() -> None:
    settings = CronSettings(cronstring="0 * * * *", maxbacklog=3, timezone="Europe/Berlin")
    after = datetime.datetime.fromisoformat("2026-10-25T00:00:00+02:00").timestamp()
    now = datetime.datetime.fromisoformat("2026-10-25T05:30:00+01:00").timestamp()
    fetched = asyncio.run(CronSource().fetch(PollRequest("q", settings, 100, after, now, 0.0)))
    hours = [
        datetime.datetime.fromtimestamp(int(i.data), zone("Europe/Berlin")).hour
        for i in fetched.items
    ]
    assert hours == [3, 4, 5]
    assert [i.key for i in fetched.items] == [i.data for i in fetched.items]
    assert fetched.watermark == float(fetched.items[-1].data)
    assert CronSource.batches_items is False  # the poller never joins them


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "CEST", "../etc/passwd", ""])
def test_an_unknown_time_zone_is_refused_naming_the_field(api: TestClient, name: str) -> None:
    response = api.post(
        "/queues/", json=queue_body("cron", {"cronstring": "0 9 * * *", "timezone": name})
    )
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "queue.cron.timezone"
    assert "IANA time zone" in error["message"]
    assert api.get("/queues/").json() == []


def test_a_cron_queue_reads_utc_unless_told_and_keeps_its_time_zone(api: TestClient) -> None:
    plain = create_queue(api, "cron", {"cronstring": "0 9 * * *"})
    berlin = create_queue(api, "cron", {"cronstring": "0 9 * * *", "timezone": "Europe/Berlin"})
    assert api.get(f"/queues/{plain}/").json()["queue"]["cron"]["timezone"] == "UTC"
    assert api.get(f"/queues/{berlin}/").json()["queue"]["cron"]["timezone"] == "Europe/Berlin"
