"""Leader election: every worker stands by for the lock; the holder leads one term at a
time (a LeaderSession) under a fresh epoch, watched by an ownership watchdog."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

from redis.exceptions import RedisError

from hippo.shared.errors import StaleEpoch, StoreUnavailable
from hippo.shared.settings import Settings
from hippo.shared.store import connect
from hippo.shared.store.keys import Keys
from hippo.shared.store.leadership import LeaderStore
from hippo.shared.store.lock import LeaderLease
from hippo.shared.tunables import LEADER_SHUTDOWN_WAIT_S
from hippo.worker.metrics import WorkerMetrics
from hippo.worker.session import LeaderSession, LeadershipLost, MesosSilent

log = logging.getLogger(__name__)


def watchdog_interval_s(lock_expire_s: int) -> float:
    """How often the leader checks that the lock is still its own: well within the expiry."""
    return max(0.2, min(1.0, lock_expire_s / 4))


async def run_leader_election(
    settings: Settings, stop: asyncio.Event, metrics: WorkerMetrics
) -> None:
    """Stand by, lead while holding the lock, stand by again; return when `stop` is set."""
    keys = Keys(settings.redis_prefix)
    lease = LeaderLease(settings.redis_url, keys, settings.lock_expire_s)
    redis = connect(settings.redis_url)
    store = LeaderStore(
        redis,
        keys,
        keep_per_id=settings.task_retention_per_id,
        keep_per_queue=settings.task_retention_per_queue,
    )
    try:
        while not stop.is_set():
            # The lock, if we get it, is set after this moment with the full expiry: it is
            # certainly ours until this plus the expiry (the watchdog's first bound).
            standing_by_since = time.monotonic()
            try:
                acquired = await asyncio.to_thread(lease.acquire, 1)
            except StoreUnavailable as e:
                log.warning("leader: cannot reach Redis to stand by (%s); retrying", e)
                await _sleep_unless(stop, 1.0)
                continue
            if not acquired:
                continue
            cool_down_s = 0.0
            try:
                if not stop.is_set():
                    certain_until = standing_by_since + settings.lock_expire_s
                    await _lead(settings, stop, metrics, lease, store, redis, certain_until)
            except MesosSilent as e:
                log.error(
                    "leader: stepping down: %s; standing by again in %g s, so that a worker "
                    "that reaches Mesos leads",
                    e,
                    settings.mesos_silence_s,
                )
                cool_down_s = settings.mesos_silence_s
            except (StaleEpoch, LeadershipLost) as e:
                log.error("leader: stepping down: %s", e)
            except (StoreUnavailable, RedisError) as e:  # RedisError: the events' pub/sub
                log.error("leader: stepping down, Redis failed: %s", e)
            except Exception:
                log.exception("leader: stepping down after an unexpected error")
                await _sleep_unless(stop, 1.0)
            finally:
                metrics.leader.set(0)
                await asyncio.to_thread(lease.release)
            if cool_down_s:
                await _sleep_unless(stop, cool_down_s)
    finally:
        await asyncio.to_thread(lease.close)
        await redis.aclose()


async def _lead(
    settings: Settings,
    stop: asyncio.Event,
    metrics: WorkerMetrics,
    lease: LeaderLease,
    store: LeaderStore,
    redis: object,
    certain_until: float,
) -> None:
    """Lead until stopped or deposed; `certain_until`: the monotonic time until which the
    lock is certainly ours (see _watch_lease)."""
    lock_id = lease.id
    assert lock_id is not None
    epoch = await store.take_epoch(lease.key, lock_id)
    if epoch is None:
        log.warning("leader: lock lost before an epoch could be taken")
        return
    log.warning("leader: this worker leads now (epoch %d, pid %d)", epoch, os.getpid())
    metrics.leader.set(1)
    session = LeaderSession(settings, redis, store, epoch, metrics)  # type: ignore[arg-type]
    lost = asyncio.Event()
    jobs = {
        asyncio.create_task(session.run(), name="leader-session"),
        asyncio.create_task(
            _watch_lease(
                store,
                lease.key,
                lock_id,
                epoch,
                watchdog_interval_s(settings.lock_expire_s),
                lost,
                certain_until,
            ),
            name="leader-watchdog",
        ),
        asyncio.create_task(stop.wait(), name="leader-stop"),
    }
    try:
        done, _ = await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
        for job in done:
            if job.get_name() != "leader-stop":
                job.result()
        if stop.is_set():
            log.warning(
                "leader: stopping; the lock is released for a standby (no TEARDOWN: Mesos "
                "keeps the framework's tasks for HIPPO_FAILOVER_TIMEOUT_S, and the next "
                "leader takes them over)"
            )
        elif lost.is_set():
            raise LeadershipLost("the leader lock is no longer ours")
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.wait(jobs, timeout=2 * LEADER_SHUTDOWN_WAIT_S)


async def _watch_lease(
    store: LeaderStore,
    lock_key: str,
    lock_id: str,
    epoch: int,
    interval_s: float,
    lost: asyncio.Event,
    certain_until: float | None = None,
) -> None:
    """Step down once the lock is not certainly ours: it holds another id, a newer epoch
    was taken, or Redis has not confirmed it by one interval before the time the last
    confirmation guaranteed (the lock's remaining expiry then; at first `certain_until`,
    by default two intervals from now), so that the leader has an interval to stop in.

    A slow or failed check is not a doubt by itself: python-redis-lock renews the lock
    from its own thread, so the lock outlives a busy event loop or a Redis slow for a
    moment (a leader that stepped down at each, on a loaded machine, lost its runs to
    TASK_GONE and retried them). Only time without confirmation is."""
    if certain_until is None:
        certain_until = time.monotonic() + 2 * interval_s
    while True:
        # Neither the wait nor the check may run past the time to step down, and the
        # wait leaves time for a check before it (half of what is left, at the most).
        left_s = certain_until - interval_s - time.monotonic()
        if left_s > 0:
            await asyncio.sleep(min(interval_s, left_s / 2))
            left_s = certain_until - interval_s - time.monotonic()
        if left_s <= 0:
            log.error("leader: the leader lock could not be confirmed before it may expire")
            lost.set()
            return
        asked = time.monotonic()
        try:
            ours_for_s = await asyncio.wait_for(
                store.still_leader(lock_key, lock_id, epoch), min(interval_s, left_s)
            )
        except (StoreUnavailable, TimeoutError) as e:
            log.warning("leader: cannot check the leader lock (%s)", e or type(e).__name__)
            continue
        if not ours_for_s:
            lost.set()
            return
        certain_until = asked + ours_for_s


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
