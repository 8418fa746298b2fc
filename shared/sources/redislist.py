"""A Redis list: each item becomes HIPPO_DATA.

Producers LPUSH; a poll moves items from the list's right end (oldest first) into the
queue's own processing list `<name>:hippo:processing:<queue id>` with LMOVE, and removes
them from there only after their tasks are stored. Only the queue's lease holder touches
that list, so it is ordered: a counter hash beside it (`...:seq`: `epoch`, `head` = seq of
the oldest item, `next`) gives every item a stable sequence number, and the idempotency key
`<epoch>:<seq>`. A poll first takes again whatever a dead or failed poll left there
(same keys, so stored ones make no second task), then new items.

When no poll will come again under a generation of the queue (deleted, or its list moved
by an edit), `give_back` returns the processing list's unstored items to the list and
fences the list against that generation (`fence` in the counter hash: the oldest
generation allowed to take), so a dead or paused worker's poll can never add to it again.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field

from hippo.shared.sources.base import (
    Fetched,
    Item,
    PollRequest,
    Source,
    SourceError,
    StoredKeys,
)
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
    host: Annotated[
        Text,
        Field(
            title="Redis host", description="Host name or address of the Redis holding the list."
        ),
    ]
    port: Annotated[int, Field(title="Redis port"), AfterValidator(_tcp_port)] = 6379
    db: Annotated[int, Field(title="Redis database number"), AfterValidator(_not_negative)] = 0
    name: Annotated[
        Text,
        Field(
            title="Name of the list",
            description="Each element is one item (LPUSH or RPUSH; taken from the head).",
        ),
    ]
    password: Annotated[Secret, Field(title="Redis password")] = ""
    ssl: Annotated[
        bool, Field(title="Connect with TLS", description="rediss://: TLS to the Redis server.")
    ] = False

    def connection_kwargs(self) -> dict[str, Any]:
        """redis-py client arguments for this server (sync or asyncio client alike):
        connect within 5 s, any call within 30 s."""
        return {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "password": self.password or None,
            "ssl": self.ssl,
            "socket_connect_timeout": 5,
            "socket_timeout": 30,
        }


# KEYS: source list, processing list, counter hash. ARGV: limit, epoch if the hash is new,
# the poll's generation. Returns {epoch, head seq, at most `limit` processing items oldest
# first...}: left-over items, then new; an error when a newer generation polls this list
# or this one was given back (the poll's settings were replaced or its queue deleted).
_TAKE = """
local src, proc, meta = KEYS[1], KEYS[2], KEYS[3]
local limit, gen = tonumber(ARGV[1]), tonumber(ARGV[3])
local fence = tonumber(redis.call('HGET', meta, 'fence') or '0')
if gen < fence then
  return redis.error_reply('generation ' .. ARGV[3] .. ' of the queue is retired: '
    .. 'it was deleted or edited, and generation ' .. fence .. ' or newer polls')
end
if gen > fence then redis.call('HSET', meta, 'fence', gen) end
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

# No poll will come again under generation `gen`: the processing list goes back to the
# source list's right end, oldest nearest the end (taken first again), but for the items
# the queue stored (dropped: they made tasks); the counter restarts, and the fence refuses
# `gen` and older from now on. Nothing when a newer generation took from this list (its
# polls take the left-overs) or `gen` was given back already.
# KEYS: source list, processing list, counter hash. ARGV: gen, the epoch the stored seqs
# are of ('' when none), then the stored seqs. Returns the items given back, or -1 when the
# epoch changed meanwhile (look at the list again).
_GIVE_BACK = """
local src, proc, meta = KEYS[1], KEYS[2], KEYS[3]
local gen = tonumber(ARGV[1])
local f = redis.call('HMGET', meta, 'fence', 'epoch', 'head')
if tonumber(f[1] or '0') > gen then return 0 end
if (f[2] or '') ~= ARGV[2] then return -1 end
local stored = {}
for i = 3, #ARGV do stored[tonumber(ARGV[i])] = true end
local head = tonumber(f[3] or '0')
local n = 0
for seq = head + redis.call('LLEN', proc) - 1, head, -1 do  -- newest (left) first
  local item = redis.call('LPOP', proc)
  if not stored[seq] then
    redis.call('RPUSH', src, item)
    n = n + 1
  end
end
redis.call('HDEL', meta, 'epoch', 'head', 'next')
redis.call('HSET', meta, 'fence', gen + 1)
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
    in_flight_location = ("host", "port", "db", "name")  # where the processing list is

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

            client = aioredis.Redis(**settings.connection_kwargs())
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
                keys=self._keys(request),
                args=[request.limit, uuid.uuid4().hex, request.generation],
            )
        except (redis.RedisError, OSError) as e:
            raise SourceError(
                f"redis {request.settings.host}:{request.settings.port} "
                f"list {request.settings.name!r}: {e}"
            ) from e
        epoch, head = raw[0].decode(), int(raw[1])
        items = [
            Item(data=value.decode("utf-8", "replace"), key=f"{epoch}:{head + i}", raw=value)
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

    async def give_back(self, request: PollRequest[RedisListSettings], stored: StoredKeys) -> None:
        import redis

        connection = self._client(request.settings)
        keys = self._keys(request)
        try:
            for _ in range(3):
                epoch, seqs = await self._in_flight(connection, keys)
                done = await stored([f"{epoch}:{seq}" for seq in seqs]) if epoch else set()
                stored_seqs = [seq for seq in seqs if f"{epoch}:{seq}" in done]
                args: list[int | str] = [request.generation, epoch, *stored_seqs]
                if await connection.give_back(keys=keys, args=args) >= 0:
                    return
        except (redis.RedisError, OSError) as e:
            raise SourceError(
                f"redis list {request.settings.name!r}: giving items back failed: {e}"
            ) from e
        raise SourceError(
            f"redis list {request.settings.name!r}: giving items back failed: the "
            "processing list kept changing (a poll of a newer generation?)"
        )

    @staticmethod
    async def _in_flight(connection: _Connection, keys: list[str]) -> tuple[str, range]:
        """The processing list's epoch ('' when none) and the seqs of its items."""
        async with connection.client.pipeline(transaction=True) as pipe:
            pipe.hmget(keys[2], ["epoch", "head"])
            pipe.llen(keys[1])
            (epoch, head), length = await pipe.execute()
        start = int(head or 0)
        return (epoch.decode() if epoch else ""), range(start, start + int(length))

    async def close(self) -> None:
        connections, self._clients = list(self._clients.values()), {}
        for connection in connections:
            await connection.client.aclose()
