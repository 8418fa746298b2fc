"""The pub/sub channel between the API, the pollers and the leader (`Keys.events`).

Hints only, never state: a script that creates waiting runs publishes `waiting` and one
that records a kill request publishes `kill`, in the same atomic step as the change; the
leader reacts at once instead of at its next timer. A hint lost (the leader was
reconnecting) costs latency, not correctness: the leader's timers read Redis anyway.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from hippo.shared.store.connection import translated
from hippo.shared.store.keys import Keys

WAITING = b"waiting"  # runs were created, waiting for offers
KILL = b"kill"  # a kill of a launched run was requested


async def hints(client: aioredis.Redis, keys: Keys) -> AsyncIterator[bytes]:
    """Each hint published on the channel (WAITING or KILL), until cancelled; raises
    StoreUnavailable when Redis goes away (the caller resubscribes)."""
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(keys.events)
        async for message in pubsub.listen():
            data = message.get("data")
            if isinstance(data, bytes):
                yield data
    except (aioredis.RedisError, OSError) as e:
        error = translated(e)
        if error is e:
            raise
        raise error from e
    finally:
        with contextlib.suppress(Exception):
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py
