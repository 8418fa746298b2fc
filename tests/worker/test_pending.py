"""Why a waiting run waits: the reasons an offer round writes (worker/pending.py) and
the ones the API derives from the leader's report (shared/leader_status.py). Pure."""

from __future__ import annotations

from typing import Any

import pytest

from hippo.shared.leader_status import LeaderReport, may_override, waiting_reason
from hippo.worker.matching import Candidate, MatchState, OfferView, Rule
from hippo.worker.pending import ID_REASON_REFRESH_S, ReasonBook, explain


def offer(oid: str, host: str, cpus: float, mem: float, **attributes: str) -> OfferView:
    return OfferView(oid, f"agent-{host}", host, attributes, cpus, mem)


def task(cpus: float = 1, mem: float = 128, **fields: Any) -> Candidate:
    return Candidate(
        **{"mesos_id": "t.1", "task_id": "t", "queue_id": None, **fields}, cpus=cpus, mem=mem
    )


OFFERS = [offer("o1", "a1", 2, 1024, rack="r1"), offer("o2", "a2", 1.5, 4096, rack="r2")]


@pytest.mark.parametrize(
    ("candidate", "state", "expected"),
    [
        (
            task(cpus=4, mem=100),
            MatchState(),
            "no offer has enough cpus and mem: it needs 4 cpus and 100 MiB; the largest "
            "offers seen had 2 cpus and 4096 MiB",
        ),
        (
            task(rules=(Rule.parse(["rack", "IS", "r9"]), Rule.parse(["hostname", "LIKE", "a.*"]))),
            MatchState(),
            'constraints match no agent: ["rack", "IS", "r9"] holds on none of 2 agent(s) '
            "with enough cpus and mem (a1, a2)",
        ),
        (
            # Each rule holds somewhere, never both on one agent.
            task(rules=(Rule.parse(["rack", "IS", "r1"]), Rule.parse(["hostname", "IS", "a2"]))),
            MatchState(),
            "constraints match no agent: no one agent meets them all, of 2 agent(s) with "
            "enough cpus and mem (a1, a2)",
        ),
        (
            task(max_concurrent=2),
            MatchState(active_by_id={"t": 2}),
            "task id t is at its max_concurrent: 2 of 2 running",
        ),
        (
            task(queue_id="q", queue_max_concurrent=3),
            MatchState(active_by_queue={"q": 3}),
            "queue q is at its max_concurrent: 3 of 3 running",
        ),
        (
            task(),
            MatchState(),
            "the offers that fit were used by older tasks; waiting for the next offers",
        ),
    ],
)
def test_a_run_not_launched_is_told_the_first_thing_that_kept_it_back(
    candidate: Candidate, state: MatchState, expected: str
) -> None:
    assert explain(candidate, OFFERS, state) == expected


def test_the_book_writes_a_run_s_reason_only_when_it_changes() -> None:
    book = ReasonBook()
    runs, ids = book.changed({"a.1": "x", "b.1": "y"}, {"t": "capped"}, now=0.0)
    assert (runs, ids) == ({"a.1": "x", "b.1": "y"}, {"t": "capped"})
    book.note(runs, ids, now=0.0)
    assert book.changed({"a.1": "x", "b.1": "z"}, {"t": "capped"}, now=1.0) == ({"b.1": "z"}, {})
    # A capped id's reason goes out again now and then: its runs created since get it too.
    later = ID_REASON_REFRESH_S + 1
    assert book.changed({}, {"t": "capped"}, now=later) == ({}, {"t": "capped"})
    book.forget("a.1")  # claimed: the store cleared its reason
    assert book.changed({"a.1": "x"}, {}, now=1.0) == ({"a.1": "x"}, {})


def report(**fields: Any) -> LeaderReport:
    base: dict[str, Any] = {
        "worker_id": "h:1",
        "epoch": 1,
        "leader_since": 0.0,
        "framework_id": "f",
        "subscribed_since": 0.0,
        "master": "http://m/api/v1/scheduler",
        "offers_seen": 1,
        "agents_seen": 1,
        "offers_held": 0,
        "last_offer_tstamp": 990.0,
        "last_mesos_error": None,
        "last_mesos_error_tstamp": None,
        "updated_tstamp": 1000.0,
    }
    return LeaderReport(**{**base, **fields})  # type: ignore[typeddict-item]


WAITING = {"mesos_state": "WAITING_ON_OFFERS", "created_tstamp": 900.0, "pending_reason": "stored"}


@pytest.mark.parametrize(
    ("leader", "status", "expected"),
    [
        (None, WAITING, "no leader: no worker holds the leader lock"),
        (
            report(subscribed_since=None, last_mesos_error="connection refused"),
            WAITING,
            "the Mesos master is unreachable, or refused the framework: connection refused",
        ),
        # A new leader still subscribing: nothing failed, nothing to blame yet.
        (report(subscribed_since=None), WAITING, "the leader is not subscribed to Mesos yet"),
        (report(last_offer_tstamp=100.0), WAITING, "no offers from Mesos in the last 100 s"),
        # Created moments ago: the leader has just revived offers, give them time.
        (report(last_offer_tstamp=100.0), {**WAITING, "created_tstamp": 990.0}, "stored"),
        (report(), WAITING, "stored"),
        # A delayed retry not yet due waits for its time before anything else.
        (None, {**WAITING, "retry_due_tstamp": 1100.0, "pending_reason": "retry due"}, "retry due"),
        (None, {**WAITING, "mesos_state": "TASK_RUNNING", "pending_reason": None}, None),
    ],
)
def test_reasons_that_hold_for_every_waiting_run_come_from_the_leader_s_report(
    leader: LeaderReport | None, status: dict[str, Any], expected: str | None
) -> None:
    found = waiting_reason(leader, status, now=1000.0)
    if expected is None:
        assert found is None
    else:
        assert found is not None and found.startswith(expected)


def test_records_are_answered_as_stored_while_the_leader_is_fine() -> None:
    assert not may_override(report(), now=1000.0)
    assert may_override(None, now=1000.0)
    assert may_override(report(last_offer_tstamp=10.0), now=1000.0)
