"""Connections to Redis, and the one translation of Redis errors the store's callers see.

Replies are bytes: no client here turns on decode_responses.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import redis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hippo.shared import tunables
from hippo.shared.errors import StaleEpoch, StoreUnavailable

P = ParamSpec("P")
T = TypeVar("T")


def translated(e: Exception) -> Exception:
    """The one translation of a Redis error into Hippo's tree (hippo.shared.errors):
    Redis unreachable, timing out, or taking no writes (a replica after a failover) is
    StoreUnavailable (the API answers 503, a leader steps down); a fenced script's
    refusal is StaleEpoch. Anything else is returned unchanged: a bug, not weather."""
    if isinstance(e, RedisConnectionError | RedisTimeoutError | ReadOnlyError | OSError):
        return StoreUnavailable(f"Redis is unreachable: {e}")
    if isinstance(e, ResponseError) and "STALE_EPOCH" in str(e):
        return StaleEpoch(str(e))
    return e


def translate_errors(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Every store method's errors through `translated`."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError) as e:
            error = translated(e)
            if error is e:
                raise
            raise error from e

    return wrapper


def connect(url: str) -> aioredis.Redis:
    """A client that fails fast when Redis is down and reconnects when it is back.

    Its replies are bytes (decode_responses stays off); redis-py types them `bytes | str`
    whatever the client, so the reads below cast them to bytes."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=tunables.REDIS_MAX_CONNECTIONS,
        timeout=tunables.REDIS_POOL_WAIT_S,
        socket_connect_timeout=tunables.REDIS_CONNECT_TIMEOUT_S,
        socket_timeout=tunables.REDIS_SOCKET_TIMEOUT_S,
        health_check_interval=tunables.REDIS_HEALTH_CHECK_S,
    )
    # The client owns its pool: aclose() disconnects the pool's connections too.
    return aioredis.Redis.from_pool(pool)


class RedisProbe:
    """A synchronous PING with a short timeout, for health checks served from threads."""

    def __init__(self, url: str) -> None:
        timeout_s = tunables.REDIS_PROBE_TIMEOUT_S
        self._client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )

    def problem(self) -> str | None:
        """None while Redis answers, else what went wrong."""
        try:
            self._client.ping()
            return None
        except (redis.RedisError, OSError) as e:
            return str(e)
