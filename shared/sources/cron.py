"""A cron schedule: each fire time (unix timestamp) becomes HIPPO_DATA."""

from hippo.shared.sources.base import Param, Source


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
        Param("maxbacklog", type="int", default=1,
              label="Missed fire times run after an outage, at most", check=_check_backlog),
    )
