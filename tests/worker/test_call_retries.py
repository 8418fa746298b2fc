"""Calls Mesos did not take are tried again: a REVIVE answered 503 goes out again
after a backoff, so a task created while offers are suppressed still launches."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from hippo.shared.settings import Settings
from hippo.shared.store.leadership import ActiveTask
from hippo.worker.call_retry import call_retry_s
from hippo.worker.kills import KillBook
from hippo.worker.mesos import MesosError
from hippo.worker.metrics import WorkerMetrics
from hippo.worker.offer_book import OfferBook, OfferSupply
from tests.conftest import wait_until

from .conftest import Cluster
from .test_worker import post_task, state_of


def test_a_revive_answered_503_is_sent_again_and_the_task_launches(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    cluster = make_cluster(agents=1)
    cluster.start_worker()
    cluster.leader()

    def suppressed() -> bool:
        frameworks = cluster.devmaster.state()["frameworks"]
        return bool(frameworks) and frameworks[0]["suppressed_roles"] == ["*"]

    wait_until(suppressed, 20, "the idle leader to suppress offers")
    cluster.devmaster.fail_calls("REVIVE", 1)
    task = post_task(api, "true", id="after-503")
    wait_until(lambda: cluster.devmaster.failing_calls("REVIVE") == 0, 20, "a REVIVE refused")
    # Nothing else arrives: only the REVIVE sent again brings the offer for this task.
    wait_until(lambda: state_of(api, task["mesos_id"]) == "TASK_FINISHED", 20, "the task ran")


@pytest.mark.parametrize(
    ("failures", "wait_s"),
    [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (10_000, 30.0)],
)
def test_a_failed_call_waits_a_doubling_backoff_truncated(failures: int, wait_s: float) -> None:
    assert call_retry_s(failures, first_s=0.5, cap_s=30.0) == wait_s


def test_a_failed_revive_is_still_wanted_after_its_backoff_and_a_success_resets_it() -> None:
    book = OfferBook(hold_s=2, revive_min_interval_s=0)
    book.suppressed = True
    book.revive_sent(now=100.0)
    assert book.revive_failed(now=100.0) == call_retry_s(1)
    assert book.suppressed  # offers do not flow: the REVIVE is still wanted
    assert book.revive_wait_s(now=100.0) == call_retry_s(1)
    assert book.revive_wait_s(now=100.0 + call_retry_s(1)) == 0
    assert book.revive_failed(now=200.0) == call_retry_s(2)  # failed again: longer
    book.revive_done()
    assert not book.suppressed and book.revive_wait_s(now=200.0) == 0


def test_a_failed_decline_is_declined_again_after_its_backoff() -> None:
    book = OfferBook(hold_s=2)
    book.decline_failed(["o1"], now=100.0)
    assert book.wait_s(now=100.0) == call_retry_s(1)  # a round is woken for it
    assert book.declines_due(["o2"], now=100.0) == ["o2"]  # o1 not yet
    assert book.declines_due([], now=100.0 + call_retry_s(1)) == ["o1"]
    assert book.declines_due([], now=200.0) == []


def test_offers_of_a_refused_accept_are_declined_at_the_next_round() -> None:
    book = OfferBook(hold_s=2)
    book.give_up(["o1"])
    assert book.wait_s(now=100.0) == 0
    assert book.declines_due([], now=100.0) == ["o1"]


def test_a_new_subscription_forgets_offers_left_to_decline() -> None:
    book = OfferBook(hold_s=2)
    book.decline_failed(["o1"], now=100.0)
    book.subscribed()
    assert book.declines_due([], now=1000.0) == []


def test_a_failed_revive_is_sent_again_without_other_work() -> None:
    """The supply's answer after a failed REVIVE is the backoff to wait, and the next
    call after it sends the REVIVE again."""
    sent: list[str] = []

    class Client:
        answers = [MesosError("503 Master has not finished recovery"), None]

        async def revive(self) -> None:
            sent.append("REVIVE")
            answer = self.answers.pop(0)
            if answer is not None:
                raise answer

    book = OfferBook(hold_s=2, revive_min_interval_s=0)
    book.suppressed = True
    supply = OfferSupply(book, Settings.from_env({}), None, WorkerMetrics())  # type: ignore[arg-type]
    client = Client()
    retry_s = asyncio.run(supply.revive(client, now=100.0))  # type: ignore[arg-type]
    assert retry_s == call_retry_s(1) and book.suppressed
    assert asyncio.run(supply.revive(client, now=100.0)) == retry_s  # type: ignore[arg-type]
    assert asyncio.run(supply.revive(client, now=100.0 + retry_s)) == 0  # type: ignore[arg-type]
    assert sent == ["REVIVE", "REVIVE"] and not book.suppressed


def test_a_failed_kill_is_due_again_after_a_backoff_never_later_than_a_resend() -> None:
    book = KillBook(resend_s=5.0)
    run = ActiveTask("a.1", "TASK_RUNNING", "S1", 0.0, True)
    book.sent("a.1", now=100.0)
    assert book.failed("a.1", now=100.0) == call_retry_s(1)
    assert book.due([run], now=100.0) == []
    assert book.due([run], now=100.0 + call_retry_s(1)) == [run]
    book.sent("a.1", now=200.0)
    assert book.failed("a.1", now=200.0) == min(call_retry_s(2), 5.0)
    for _ in range(20):
        waited = book.failed("a.1", now=300.0)
    assert waited == 5.0
    book.taken("a.1")
    book.sent("a.1", now=400.0)
    assert book.failed("a.1", now=400.0) == call_retry_s(1)  # afresh after a success
