"""A Redis list: each item becomes HIPPO_DATA.

Producers LPUSH; a poll moves items from the list's right end (oldest first) into the
queue's own processing list `<name>:hippo:processing:<queue id>` with LMOVE, and removes
them from there only after their tasks are stored. Only the queue's lease holder touches
that list, so it is ordered: a counter hash beside it (`...:seq`: `epoch`, `head` = seq of
the oldest item, `next`) gives every item a stable sequence number, and the idempotency key
`<epoch>:<seq>`. A poll first takes again whatever a dead or failed poll left there
(same keys, so stored ones make no second task), then new items.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field

from hippo.shared.sources.base import Fetched, Item, PollRequest, Source, SourceError
from hippo.shared.sources.settings import Secret, SourceSettings, Text

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.commands.core import AsyncScript


def _tcp_port(value: int) -> int:
    if not 0 < value < 65536:
        raise ValueError(f"must be a TCP port (1-65535), got {value}")
    return value


def _not_negative(value: int) -> int:
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


class RedisListSettings(SourceSettings):
    host: Annotated[Text, Field(title="Redis host")]
    port: Annotated[int, Field(title="Redis port"), AfterValidator(_tcp_port)] = 6379
    db: Annotated[int, Field(title="Redis database number"), AfterValidator(_not_negative)] = 0
    name: Annotated[Text, Field(title="Name of the list")]
    password: Annotated[Secret, Field(title="Redis password")] = ""
    ssl: Annotated[bool, Field(title="Connect with TLS")] = False


# KEYS: source list, processing list, counter hash. ARGV: limit, epoch if the hash is new.
# Returns {epoch, head seq, at most `limit` processing items oldest first...}: left-over
# items, then new.
_TAKE = """
local src, proc, meta = KEYS[1], KEYS[2], KEYS[3]
local limit = tonumber(ARGV[1])
if redis.call('HSETNX', meta, 'epoch', ARGV[2]) == 1 then
  redis.call('HSET', meta, 'head', 0, 'next', 0)
end
local left = redis.call('LLEN', proc)
local moved = 0
while left + moved < limit do
  if not redis.call('LMOVE', src, proc, 'RIGHT', 'LEFT') then break end
  moved = moved + 1
end
if moved > 0 then redis.call('HINCRBY', meta, 'next', moved) end
local f = redis.call('HMGET', meta, 'epoch', 'head', 'next')
local out = {f[1], f[2]}
-- The oldest `limit` only (the right end): a failed poll's left-overs never make a poll
-- exceed its backpressure limit.
local items = redis.call('LRANGE', proc, -limit, -1)
for i = #items, 1, -1 do out[#out + 1] = items[i] end
return out
"""

# The queue is gone: its whole processing list goes back to the source list's right end,
# oldest nearest the end (taken first again), and the counter hash with it.
# KEYS: source list, processing list, counter hash. Returns the items given back.
_GIVE_BACK = """
local src, proc, meta = KEYS[1], KEYS[2], KEYS[3]
local n = 0
while redis.call('LMOVE', proc, src, 'LEFT', 'RIGHT') do n = n + 1 end
redis.call('DEL', meta)
return n
"""

# Remove items [from, from + n) of the processing list, as far as they are still there.
# KEYS: processing list, counter hash. ARGV: epoch, first seq, n. Returns items removed.
_ACK = """
local proc, meta = KEYS[1], KEYS[2]
if redis.call('HGET', meta, 'epoch') ~= ARGV[1] then return 0 end
local head = tonumber(redis.call('HGET', meta, 'head'))
local upto = tonumber(ARGV[2]) + tonumber(ARGV[3])
local n = upto - head
if n <= 0 then return 0 end
local len = redis.call('LLEN', proc)
if n >= len then
  n = len
  redis.call('DEL', proc)
else
  redis.call('LTRIM', proc, 0, len - n - 1)
end
redis.call('HINCRBY', meta, 'head', n)
return n
"""


@dataclass(frozen=True)
class _Connection:
    """A client to one Redis server and this source's scripts registered on it."""

    client: aioredis.Redis
    take: AsyncScript
    ack: AsyncScript
    give_back: AsyncScript


class RedisListSource(Source):
    """Natively async: with hundreds of idle queues, a thread hop per poll would cost
    more than the Redis call itself."""

    namespace = "redis"
    label = "Redis Queue"
    settings_model = RedisListSettings

    def __init__(self, executor: Executor | None = None) -> None:
        super().__init__(executor)
        self._clients: dict[tuple[Any, ...], _Connection] = {}

    @staticmethod
    def processing_list(name: str, queue_id: str) -> str:
        return f"{name}:hippo:processing:{queue_id}"

    def _client(self, settings: RedisListSettings) -> _Connection:
        key = (settings.host, settings.port, settings.db, settings.password, settings.ssl)
        connection = self._clients.get(key)
        if connection is None:
            import redis.asyncio as aioredis

            client = aioredis.Redis(
                host=settings.host,
                port=settings.port,
                db=settings.db,
                password=settings.password or None,
                ssl=settings.ssl,
                socket_connect_timeout=5,
                socket_timeout=30,
            )
            connection = _Connection(
                client=client,
                take=client.register_script(_TAKE),
                ack=client.register_script(_ACK),
                give_back=client.register_script(_GIVE_BACK),
            )
            self._clients[key] = connection
        return connection

    def _keys(self, request: PollRequest[RedisListSettings]) -> list[str]:
        proc = self.processing_list(request.settings.name, request.queue_id)
        return [request.settings.name, proc, proc + ":seq"]

    async def fetch(self, request: PollRequest[RedisListSettings]) -> Fetched:
        import redis

        connection = self._client(request.settings)
        try:
            raw = await connection.take(
                keys=self._keys(request), args=[request.limit, uuid.uuid4().hex]
            )
        except (redis.RedisError, OSError) as e:
            raise SourceError(
                f"redis {request.settings.host}:{request.settings.port} "
                f"list {request.settings.name!r}: {e}"
            ) from e
        epoch, head = raw[0].decode(), int(raw[1])
        items = [
            Item(data=value.decode("utf-8", "replace"), key=f"{epoch}:{head + i}")
            for i, value in enumerate(raw[2:])
        ]
        return Fetched(items=items, receipt=(epoch, head, len(items)))

    async def acknowledge(self, request: PollRequest[RedisListSettings], fetched: Fetched) -> None:
        import redis

        epoch, head, count = fetched.receipt
        try:
            await self._client(request.settings).ack(
                keys=self._keys(request)[1:], args=[epoch, head, count]
            )
        except (redis.RedisError, OSError) as e:
            raise SourceError(
                f"redis list {request.settings.name!r}: removing stored items failed: {e}"
            ) from e

    async def give_back(self, request: PollRequest[RedisListSettings], fetched: Fetched) -> None:
        import redis

        try:
            await self._client(request.settings).give_back(keys=self._keys(request))
        except (redis.RedisError, OSError) as e:
            raise SourceError(
                f"redis list {request.settings.name!r}: giving items back failed: {e}"
            ) from e

    async def close(self) -> None:
        connections, self._clients = list(self._clients.values()), {}
        for connection in connections:
            await connection.client.aclose()
