"""Connections to Redis, and the one translation of Redis errors the store's callers see.

Replies are bytes: no client here turns on decode_responses. A `redis+sentinel://` URL
(hippo.shared.redis_urls) gives clients that ask the sentinels for the current master
before each new connection, so after a failover they reconnect to the promoted replica;
a connection still open to the demoted master fails (redis-py turns its READONLY reply
into a ConnectionError), which the callers see as StoreUnavailable, as for a restart.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel as aiosentinel
import redis.sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MasterDownError, ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hippo.shared import tunables
from hippo.shared.errors import StaleEpoch, StoreUnavailable
from hippo.shared.redis_urls import SentinelURL, is_sentinel_url, parse_sentinel_url

P = ParamSpec("P")
# A master with fewer good replicas than min-replicas-to-write refuses a write (in a
# script too) with this code; redis-py has no class for it.
_REFUSED_FOR_WANT_OF_REPLICAS = "NOREPLICAS"
T = TypeVar("T")


def translated(e: Exception) -> Exception:
    """The one translation of a Redis error into Hippo's tree (hippo.shared.errors):
    Redis unreachable, timing out, or taking no writes (a replica after a failover) is
    StoreUnavailable (the API answers 503, a leader steps down), and so is a master
    refusing writes for want of replicas (NOREPLICAS: `min-replicas-to-write`, the
    setting docs/operating.md recommends with Sentinel) or a replica cut off from its
    master (MASTERDOWN); a fenced script's refusal is
    StaleEpoch. Anything else is returned unchanged: a bug, not weather."""
    if isinstance(e, RedisConnectionError | RedisTimeoutError | ReadOnlyError | OSError):
        return StoreUnavailable(f"Redis is unreachable: {e}")
    if isinstance(e, MasterDownError) or (
        isinstance(e, ResponseError) and _REFUSED_FOR_WANT_OF_REPLICAS in str(e)
    ):
        return StoreUnavailable(f"Redis takes no writes: {e}")
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


class _BlockingSentinelPool(aiosentinel.SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """The sentinel-managed pool (master looked up per connection) that waits for a free
    connection like BlockingConnectionPool: SentinelConnectionPool overrides neither
    get_connection nor release, so the two compose."""


class _SentinelMasterClient(aioredis.Redis):
    """The master's client; closing it also closes its connections to the sentinels
    (redis-py leaves those to the caller)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        pool = self.connection_pool
        if isinstance(pool, aiosentinel.SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


def _login(parsed: SentinelURL) -> dict[str, object]:
    return {"db": parsed.db, "username": parsed.username, "password": parsed.password}


def _sentinel_timeouts(connect_s: float, socket_s: float) -> dict[str, object]:
    return {"socket_connect_timeout": connect_s, "socket_timeout": socket_s}


def connect(url: str) -> aioredis.Redis:
    """A client that fails fast when Redis is down and reconnects when it is back (for a
    sentinel URL: to whichever server the sentinels name master then).

    Its replies are bytes (decode_responses stays off); redis-py types them `bytes | str`
    whatever the client, so the reads below cast them to bytes."""
    options: dict[str, object] = {
        "max_connections": tunables.REDIS_MAX_CONNECTIONS,
        "timeout": tunables.REDIS_POOL_WAIT_S,
        "socket_connect_timeout": tunables.REDIS_CONNECT_TIMEOUT_S,
        "socket_timeout": tunables.REDIS_SOCKET_TIMEOUT_S,
        "health_check_interval": tunables.REDIS_HEALTH_CHECK_S,
    }
    if is_sentinel_url(url):
        parsed = parse_sentinel_url(url)
        sentinels = aiosentinel.Sentinel(  # type: ignore[no-untyped-call]
            list(parsed.sentinels),
            sentinel_kwargs=_sentinel_timeouts(
                tunables.REDIS_CONNECT_TIMEOUT_S, tunables.REDIS_SOCKET_TIMEOUT_S
            ),
        )
        client: aioredis.Redis = sentinels.master_for(
            parsed.service,
            redis_class=_SentinelMasterClient,
            connection_pool_class=_BlockingSentinelPool,
            **_login(parsed),
            **options,
        )
        return client
    pool = aioredis.BlockingConnectionPool.from_url(url, **options)
    # The client owns its pool: aclose() disconnects the pool's connections too.
    return aioredis.Redis.from_pool(pool)


class _SyncSentinelMasterClient(redis.Redis):
    """The synchronous master's client; close() also closes its sentinel connections."""

    def close(self) -> None:
        super().close()
        pool = self.connection_pool
        if isinstance(pool, redis.sentinel.SentinelConnectionPool):
            pool.sentinel_manager.close()


def connect_sync(url: str, *, connect_timeout_s: float, timeout_s: float) -> redis.Redis:
    """A synchronous client of either URL form (the leader lock and health probes run in
    threads); for a sentinel URL, of the current master."""
    if is_sentinel_url(url):
        parsed = parse_sentinel_url(url)
        timeouts = _sentinel_timeouts(connect_timeout_s, timeout_s)
        sentinels = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            list(parsed.sentinels), sentinel_kwargs=timeouts
        )
        client: redis.Redis = sentinels.master_for(  # type: ignore[no-untyped-call]
            parsed.service, redis_class=_SyncSentinelMasterClient, **_login(parsed), **timeouts
        )
        return client
    return redis.Redis.from_url(
        url, socket_connect_timeout=connect_timeout_s, socket_timeout=timeout_s
    )


class RedisProbe:
    """A synchronous PING with a short timeout, for health checks served from threads."""

    def __init__(self, url: str) -> None:
        timeout_s = tunables.REDIS_PROBE_TIMEOUT_S
        self._client = connect_sync(url, connect_timeout_s=timeout_s, timeout_s=timeout_s)

    def problem(self) -> str | None:
        """None while Redis answers, else what went wrong."""
        try:
            self._client.ping()
            return None
        except (redis.RedisError, OSError) as e:
            return str(e)
