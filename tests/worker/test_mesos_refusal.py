"""An ERROR event the master will repeat on every SUBSCRIBE (here a role not in its
--roles) is backed off, logged, and shown on /healthz, instead of a re-subscription
about once a second forever."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from hippo.shared.tunables import MESOS_ERROR_CAP_S, MESOS_ERROR_FIRST_S
from hippo.worker.call_retry import call_retry_s
from tests.conftest import free_port, wait_until

from .conftest import Cluster

REFUSAL = "Roles { hippo } are not present in the master's --roles"  # Mesos' text


def healthz(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return dict(json.loads(r.read()))
    except urllib.error.HTTPError as e:
        return dict(json.loads(e.read()))
    except urllib.error.URLError:  # not listening yet
        return {}


def test_a_role_the_master_refuses_is_backed_off_logged_and_on_healthz(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(agents=1, roles=("analytics",))
    port = free_port()
    worker = cluster.start_worker(metrics_port=port, HIPPO_MESOS_ROLE="hippo")
    body = wait_until(lambda: (h := healthz(port)).get("mesos_error") and h, 20, "mesos_error")
    assert body["mesos_error"] == REFUSAL and body["leader"] is True
    # The wait doubles with each refusal: 1 s, then 2 s (then 4 s ... up to 60 s).
    wait_until(lambda: "subscribing again in 2 s" in worker.log, 20, "a second, longer wait")
    assert "MESOS REFUSED THE FRAMEWORK" in worker.log and REFUSAL in worker.log
    assert "subscribing again in 1 s" in worker.log
    assert not cluster.devmaster.state()["frameworks"]  # never subscribed


@pytest.mark.parametrize(
    ("refusals", "wait_s"), [(1, 1.0), (2, 2.0), (6, 32.0), (7, 60.0), (99, 60.0)]
)
def test_refused_subscriptions_wait_1_s_doubling_to_60_s(refusals: int, wait_s: float) -> None:
    assert call_retry_s(refusals, MESOS_ERROR_FIRST_S, MESOS_ERROR_CAP_S) == wait_s
