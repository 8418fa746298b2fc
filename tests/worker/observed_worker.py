"""`hippo worker` with two test hooks on the leader's store, for the guarantee tests.

Run as `python -m tests.worker.observed_worker worker ...` (the `hippo` command's
arguments) with HIPPO_* variables. It uses the worker's own Redis (HIPPO_REDIS_URL):
- every fenced write (claim, record_updates, unclaim, save_framework_id) is logged to
  the list `observe:fenced` as `<pid> <epoch> <method> ok|stale`, so a test can prove
  that a leader past its term wrote nothing;
- while the key `fault:record` exists, record_updates fails as if Redis had dropped the
  connection (RedisError), after adding each update's task id to the list
  `fault:record-attempts`: the store is down for status updates only.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from hippo.cli import main
from hippo.shared.errors import StaleEpoch
from hippo.shared.store.leadership import LeaderStore


def install_hooks() -> None:
    observe = redis.Redis.from_url(os.environ["HIPPO_REDIS_URL"])
    pid = os.getpid()

    def fenced(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def wrapper(self: LeaderStore, epoch: int, *args: Any) -> Any:
            try:
                result = await method(self, epoch, *args)
            except StaleEpoch:
                observe.rpush("observe:fenced", f"{pid} {epoch} {method.__name__} stale")
                raise
            observe.rpush("observe:fenced", f"{pid} {epoch} {method.__name__} ok")
            return result

        return wrapper

    record = fenced(LeaderStore.record_updates)

    async def record_updates(self: LeaderStore, epoch: int, now: float, updates: Any) -> Any:
        if observe.exists("fault:record"):
            observe.rpush("fault:record-attempts", *[u.mesos_id for u in updates])
            raise RedisConnectionError("injected: Redis unreachable while storing updates")
        return await record(self, epoch, now, updates)

    LeaderStore.claim = fenced(LeaderStore.claim)  # type: ignore[method-assign]
    LeaderStore.unclaim = fenced(LeaderStore.unclaim)  # type: ignore[method-assign]
    LeaderStore.save_framework_id = fenced(LeaderStore.save_framework_id)  # type: ignore[method-assign]
    LeaderStore.record_updates = record_updates  # type: ignore[method-assign]


if __name__ == "__main__":
    install_hooks()
    main()
