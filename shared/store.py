"""The store: the only module that speaks to Redis.

Each state change is one Lua script (scripts.py) or one MULTI/EXEC, so a crash or
a concurrent writer never leaves half a change behind. Records come back as JSON
bytes, ready to send: the API lists 100 tasks without decoding one of them.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar, cast

import pydantic_core
import redis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from hippo.shared import scripts
from hippo.shared.errors import Conflict, NotFound, StoreUnavailable
from hippo.shared.keys import Keys
from hippo.shared.model import TaskDefinition
from hippo.shared.records import new_task_status

P = ParamSpec("P")
T = TypeVar("T")

# Members a filtered task listing may scan for one page before returning it short.
MAX_LIST_SCAN = 5000


def _translate_redis_errors(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError) as e:
            raise StoreUnavailable(f"Redis is unreachable: {e}") from e

    return wrapper


def merge_json_objects(first: bytes, second: bytes) -> bytes:
    """Two JSON object texts with disjoint, non-empty key sets as one object text."""
    return first[:-1] + b"," + second[1:]


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


@dataclass(frozen=True)
class TaskPage:
    records: bytes  # a JSON array
    next_cursor: int | None


class Store:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        *,
        keep_per_id: int = 100,
        idempotency_ttl_s: int = 86400,
    ) -> None:
        self.redis = client
        self.keys = keys
        self.keep_per_id = keep_per_id
        self.idempotency_ttl_s = idempotency_ttl_s
        self._create_tasks = client.register_script(scripts.CREATE_TASKS)
        self._list_tasks = client.register_script(scripts.LIST_TASKS)
        self._request_kill = client.register_script(scripts.REQUEST_KILL)
        self._delete_task = client.register_script(scripts.DELETE_TASK)
        self._trim_finished = client.register_script(scripts.TRIM_FINISHED)
        self._create_queue = client.register_script(scripts.CREATE_QUEUE)
        self._set_queue_status = client.register_script(scripts.SET_QUEUE_STATUS)
        self._delete_queue = client.register_script(scripts.DELETE_QUEUE)

    @_translate_redis_errors
    async def ping(self) -> None:
        await self.redis.ping()

    # --- tasks -----------------------------------------------------------------------

    @_translate_redis_errors
    async def create_task(
        self, definition: TaskDefinition, *, now: float, idempotency_key: str | None = None
    ) -> tuple[bytes, bool]:
        """Store a one-off task; returns its record and whether it was created.

        A key already used returns the task it created instead of a new one.
        """
        task_id = definition.id or uuid.uuid4().hex
        mesos_id = f"{task_id}.{uuid.uuid4()}"
        spec = definition.model_dump_json(exclude={"id"}, exclude_none=True).encode()
        status = pydantic_core.to_json(new_task_status(definition, task_id, mesos_id, now))
        result = await self._create_tasks(
            args=[
                self.keys.prefix,
                idempotency_key or "",
                self.idempotency_ttl_s,
                mesos_id,
                task_id,
                "",
                spec,
                status,
            ]
        )
        created, found_id = bool(result[0]), result[1].decode()
        if created:
            return merge_json_objects(spec, status), True
        record = await self.get_task(found_id)
        if record is None:
            raise Conflict(
                f"Idempotency-Key {idempotency_key!r} made task {found_id}, "
                "which has since been deleted"
            )
        return record, False

    @_translate_redis_errors
    async def get_task(self, mesos_id: str) -> bytes | None:
        spec, status = cast(
            list[bytes | None],
            await self.redis.hmget(self.keys.task(mesos_id), ["spec", "status"]),
        )
        if spec is None or status is None:
            return None
        return merge_json_objects(spec, status)

    @_translate_redis_errors
    async def list_tasks(
        self,
        *,
        state: str | None = None,
        task_id: str | None = None,
        queue_id: str | None = None,
        cursor: int | None = None,
        limit: int = 100,
    ) -> TaskPage:
        """Newest first. The most selective filter picks the index read; the others
        are membership checks, so the cost follows the page, not the number of records."""
        prefix = self.keys.prefix
        indexes = []
        if task_id is not None:
            indexes.append(self.keys.tasks_by_id(task_id))
        if queue_id is not None:
            indexes.append(self.keys.tasks_by_queue(queue_id))
        if state is not None:
            indexes.append(self.keys.tasks_by_state(state))
        if not indexes:
            indexes.append(self.keys.tasks_all)
        if len(indexes) == 1:
            return await self._read_page(indexes[0], cursor, limit)
        suffixes = [key.removeprefix(prefix) for key in indexes]
        result = await self._list_tasks(
            args=[
                prefix,
                suffixes[0],
                "+inf" if cursor is None else f"({cursor}",
                limit,
                MAX_LIST_SCAN,
                *suffixes[1:],
            ]
        )
        pairs = result[1:]
        records = [merge_json_objects(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
        next_cursor = int(result[0][1:]) if result[0] else None
        return TaskPage(b"[" + b",".join(records) + b"]", next_cursor)

    async def _read_page(self, index: str, cursor: int | None, limit: int) -> TaskPage:
        """One index, no other filter: a single SORT ... GET reads the page.

        Redis serves it several times faster than a script or a pipeline reading the
        same records (docs/benchmarks.md). A cursor page starts at the rank after the
        cursor; the ZCOUNT in the same MULTI proves that rank was still right when
        SORT ran, else the page is read again from the corrected rank.
        """
        pattern = self.keys.task("*")
        get = [f"{pattern}->spec", f"{pattern}->status", f"{pattern}->seq"]
        if cursor is None:
            found = cast(
                list[bytes | None],
                await self.redis.sort(
                    index, start=0, num=limit + 1, by="nosort", get=get, desc=True
                ),
            )
            return _page(found, limit)
        offset = await self.redis.zcount(index, cursor, "+inf")
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.sort(index, start=offset, num=limit + 1, by="nosort", get=get, desc=True)
                if cursor is not None:
                    pipe.zcount(index, cursor, "+inf")
                found, *newer = await pipe.execute()
            if not newer or newer[0] == offset:
                break
            offset = newer[0]
        return _page(found, limit)

    @_translate_redis_errors
    async def request_kill(self, mesos_id: str, *, now: float) -> tuple[str, bytes]:
        """Returns ('killed' | 'requested', record). A waiting task is killed at once."""
        outcome, *rest = await self._request_kill(
            args=[self.keys.prefix, mesos_id, now, self.keep_per_id]
        )
        outcome = outcome.decode()
        if outcome == "missing":
            raise NotFound(f"no task {mesos_id}")
        if outcome == "finished":
            raise Conflict(f"task {mesos_id} has already finished ({rest[0].decode()})")
        record = await self.get_task(mesos_id)
        assert record is not None  # a kill never deletes the task it kills
        return outcome, record

    @_translate_redis_errors
    async def delete_task(self, mesos_id: str) -> None:
        outcome = (await self._delete_task(args=[self.keys.prefix, mesos_id])).decode()
        if outcome == "missing":
            raise NotFound(f"no task {mesos_id}")
        if outcome != "deleted":
            raise Conflict(f"task {mesos_id} is {outcome} on an agent: kill it first")

    @_translate_redis_errors
    async def trim_finished(self, *, now: float, max_age_s: float, batch: int = 1000) -> int:
        """Delete task records that finished more than max_age_s ago; returns how many."""
        deleted = 0
        while True:
            count: int = await self._trim_finished(args=[self.keys.prefix, now - max_age_s, batch])
            deleted += count
            if count < batch:
                return deleted

    # --- queues ----------------------------------------------------------------------

    @_translate_redis_errors
    async def create_queue(self, queue_id: str, spec: bytes, status: str, *, now: float) -> bool:
        """False when a queue with this id exists (it is left as it was)."""
        created = await self._create_queue(args=[self.keys.prefix, queue_id, spec, status, now])
        return bool(created)

    @_translate_redis_errors
    async def get_queue(self, queue_id: str) -> dict[str, bytes] | None:
        """The queue's stored fields (spec JSON, status, poll fields), or None."""
        fields = await self.redis.hgetall(self.keys.queue(queue_id))
        return _named(fields) or None

    @_translate_redis_errors
    async def list_queues(self) -> list[tuple[str, dict[str, bytes]]]:
        members = cast(list[bytes], await self.redis.zrange(self.keys.queues, 0, -1))
        ids = [i.decode() for i in members]
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue_id in ids:
                pipe.hgetall(self.keys.queue(queue_id))
            found = await pipe.execute()
        return [
            (queue_id, _named(fields))
            for queue_id, fields in zip(ids, found, strict=True)
            if fields
        ]

    @_translate_redis_errors
    async def replace_queue(
        self, queue_id: str, build: Callable[[dict[str, bytes]], tuple[bytes, str]]
    ) -> None:
        """Replace a queue's definition with build(stored fields) -> (spec, status).

        Optimistic: if another writer changes the queue meanwhile, build runs again on
        what that writer stored, so the two never mix. Poll fields are kept.
        """
        key = self.keys.queue(queue_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    stored = _named(await pipe.hgetall(key))
                    if not stored:
                        raise NotFound(f"no queue {queue_id}")
                    spec, status = build(stored)
                    pipe.multi()  # type: ignore[no-untyped-call]  # unannotated in redis-py
                    pipe.hset(key, mapping={"spec": spec, "status": status})
                    if status == "ENABLED" and stored.get("status") != b"ENABLED":
                        pipe.zadd(self.keys.queues_due, {queue_id: 0})  # re-enabled: poll now
                    await pipe.execute()
                    return
                except WatchError:
                    continue

    @_translate_redis_errors
    async def set_queue_status(self, queue_id: str, status: str) -> str:
        """Set ENABLED or DISABLED, or flip with TOGGLE; returns the new status."""
        result = await self._set_queue_status(args=[self.keys.prefix, queue_id, status])
        if result is None:
            raise NotFound(f"no queue {queue_id}")
        return str(result.decode())

    @_translate_redis_errors
    async def delete_queue(self, queue_id: str) -> None:
        if not await self._delete_queue(args=[self.keys.prefix, queue_id]):
            raise NotFound(f"no queue {queue_id}")


def _named(fields: dict[bytes | str, bytes | str]) -> dict[str, bytes]:
    """A HASH as HGETALL answers it, with field names as text (replies are bytes: see
    connect)."""
    return {name.decode(): value for name, value in cast(dict[bytes, bytes], fields).items()}


def _page(found: list[bytes | None], limit: int) -> TaskPage:
    """A page from SORT's flat answer of (spec, status, seq) triples, limit + 1 at most."""
    rows = [found[i : i + 3] for i in range(0, len(found), 3)]
    # A record deleted meanwhile reads as nils and is left out of the page.
    # One HSET writes a record's spec, status and seq, so seq is there when they are.
    page = [
        (spec, status, int(cast(bytes, seq)))
        for spec, status, seq in rows[:limit]
        if spec and status
    ]
    next_cursor = page[-1][2] if len(rows) > limit and page else None
    records = [merge_json_objects(spec, status) for spec, status, _ in page]
    return TaskPage(b"[" + b",".join(records) + b"]", next_cursor)
