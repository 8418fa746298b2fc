"""Failover: a leader's SIGKILL to the first launch by the new leader, and a polling
worker's SIGKILL to its queue served again; beside the lock or lease expiry (the physical
reference: the longest a standby must wait for a killed holder's lock to lapse)."""

from __future__ import annotations

import signal
import statistics
import subprocess
import threading
import time
from typing import Any

import redis

from bench.cluster import GENEROUS, Cluster, Services, metric, seed_waiting
from bench.common import measure, step, wait_until
from bench.sources import Bench

ORDER = 40
LOCK_EXPIRE_S = 3
LEASE_S = 3
# Tasks end after 1 s, so the feeder's tasks keep the leader launching.
SHORT = Cluster("short tasks", 10, 100_000, 100_000_000, 1, False, 0.01, 1)


def leader_failover(svc: Services, runs: int) -> list[float]:
    """Seconds from SIGKILL of the leader to the first launch by the standby."""
    svc.r.flushall()
    svc.start_devmaster(SHORT)
    extra = {"HIPPO_LOCK_EXPIRE_S": str(LOCK_EXPIRE_S)}
    live = [svc.start_worker(**extra), svc.start_worker(**extra)]
    stop = threading.Event()

    def feed() -> None:  # always some work waiting
        r = redis.Redis.from_url(svc.url)
        n = 0
        while not stop.is_set():
            seed_waiting(r, 20, GENEROUS.spec(), tag=f"f{n}-")
            n += 1
            time.sleep(0.1)
        r.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    times = []
    try:
        for _ in range(runs):
            leader = wait_until(
                lambda live=live: next(
                    (
                        w
                        for w in live
                        if metric(w[1], "hippo_worker_leader") == 1
                        and metric(w[1], "hippo_tasks_launched_total") > 0
                    ),
                    None,
                ),
                60,
                0.05,
            )
            standby = next(w for w in live if w is not leader)
            before = metric(standby[1], "hippo_tasks_launched_total")
            leader[0].send_signal(signal.SIGKILL)
            killed = time.perf_counter()
            wait_until(
                lambda standby=standby, before=before: (
                    metric(standby[1], "hippo_tasks_launched_total") > before
                ),
                60,
                0.005,
            )
            times.append(time.perf_counter() - killed)
            leader[0].wait(30)
            live = [standby, svc.start_worker(**extra)]
    finally:
        stop.set()
        feeder.join(5)
        svc.stop_workers()
        svc.stop_devmaster()
    return times


def poll_resumption(runs: int) -> list[float]:
    """Seconds from SIGKILL of one of two workers polling a queue (items arriving every
    10 ms) until every item pushed before the kill, and one after, is stored."""
    return [_one_resumption() for _ in range(runs)]


def _one_resumption() -> float:
    bench = Bench()
    stop = threading.Event()
    pushed = [0]
    source = redis.Redis(port=bench.port, db=1)

    def feed() -> None:
        while not stop.is_set():
            source.lpush("list-r", f"item-{pushed[0]}")
            pushed[0] += 1
            time.sleep(0.01)

    feeder = threading.Thread(target=feed, daemon=True)
    try:
        bench.create_queues([bench.queue_body("resume", "list-r", 0.1)])
        feeder.start()
        bench.start_workers(2, HIPPO_QUEUE_LEASE_S=str(LEASE_S))
        first: subprocess.Popen[bytes] = bench.workers[0]
        wait_until(lambda: bench.stored(["resume"]) > 100, 30)
        first.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        target = pushed[0] + 1
        # The items the dead worker had taken count too: the queue is served again.
        wait_until(lambda: bench.stored(["resume"]) >= target, 60, 0.005)
        return time.perf_counter() - killed
    finally:
        stop.set()
        if feeder.is_alive():
            feeder.join(5)
        source.close()
        bench.close()


def run(quick: bool) -> dict[str, Any]:
    runs = 1 if quick else 5
    svc = Services()
    try:
        with step(f"leader failover x{runs}"):
            failovers = leader_failover(svc, runs)
    finally:
        svc.close()
    with step(f"poll resumption x{runs}"):
        resumes = poll_resumption(runs)
    return {
        "title": "Failover",
        "measures": [
            measure(
                f"leader SIGKILL to the first launch by the new leader, median of {runs}",
                statistics.median(failovers),
                "s",
                reference=LOCK_EXPIRE_S,
                reference_name="lock expiry",
                goal="expiry + a few s",
                better="lower",
            ),
            measure(
                f"polling worker SIGKILL to its queue polled again, median of {runs}",
                statistics.median(resumes),
                "s",
                reference=LEASE_S,
                reference_name="queue lease",
                better="lower",
            ),
        ],
        "failover_s": failovers,
        "poll_resumption_s": resumes,
        "notes": f"""
**How.** Failover: two `python -m hippo worker` processes with `HIPPO_LOCK_EXPIRE_S`
{LOCK_EXPIRE_S}, tasks fed 200/s (1 s each) to a generous simulated cluster; the leader
is killed with SIGKILL and the clock stops at the standby's first launch
(`hippo_tasks_launched_total`), runs: {", ".join(f"{t:.2f}" for t in failovers)} s.
Poll resumption: two polling workers with `HIPPO_QUEUE_LEASE_S` {LEASE_S}, one
Redis-list queue polled every 0.1 s and fed 100 items/s; one worker is killed and the
clock stops once every item pushed before the kill (those the dead worker had taken
included) and one after it are stored, runs:
{", ".join(f"{t:.2f}" for t in resumes)} s.

**Reference.** The lock or lease expiry: a killed holder cannot release it, so it lapses
`expiry` after the holder's last renewal, which came up to a renewal period before the
kill: a run can take less than the expiry, and anything beyond it is Hippo's own time
(subscribing, the first round). A queue the dead worker was not polling at that moment
is served again without waiting for its lease.
""",
    }
