"""Fault run: Hippo's Redis (AOF on) stopped and started again on the same port and
directory during polling and API load. While it is away the API answers 503, never
500; once it is back, everything carries on by itself: nothing lost, nothing twice."""

from __future__ import annotations

from collections.abc import Callable

from tests.chaos.harness import Rig, assert_kept
from tests.conftest import wait_until

ANSWERS_WHILE_AWAY = 5


def test_a_redis_restart_during_polling_and_api_load(
    make_rig: Callable[..., Rig], run: int
) -> None:
    rig = make_rig("Redis restart (AOF) during polling and API load")
    rig.leader()
    rig.start_load()
    before = rig.answers(503)
    with rig.fault(clock_from_end=True):
        rig.restart_redis(
            lambda: wait_until(
                lambda: rig.answers(503) >= before + ANSWERS_WHILE_AWAY,
                30,
                "the API to answer 503 while Redis is away",
            )
        )
    result = rig.finish()
    assert_kept(result)
    assert result.api_answers_while_redis_away.get("503", 0) >= ANSWERS_WHILE_AWAY
