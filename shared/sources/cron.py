"""A cron schedule: each fire time (unix timestamp) becomes HIPPO_DATA.

The watermark is the last fire time stored (at first, the queue's creation time); a
poll takes the fire times after it up to now, at most `maxbacklog` of them (the newest,
run oldest first), so each runs once whichever worker polls.
"""

from __future__ import annotations

from hippo.shared.sources.base import Fetched, Item, Param, PollRequest, Source


def _check_cronstring(value: str) -> None:
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValueError(f"is not a valid cron expression: {value!r}")


def _check_backlog(value: int) -> None:
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")


class CronSource(Source):
    namespace = "cron"
    label = "Cron String"
    params = (
        Param("cronstring", label="Cron expression (croniter syntax)", check=_check_cronstring),
        Param(
            "maxbacklog",
            type="int",
            default=1,
            label="Missed fire times run after an outage, at most",
            check=_check_backlog,
        ),
    )

    def fetch(self, request: PollRequest) -> Fetched:
        settings = request.settings
        after = (
            float(request.watermark) if request.watermark is not None else request.created_tstamp
        )
        times = fire_times(settings["cronstring"], after, request.now, settings["maxbacklog"])
        times = times[: request.limit]
        if not times:
            return Fetched(items=[])
        items = [Item(data=_stamp(t), key=_stamp(t)) for t in times]
        return Fetched(items=items, watermark=times[-1])


def _stamp(t: float) -> str:
    return str(int(t)) if t == int(t) else repr(t)


def fire_times(cronstring: str, after: float, now: float, maxbacklog: int) -> list[float]:
    """Fire times in (after, now], oldest first; only the newest max(maxbacklog, 1) when
    more were missed. Walks back from now, so a long outage costs no more than the backlog."""
    from croniter import croniter

    keep = max(maxbacklog, 1)
    # A fire time exactly at `now` counts: start the walk just after it.
    schedule = croniter(cronstring, now + 0.001)
    found: list[float] = []
    while len(found) < keep:
        t = float(schedule.get_prev(float))
        if t <= after:
            break
        found.append(t)
    return found[::-1]
