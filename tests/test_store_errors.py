"""The one translation of Redis errors (hippo.shared.store.connection.translated): what
every part of the store raises when Redis is away, read-only or refuses a fenced write."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MasterDownError, ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hippo.shared.errors import StaleEpoch, StoreUnavailable
from hippo.shared.store import Store, connect
from hippo.shared.store.connection import translated
from hippo.shared.store.keys import Keys
from hippo.shared.store.leadership import Claim, LeaderStore
from hippo.shared.store.leases import PollStore
from hippo.shared.store.lock import LeaderLease


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RedisConnectionError("Connection refused"), StoreUnavailable),
        (RedisTimeoutError("Timeout reading"), StoreUnavailable),
        (ReadOnlyError("READONLY You can't write against a read only replica."), StoreUnavailable),
        (OSError("Network is unreachable"), StoreUnavailable),
        (ResponseError("NOREPLICAS Not enough good replicas to write."), StoreUnavailable),
        (
            ResponseError("NOREPLICAS Not enough good replicas to write. script: 82ad, on @x:2."),
            StoreUnavailable,
        ),
        (
            MasterDownError("Link with MASTER is down and replica-serve-stale-data is no"),
            StoreUnavailable,
        ),
        (ResponseError("STALE_EPOCH a newer leader holds epoch 7"), StaleEpoch),
    ],
)
def test_redis_weather_and_fencing_are_translated(error: Exception, expected: type) -> None:
    assert isinstance(translated(error), expected)


def test_other_redis_errors_are_bugs_and_pass_unchanged() -> None:
    error = ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")
    assert translated(error) is error


def test_every_part_of_the_store_raises_store_unavailable_when_redis_is_away() -> None:
    url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    keys = Keys("hippo:")

    async def scenario() -> list[type]:
        client = connect(url)
        raised = []
        try:
            for call in (
                lambda: Store(client, keys).get_task("t.1"),
                lambda: Store(client, keys).get_queue("q"),
                lambda: LeaderStore(client, keys).waiting_count(),
                lambda: LeaderStore(client, keys).claim(
                    1, 1.0, [Claim("t.1", "S1", "h", None, None)]
                ),
                lambda: LeaderStore(client, keys).record_updates(1, 1.0, []),
                lambda: PollStore(client, keys, idempotency_ttl_s=60).claim_due_queues(1, 30),
            ):
                with pytest.raises(StoreUnavailable) as caught:
                    await call()
                raised.append(type(caught.value))
        finally:
            await client.aclose()
        return raised

    assert len(asyncio.run(scenario())) == 6
    lease = LeaderLease(url, keys, expire_s=2)
    try:
        with pytest.raises(StoreUnavailable):
            lease.acquire(1)
    finally:
        lease.close()
