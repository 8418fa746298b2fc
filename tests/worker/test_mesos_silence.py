"""A leader that hears nothing from Mesos for HIPPO_MESOS_SILENCE_S steps down (it may be
partitioned from Mesos while still holding Redis); a live subscription, heartbeats
included, keeps it leading. tests/chaos/test_netns_partitions.py runs it end to end."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hippo.shared.settings import Settings
from hippo.worker.session import LeaderSession, LeadershipLost, MesosSilent, mesos_silent


@pytest.mark.parametrize(
    ("heard_at", "now", "limit_s", "silent"),
    [
        (100.0, 100.0, 5.0, False),
        (100.0, 105.0, 5.0, False),  # exactly at the limit: not yet
        (100.0, 105.1, 5.0, True),
        (100.0, 99.0, 5.0, False),  # heard after `now` was read
    ],
)
def test_mesos_is_silent_only_past_the_limit(
    heard_at: float, now: float, limit_s: float, silent: bool
) -> None:
    assert mesos_silent(heard_at, now, limit_s) is silent


class FakeClient:
    def __init__(self, heard_at: float, heartbeat_interval_s: float = 0.05) -> None:
        self.heard_at = heard_at
        self.heartbeat_interval_s = heartbeat_interval_s
        self.last_error = ("no event for 5 heartbeat intervals", time.time())


def session(silence_s: str) -> Any:
    settings = Settings.from_env({"HIPPO_MESOS_SILENCE_S": silence_s})
    made = LeaderSession.__new__(LeaderSession)  # only the watch is exercised
    made.settings = settings
    return made


def test_a_leader_no_master_speaks_to_steps_down_as_mesos_silent() -> None:
    client = FakeClient(heard_at=time.monotonic())
    with pytest.raises(MesosSilent, match="no Mesos master heard from for 0.2 s") as caught:
        asyncio.run(asyncio.wait_for(session("0.2")._watch_silence(client), 30))
    assert isinstance(caught.value, LeadershipLost)  # so run_leader_election steps down


def test_a_leader_that_keeps_hearing_from_mesos_keeps_leading() -> None:
    client = FakeClient(heard_at=time.monotonic())

    async def hear_for(seconds: float) -> None:
        watch = asyncio.ensure_future(session("0.2")._watch_silence(client))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            client.heard_at = time.monotonic()  # a heartbeat
            await asyncio.sleep(0.02)
            assert not watch.done()
        watch.cancel()

    asyncio.run(hear_for(1.0))


def test_the_limit_is_never_shorter_than_two_heartbeat_intervals() -> None:
    """An idle leader hears only heartbeats: a setting below two of their intervals must
    not depose it between two of them."""
    client = FakeClient(heard_at=time.monotonic(), heartbeat_interval_s=0.5)
    with pytest.raises(MesosSilent, match="no Mesos master heard from for 1 s"):
        asyncio.run(asyncio.wait_for(session("0.2")._watch_silence(client), 30))
