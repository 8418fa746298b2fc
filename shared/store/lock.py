"""The worker leader lock: python-redis-lock with a short expiry and auto-renewal.

python-redis-lock speaks through a synchronous redis client, and its blocking acquire
waits in BLPOP, so `acquire` is meant to run in a thread. Its renewal thread dies
silently when a renewal fails: the leader must also watch the lock key itself
(`LeaderStore.still_leader`).
"""

from __future__ import annotations

import logging

import redis
import redis_lock

from hippo.shared.store.connection import connect_sync, translated
from hippo.shared.store.keys import Keys

log = logging.getLogger(__name__)


class LeaderLease:
    """One attempt at leadership after another; `id` names the current holder attempt."""

    def __init__(self, url: str, keys: Keys, expire_s: int) -> None:
        self._client = connect_sync(url, connect_timeout_s=2, timeout_s=10)
        self._keys = keys
        self.expire_s = expire_s
        self._lock: redis_lock.Lock | None = None

    @property
    def key(self) -> str:
        return self._keys.leader_lock

    @property
    def id(self) -> str | None:
        return self._lock.id if self._lock is not None else None

    def acquire(self, wait_s: int = 1) -> bool:
        """Try for up to `wait_s` seconds (blocking: call from a thread). Raises
        StoreUnavailable when Redis cannot be reached."""
        if self._lock is not None:
            raise RuntimeError("leader lock already held by this lease; release it first")
        lock = redis_lock.Lock(
            self._client, self._keys.leader_lock_name, expire=self.expire_s, auto_renewal=True
        )
        try:
            acquired = lock.acquire(blocking=True, timeout=max(1, int(wait_s)))
        except redis.RedisError as e:
            error = translated(e)
            if error is e:
                raise
            raise error from e
        if acquired:
            self._lock = lock
        return bool(acquired)

    def release(self) -> None:
        """Stop renewing and free the lock if it is still ours (a standby wakes at once)."""
        lock, self._lock = self._lock, None
        if lock is None:
            return
        try:
            lock.release()
        except redis_lock.NotAcquired:
            log.warning("leader lock: already lost when released")
        except redis.RedisError as e:
            log.warning("leader lock: release failed (%s); it expires in %d s", e, self.expire_s)

    def close(self) -> None:
        self.release()
        self._client.close()
