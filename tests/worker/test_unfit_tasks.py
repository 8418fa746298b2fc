"""A task that fits on no agent (issue 11, item 8): the offers it cannot use are
declined with a long filter instead of REVIVE -> offers -> DECLINE over and over (each
REVIVE cancels the filters); new work still launches at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from hippo.shared.tunables import UNFIT_REFUSE_S
from hippo.worker.offer_round import leftover
from tests.conftest import wait_until

from .conftest import Cluster
from .test_worker import post_task, state_of

LONG_S = 60.0  # far above HIPPO_DECLINE_REFUSE_S, far below UNFIT_REFUSE_S


def _agents_refused_for_long(cluster: Cluster) -> bool:
    """Every agent's offers are filtered for this framework for over LONG_S more."""
    state = cluster.devmaster.state()
    if not state["frameworks"]:
        return False
    filters = state["frameworks"][0]["filters"]
    return all(filters.get(a["id"], 0.0) > LONG_S for a in state["agents"])


def test_offers_for_a_task_too_big_for_any_agent_are_refused_for_long(
    make_cluster: Callable[..., Cluster], api: TestClient
) -> None:
    assert UNFIT_REFUSE_S > LONG_S
    cluster = make_cluster(agents=2, cpus=4)
    cluster.start_worker(HIPPO_DECLINE_REFUSE_S="1")
    cluster.leader()
    big = post_task(api, "true", id="too-big", cpus=64)
    wait_until(lambda: _agents_refused_for_long(cluster), 60, "offers declined for long")
    # New work can change the answer: it is revived, and launches.
    small = post_task(api, "true", id="small")
    wait_until(lambda: state_of(api, small["mesos_id"]) == "TASK_FINISHED", 60, "small ran")
    assert state_of(api, big["mesos_id"]) == "WAITING_ON_OFFERS"
    wait_until(lambda: _agents_refused_for_long(cluster), 60, "declined for long again")


@pytest.mark.parametrize(
    ("scanned", "assigned", "offers_left", "looked_at_all", "meaning"),
    [
        (3, 3, 1, True, None),  # every run placed
        (3, 2, 1, True, "unfit"),  # one run fits none of the offers left: no REVIVE
        (3, 2, 0, True, "more"),  # the offers ran out: more may place it
        (3, 2, 1, False, "more"),  # runs left unread: the next round looks at them
    ],
)
def test_what_runs_a_round_could_not_place_mean(
    scanned: int, assigned: int, offers_left: int, looked_at_all: bool, meaning: str | None
) -> None:
    assert leftover(scanned, assigned, offers_left, looked_at_all) == meaning
