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
from redis.exceptions import TimeoutError as RedisTimeoutError

from hippo.shared.errors import StoreUnavailable

P = ParamSpec("P")
T = TypeVar("T")


def translate_errors(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Redis unreachable (connection refused or lost, timeout) becomes StoreUnavailable,
    which the API answers with 503; every other error passes unchanged."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError) as e:
            raise StoreUnavailable(f"Redis is unreachable: {e}") from e

    return wrapper


# Connections one process opens to Redis; more concurrent calls wait for a free one
# (up to the socket timeout) instead of failing, as redis-py's default pool would.
MAX_CONNECTIONS = 64


def connect(url: str) -> aioredis.Redis:
    """A client that fails fast when Redis is down and reconnects when it is back.

    Its replies are bytes (decode_responses stays off); redis-py types them `bytes | str`
    whatever the client, so the reads below cast them to bytes."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=5,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )
    # The client owns its pool: aclose() disconnects the pool's connections too.
    return aioredis.Redis.from_pool(pool)


class RedisProbe:
    """A synchronous PING with a short timeout, for health checks served from threads."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)

    def problem(self) -> str | None:
        """None while Redis answers, else what went wrong."""
        try:
            self._client.ping()
            return None
        except (redis.RedisError, OSError) as e:
            return str(e)
