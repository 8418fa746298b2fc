"""GET /status/: the leader, its Mesos subscription and the task counts; and the
waiting reasons that hold for every waiting task, applied to task answers.

The leader's report (hippo.shared.leader_status) is read once per LEADER_STATUS_CACHE_S
per API process for task answers: records are answered as stored (without decoding)
unless a reason derived from it may apply.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson
import pydantic_core
from starlette.requests import Request
from starlette.responses import Response

from hippo.api.responses import json_response
from hippo.shared.leader_status import (
    LeaderReport,
    may_override,
    parse_report,
    shared_reason,
    waiting_reason,
)
from hippo.shared.store import Store
from hippo.shared.store.status import StatusFacts
from hippo.shared.store.tasks import merge_json_objects
from hippo.shared.tunables import LEADER_STATUS_CACHE_S

# A record holds this only while its run waits (its mesos_state); JSON writers may put a
# space after the colon, never inside the quoted value.
_WAITING = b'"WAITING_ON_OFFERS"'


def status_body(report: LeaderReport | None, facts: StatusFacts) -> dict[str, Any]:
    """The /status/ answer from the leader's report and the store's counts."""
    r: dict[str, Any] = dict(report or {})
    leader = (
        {"worker_id": r.get("worker_id"), "epoch": r.get("epoch"), "since": r.get("leader_since")}
        if report is not None
        else None
    )
    waiting_reason_now = shared_reason(report)
    return {
        "leader": leader,
        "framework_id": r.get("framework_id") or facts.framework_id,
        "subscribed_since": r.get("subscribed_since"),
        "master": r.get("master"),
        "offers_seen": r.get("offers_seen"),
        "agents_seen": r.get("agents_seen"),
        "offers_held": r.get("offers_held"),
        "last_offer_tstamp": r.get("last_offer_tstamp"),
        "last_mesos_error": r.get("last_mesos_error"),
        "last_mesos_error_tstamp": r.get("last_mesos_error_tstamp"),
        "report_tstamp": r.get("updated_tstamp"),
        "waiting": facts.waiting,
        "staging": facts.staging,
        "running": facts.running,
        "waiting_reason": waiting_reason_now,
    }


async def get_status(request: Request) -> Response:
    store: Store = request.app.state.store
    facts = await store.status_facts()
    return json_response(status_body(parse_report(facts.report), facts))


class ReportCache:
    """The leader's report as an API process last read it, for LEADER_STATUS_CACHE_S."""

    def __init__(self) -> None:
        self._report: LeaderReport | None = None
        self._read_at = -float("inf")

    async def get(self, store: Store) -> LeaderReport | None:
        now = time.monotonic()
        if now - self._read_at > LEADER_STATUS_CACHE_S:
            self._report = parse_report(await store.leader_report())
            self._read_at = now
        return self._report


async def _reasons_may_change(request: Request) -> tuple[LeaderReport | None, float] | None:
    """(the leader's report, now) when a waiting run's pending_reason may differ from
    the stored one; None when every record can be answered as stored."""
    cache: ReportCache = request.app.state.report_cache
    report = await cache.get(request.app.state.store)
    now = time.time()
    return (report, now) if may_override(report, now) else None


def _with_reason_now(text: bytes, report: LeaderReport | None, now: float) -> bytes:
    """A waiting run's status (or whole record) JSON object text with its pending_reason
    as it stands now. orjson reads and writes it in half pydantic_core's time; what it
    refuses (NaN, integers past 64 bits) pydantic_core reads and writes, as before."""
    try:
        found = orjson.loads(text)
    except orjson.JSONDecodeError:
        found = pydantic_core.from_json(text)
        found["pending_reason"] = waiting_reason(report, found, now)
        return pydantic_core.to_json(found)
    found["pending_reason"] = waiting_reason(report, found, now)
    return orjson.dumps(found)


async def with_waiting_reason(request: Request, record: bytes) -> bytes:
    """A task record's JSON with its pending_reason as it stands now, when it waits
    (README: Why is my task waiting?)."""
    if _WAITING not in record:
        return record
    reasons = await _reasons_may_change(request)
    if reasons is None:
        return record
    return _with_reason_now(record, *reasons)


async def records_with_waiting_reasons(
    request: Request, rows: Sequence[tuple[bytes, bytes]]
) -> list[bytes]:
    """Task records, each given as a (spec, status) pair of JSON object texts, as record
    texts with the pending_reason of waiting runs as it stands now. Only the statuses of
    waiting runs are decoded: the reason depends on nothing else."""
    reasons = None
    if any(_WAITING in status for _, status in rows):
        reasons = await _reasons_may_change(request)
    if reasons is None:
        return [merge_json_objects(spec, status) for spec, status in rows]
    report, now = reasons
    return [
        merge_json_objects(
            spec, _with_reason_now(status, report, now) if _WAITING in status else status
        )
        for spec, status in rows
    ]
