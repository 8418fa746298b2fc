"""Fault runs on the leader, under steady load (tests/chaos/harness.py): SIGKILL while a
burst of 1,000 tasks launches, and SIGSTOP past its lock expiry, then SIGCONT. After
each, tests/chaos/checker.py: every item one successful run, caps held, nothing stuck."""

from __future__ import annotations

import signal
from collections.abc import Callable

from tests.chaos.harness import Rig, assert_kept
from tests.conftest import wait_until
from tests.worker.test_failover import create_tasks, states

BURST = 1000


def test_sigkill_of_the_leader_during_a_burst_of_1000_launches(
    make_rig: Callable[..., Rig], run: int
) -> None:
    rig = make_rig(
        "leader SIGKILL during a 1,000-launch burst",
        agents=4,
        worker_env={"HIPPO_ROUND_MAX_TASKS": "60"},
    )
    leader = rig.leader()
    rig.start_load()
    epoch = rig.cluster.epoch()
    create_tasks(rig.cluster.redis, BURST)  # ids job0..job999, max_concurrent 1 each
    rig.collected.items |= {f"task:job{n}" for n in range(BURST)}
    rig.caps |= {f"job{n}": 1 for n in range(BURST)}

    def launching() -> bool:
        s = states(rig.cluster.redis)
        launched = ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED")
        return sum(s[state] for state in launched) >= 100

    wait_until(launching, 30, "the burst launching")
    with rig.fault():
        leader.kill()
    assert rig.cluster.leader(timeout_s=30, after_epoch=epoch) is not leader
    assert_kept(rig.finish())


def test_sigstop_of_the_leader_past_its_lock_expiry_then_sigcont(
    make_rig: Callable[..., Rig], run: int
) -> None:
    rig = make_rig("leader SIGSTOP past its lock expiry, SIGCONT")
    leader = rig.leader()
    rig.start_load()
    epoch = rig.cluster.epoch()
    with rig.fault():
        leader.process.send_signal(signal.SIGSTOP)
        try:
            # Past its lock expiry: another worker holds the lock at a newer epoch.
            rig.cluster.leader(timeout_s=30, after_epoch=epoch)
        finally:
            leader.process.send_signal(signal.SIGCONT)
    wait_until(lambda: "leader: stepping down" in leader.log, 30, "the old leader to step down")
    assert leader.alive()
    assert_kept(rig.finish())
