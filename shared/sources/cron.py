"""A cron schedule: each fire time (unix timestamp) becomes HIPPO_DATA.

The watermark is the last fire time stored (at first, the queue's creation time); a
poll takes the fire times after it up to now, at most `maxbacklog` of them (the newest,
run oldest first), so each runs once whichever worker polls. Each fire time is a task
of its own (never batched with another: `batches_items` is False).

Schedules are read in the queue's `timezone` (an IANA name, UTC by default), and daylight
saving time is croniter's: a time skipped when clocks go forward fires at the first
existing time after it when the schedule names that hour (`30 2 * * *` at 03:00), and
is skipped by schedules that step over it (`0 * * * *` has no 02:00); a time repeated
when clocks go back fires at both instants (`30 2 * * *` twice on that day). Each fire
time is a distinct unix time, so none runs twice.
"""

from __future__ import annotations

import datetime
import time
import zoneinfo
from typing import Annotated

from pydantic import AfterValidator, Field

from hippo.shared.sources.base import BlockingSource, Fetched, Item, PollRequest
from hippo.shared.sources.settings import SourceSettings, Text

# A schedule must fire within this many years of being saved. The longest wait between
# two fire times of a schedule without croniter's year field is February 29th across a
# century year that is not a leap one (2096 -> 2104): 8 years. So a schedule refused here
# can never fire (`0 0 31 2 *`), or only in a year named further out.
FIRES_WITHIN_YEARS = 8
_YEAR_S = 366 * 24 * 3600


def zone(name: str) -> datetime.tzinfo:
    """The IANA time zone `name` ("UTC", "Europe/Berlin"); ValueError when unknown."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"is not an IANA time zone name (such as UTC or Europe/Berlin), got {name!r}"
        ) from None


def _at(t: float, tz: datetime.tzinfo) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, tz)


def next_fire_time(
    cronstring: str, after: float, within_years: int, tz: datetime.tzinfo = datetime.UTC
) -> float | None:
    """The first fire time (unix s) after `after` and within `within_years`, the
    schedule read in `tz`; None when the schedule has none there."""
    from croniter import CroniterBadDateError, croniter

    try:
        schedule = croniter(cronstring, _at(after, tz), max_years_between_matches=within_years)
        t = float(schedule.get_next(float))
    except CroniterBadDateError:
        return None
    return t if t - after <= within_years * _YEAR_S else None


def _valid_cronstring(value: str) -> str:
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValueError(f"is not a valid cron expression: {value!r}")
    if next_fire_time(value, time.time(), FIRES_WITHIN_YEARS) is None:
        raise ValueError(
            f"never fires: no fire time in the next {FIRES_WITHIN_YEARS} years (UTC): {value!r}"
        )
    return value


def _time_zone_name(value: str) -> str:
    zone(value)
    return value


def _not_negative(value: int) -> int:
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


class CronSettings(SourceSettings):
    # Every minute by default, as in the original Hippo (its page sends nothing for a
    # field left blank).
    cronstring: Annotated[
        Text,
        Field(
            title="Cron expression (croniter syntax)",
            description="minute hour day month weekday, e.g. */5 * * * *; a fire time is an item.",
        ),
        AfterValidator(_valid_cronstring),
    ] = "* * * * *"
    maxbacklog: Annotated[
        int,
        Field(
            title="Missed fire times run after an outage, at most",
            description="0: none; fire times missed while no worker polled, up to this many.",
        ),
        AfterValidator(_not_negative),
    ] = 1
    timezone: Annotated[
        Text,
        Field(title="Time zone the schedule is read in (IANA name, e.g. Europe/Berlin)"),
        AfterValidator(_time_zone_name),
    ] = "UTC"


class CronSource(BlockingSource):
    """No client, but not free: a large maxbacklog walks back through that many fire
    times, which belongs on a thread, not in the poller's event loop."""

    namespace = "cron"
    label = "Cron String"
    settings_model = CronSettings
    batches_items = False

    def fetch_blocking(self, request: PollRequest[CronSettings]) -> Fetched:
        settings = request.settings
        after = (
            float(request.watermark) if request.watermark is not None else request.created_tstamp
        )
        times = fire_times(
            settings.cronstring, after, request.now, settings.maxbacklog, zone(settings.timezone)
        )
        times = times[: request.limit]
        if not times:
            return Fetched(items=[])
        items = [Item(data=_stamp(t), key=_stamp(t)) for t in times]
        return Fetched(items=items, watermark=times[-1])


def _stamp(t: float) -> str:
    return str(int(t)) if t == int(t) else repr(t)


def fire_times(
    cronstring: str,
    after: float,
    now: float,
    maxbacklog: int,
    tz: datetime.tzinfo = datetime.UTC,
) -> list[float]:
    """Fire times (unix s) in (after, now] of the schedule read in `tz`, oldest first,
    each once; only the newest max(maxbacklog, 1) when more were missed (after an outage
    the rest are skipped, never merged into one run). Walks back from now, so a long
    outage costs no more than the backlog."""
    from croniter import CroniterBadDateError, croniter

    keep = max(maxbacklog, 1)
    # A fire time exactly at `now` counts: start the walk just after it.
    schedule = croniter(cronstring, _at(now + 0.001, tz))
    found: list[float] = []
    while len(found) < keep:
        try:
            t = float(schedule.get_prev(float))
        except CroniterBadDateError:  # none before now (a year field still ahead)
            break
        if t <= after:
            break
        if found and t >= found[-1]:  # never the same instant twice, whatever DST does
            break
        found.append(t)
    return found[::-1]
