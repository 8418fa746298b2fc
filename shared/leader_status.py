"""What the leader tells about Mesos, as stored and as `GET /status/` answers it, and
the waiting reasons that follow from it for every waiting task at once. Pure.

The leader writes a `LeaderReport` (worker/leader_status.py) every
LEADER_STATUS_EVERY_S seconds under `<prefix>leader:status` with an expiry of
LEADER_STATUS_TTL_S: while no worker leads, the key is gone. The reasons derived here
(no leader, the master unreachable, no offers lately) hold for all waiting runs, so the
API derives them when it answers instead of the leader writing them on every run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypedDict

from hippo.shared.tunables import NO_OFFERS_S


class LeaderReport(TypedDict):
    worker_id: str  # host:pid of the leading worker
    epoch: int
    leader_since: float  # unix seconds
    framework_id: str | None
    subscribed_since: float | None  # None: not subscribed now
    master: str | None  # the scheduler URL of the master subscribed to (last one)
    offers_seen: int  # offers received in this leadership term
    agents_seen: int  # distinct agents that sent them
    offers_held: int
    last_offer_tstamp: float | None
    last_mesos_error: str | None
    last_mesos_error_tstamp: float | None
    updated_tstamp: float


def parse_report(raw: bytes | str | None) -> LeaderReport | None:
    """The stored report, None when there is none (no leader) or it cannot be read."""
    if raw is None:
        return None
    try:
        found = json.loads(raw)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None  # type: ignore[return-value]


def shared_reason(report: LeaderReport | None) -> str | None:
    """The reason every waiting task waits for, whatever the offers: no leader, or the
    leader not subscribed to Mesos; None when neither holds."""
    if report is None:
        return (
            "no leader: no worker holds the leader lock (is a `hippo worker` running "
            "and reaching Redis?)"
        )
    if report.get("subscribed_since") is None:
        error = report.get("last_mesos_error")
        if not error:  # a new leader, subscribing: nothing failed yet
            return "the leader is not subscribed to Mesos yet: it is subscribing"
        return f"the Mesos master is unreachable, or refused the framework: {error}"
    return None


def no_offers_reason(report: LeaderReport, created_tstamp: float, now: float) -> str | None:
    """'No offers lately' for a run created at `created_tstamp`, when no offer came
    for NO_OFFERS_S seconds while it waited; None otherwise."""
    if now - created_tstamp < NO_OFFERS_S:
        return None
    since = max(_quiet_since(report, now), created_tstamp)
    if now - since < NO_OFFERS_S:
        return None
    return (
        f"no offers from Mesos in the last {int(now - since)} s: the cluster has no "
        "free resources for this framework's role (or its agents are gone)"
    )


def waiting_reason(
    report: LeaderReport | None, status: Mapping[str, Any], now: float
) -> str | None:
    """The pending_reason to show for a waiting run's status, given the leader's report:
    a shared reason first, then 'no offers lately', else what the leader wrote."""
    stored: str | None = status.get("pending_reason")
    if status.get("mesos_state") != "WAITING_ON_OFFERS":
        return stored
    due = status.get("retry_due_tstamp")
    if isinstance(due, int | float) and due > now:
        return stored  # "retry due at …": a delayed retry waits for its time first
    shared = shared_reason(report)
    if shared is not None:
        return shared
    assert report is not None
    created = status.get("created_tstamp")
    if isinstance(created, int | float):
        lately = no_offers_reason(report, float(created), now)
        if lately is not None:
            return lately
    return stored


def may_override(report: LeaderReport | None, now: float) -> bool:
    """Whether any waiting run's reason could differ from the stored one (cheap: when
    False, records are answered as stored, without decoding)."""
    if shared_reason(report) is not None:
        return True
    assert report is not None
    return now - _quiet_since(report, now) >= NO_OFFERS_S


def _quiet_since(report: LeaderReport, now: float) -> float:
    """Since when no offer came: the last offer, or the subscription when later."""
    subscribed = report.get("subscribed_since")
    last = report.get("last_offer_tstamp")
    return max(now if subscribed is None else float(subscribed), float(last or 0.0))
