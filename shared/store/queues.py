"""Queue definitions in Redis: create, read, replace, enable/disable, delete.

A queue is the HASH `queue:<id>` (spec JSON with secrets encrypted, status,
created_tstamp, and the poll fields leases.py writes) and its member in the ZSET
`queues`. Each change is one script (queue_scripts.py) or one optimistic MULTI/EXEC.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from hippo.shared.errors import NotFound
from hippo.shared.store import queue_scripts
from hippo.shared.store.connection import translate_errors
from hippo.shared.store.keys import Keys


class QueueStore:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys
        self._create_queue = client.register_script(queue_scripts.CREATE_QUEUE)
        self._set_queue_status = client.register_script(queue_scripts.SET_QUEUE_STATUS)
        self._delete_queue = client.register_script(queue_scripts.DELETE_QUEUE)

    @translate_errors
    async def create_queue(self, queue_id: str, spec: bytes, status: str, *, now: float) -> bool:
        """False when a queue with this id exists (it is left as it was)."""
        created = await self._create_queue(args=[self.keys.prefix, queue_id, spec, status, now])
        return bool(created)

    @translate_errors
    async def get_queue(self, queue_id: str) -> dict[str, bytes] | None:
        """The queue's stored fields (spec JSON, status, poll fields), or None."""
        fields = await self.redis.hgetall(self.keys.queue(queue_id))
        return _named(fields) or None

    @translate_errors
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

    @translate_errors
    async def task_counts(self, queue_ids: list[str]) -> dict[str, tuple[int, int]]:
        """(active, waiting) tasks of each queue: launched and not ended, and not
        launched yet; read from the indexes the leader keeps, so the cost is per queue."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue_id in queue_ids:
                pipe.zcard(self.keys.tasks_active_by_queue(queue_id))
                pipe.zcard(self.keys.tasks_open_by_queue(queue_id))
            found = cast(list[int], await pipe.execute())
        counts = {}
        for index, queue_id in enumerate(queue_ids):
            active, unfinished = found[2 * index], found[2 * index + 1]
            counts[queue_id] = (active, max(0, unfinished - active))
        return counts

    @translate_errors
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

    @translate_errors
    async def set_queue_status(self, queue_id: str, status: str) -> str:
        """Set ENABLED or DISABLED, or flip with TOGGLE; returns the new status."""
        result = await self._set_queue_status(args=[self.keys.prefix, queue_id, status])
        if result is None:
            raise NotFound(f"no queue {queue_id}")
        return str(result.decode())

    @translate_errors
    async def delete_queue(self, queue_id: str) -> None:
        if not await self._delete_queue(args=[self.keys.prefix, queue_id]):
            raise NotFound(f"no queue {queue_id}")


def _named(fields: dict[bytes | str, bytes | str]) -> dict[str, bytes]:
    """A HASH as HGETALL answers it, with field names as text (replies are bytes: see
    connect)."""
    return {name.decode(): value for name, value in cast(dict[bytes, bytes], fields).items()}
