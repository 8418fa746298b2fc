"""Task records as the API sees them: create, read, list, kill, delete.

Each change is one Lua script (task_scripts.py), so a crash or a concurrent writer
never leaves half a change behind. Records come back as JSON bytes, ready to send: the
API lists 100 tasks without decoding one of them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any, cast

import pydantic_core
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from hippo.shared import tunables
from hippo.shared.errors import Conflict, NotFound
from hippo.shared.model import TaskDefinition
from hippo.shared.records import new_task_status, run_history
from hippo.shared.secrets import MASK
from hippo.shared.store import task_scripts
from hippo.shared.store.connection import translate_errors
from hippo.shared.store.keys import Keys
from hippo.shared.store.pipelined import PipelinedConnection
from hippo.shared.store.retention import retention_arg


def dedupe_digest(definition: TaskDefinition) -> str:
    """What makes two one-off tasks duplicates for HIPPO_DEDUPE_ONE_OFF_TASKS, as the
    original Hippo compared them: the same cmd and the same image."""
    key = json.dumps([definition.cmd, definition.container.docker.image])
    return hashlib.sha256(key.encode()).hexdigest()


def merge_json_objects(first: bytes, second: bytes) -> bytes:
    """Two JSON object texts with disjoint, non-empty key sets as one object text."""
    return first[:-1] + b"," + second[1:]


@dataclass(frozen=True)
class TaskPage:
    rows: list[tuple[bytes, bytes]]  # each record's (spec, status) JSON object texts
    next_cursor: int | None

    @property
    def records(self) -> bytes:
        """The page as one JSON array of records."""
        return b"[" + b",".join(merge_json_objects(*row) for row in self.rows) + b"]"


class TaskStore:
    """Task records as the API reads and writes them (the leader's writes are in
    leadership.py)."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        *,
        keep_per_id: int = 100,
        keep_per_queue: int = 10000,
        idempotency_ttl_s: int = 86400,
        pipelined: PipelinedConnection | None = None,
    ) -> None:
        self.redis = client
        # The hot reads' faster path to the same server, when there is one (pipelined.py).
        self.pipelined = pipelined
        self.keys = keys
        self.retention = retention_arg(keep_per_id, keep_per_queue)
        self.idempotency_ttl_s = idempotency_ttl_s
        self._create_tasks = client.register_script(task_scripts.CREATE_TASKS)
        self._create_task_deduped = client.register_script(task_scripts.CREATE_TASK_DEDUPED)
        self._list_tasks = client.register_script(task_scripts.LIST_TASKS)
        self._request_kill = client.register_script(task_scripts.REQUEST_KILL)
        self._delete_task = client.register_script(task_scripts.DELETE_TASK)
        self._read_history = client.register_script(task_scripts.READ_HISTORY)

    async def _run(self, script: AsyncScript, args: list[str | int | bytes]) -> Any:
        """`script` (no KEYS) over the pipelined connection when there is one."""
        if self.pipelined is not None:
            return await self.pipelined.run_script(script, args)
        return await script(args=args)

    @translate_errors
    async def ping(self) -> None:
        await self.redis.ping()

    # --- tasks -----------------------------------------------------------------------

    @translate_errors
    async def create_task(
        self,
        definition: TaskDefinition,
        *,
        now: float,
        idempotency_key: str | None = None,
        dedupe: bool = False,
        sealed_callback_secret: str | None = None,
    ) -> tuple[bytes, bool]:
        """Store a one-off task; returns its record and whether it was created.

        A key already used returns the task it created instead of a new one. With
        `dedupe`, a one-off task posted with `dedupe` whose cmd and image are the same and
        which is still waiting or active (or its retry is) is returned instead too. With a
        callback_url, the url and `sealed_callback_secret` (encrypted) go to the record's
        `callback` field, written first, so no run of it exists without them; the spec
        shows the secret masked.
        """
        task_id = definition.id or uuid.uuid4().hex
        mesos_id = f"{task_id}.{uuid.uuid4()}"
        if definition.callback_secret is not None:
            definition = definition.model_copy(update={"callback_secret": MASK})
        if definition.callback_url is not None:
            callback = {"url": definition.callback_url, "secret": sealed_callback_secret}
            await self.redis.hset(self.keys.task(mesos_id), "callback", json.dumps(callback))
        spec = definition.model_dump_json(exclude={"id"}, exclude_none=True).encode()
        status = pydantic_core.to_json(new_task_status(definition, task_id, mesos_id, now))
        head: list[str | int | bytes] = [
            self.keys.prefix,
            idempotency_key or "",
            self.idempotency_ttl_s,
        ]
        if dedupe:
            result = await self._run(
                self._create_task_deduped,
                [*head, dedupe_digest(definition), mesos_id, task_id, spec, status],
            )
        else:
            result = await self._run(
                self._create_tasks, [*head, mesos_id, task_id, "", spec, status]
            )
        outcome, found_id = int(result[0]), result[1].decode()
        if outcome == 1:
            return merge_json_objects(spec, status), True
        if definition.callback_url is not None:
            await self.redis.delete(self.keys.task(mesos_id))  # the callback of no task
        record = await self.get_task(found_id)
        if record is None:  # only a deleted task's idempotency key can point nowhere
            raise Conflict(
                f"Idempotency-Key {idempotency_key!r} made task {found_id}, "
                "which has since been deleted"
            )
        return record, False

    @translate_errors
    async def get_task(self, mesos_id: str) -> bytes | None:
        found = await self.get_task_parts(mesos_id)
        return None if found is None else merge_json_objects(*found)

    @translate_errors
    async def get_task_parts(self, mesos_id: str) -> tuple[bytes, bytes] | None:
        """A task record's (spec, status) JSON object texts; None when there is none."""
        key = self.keys.task(mesos_id)
        if self.pipelined is not None:
            found = await self.pipelined.execute("HMGET", key, "spec", "status")
        else:
            found = await self.redis.hmget(key, ["spec", "status"])
        spec, status = cast(list[bytes | None], found)
        if spec is None or status is None:
            return None
        return spec, status

    @translate_errors
    async def task_history(self, mesos_id: str) -> dict[str, Any] | None:
        """A run's history and chain of runs (records.run_history), None when missing."""
        found = await self._read_history(args=[self.keys.prefix, mesos_id, tunables.MAX_CHAIN_RUNS])
        if not found:
            return None
        history = json.loads(found[0]) if found[0] else []
        return run_history(mesos_id, history, [json.loads(raw) for raw in found[1:]])

    @translate_errors
    async def task_status(self, mesos_id: str) -> dict[str, Any] | None:
        """The run-time half of a task record, decoded; None when there is no such task."""
        raw = await self.redis.hget(self.keys.task(mesos_id), "status")
        return None if raw is None else dict(json.loads(raw))

    @translate_errors
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
                tunables.MAX_LIST_SCAN,
                *suffixes[1:],
            ]
        )
        pairs = result[1:]
        next_cursor = int(result[0][1:]) if result[0] else None
        return TaskPage([(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)], next_cursor)

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
            if self.pipelined is not None:
                gets = [arg for pattern in get for arg in ("GET", pattern)]
                first = await self.pipelined.execute(
                    "SORT", index, "BY", "nosort", "LIMIT", 0, limit + 1, *gets, "DESC"
                )
            else:
                first = await self.redis.sort(
                    index, start=0, num=limit + 1, by="nosort", get=get, desc=True
                )
            return _page(cast(list[bytes | None], first), limit)
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

    @translate_errors
    async def request_kill(self, mesos_id: str, *, now: float) -> tuple[str, bytes]:
        """Returns ('killed' | 'requested', record). A waiting task is killed at once."""
        outcome, *rest = await self._request_kill(
            args=[self.keys.prefix, mesos_id, now, self.retention]
        )
        outcome = outcome.decode()
        if outcome == "missing":
            raise NotFound(f"no task {mesos_id}")
        if outcome == "finished":
            raise Conflict(f"task {mesos_id} has already finished ({rest[0].decode()})")
        record = await self.get_task(mesos_id)
        assert record is not None  # a kill never deletes the task it kills
        return outcome, record

    @translate_errors
    async def delete_task(self, mesos_id: str) -> None:
        outcome = (await self._delete_task(args=[self.keys.prefix, mesos_id])).decode()
        if outcome == "missing":
            raise NotFound(f"no task {mesos_id}")
        if outcome != "deleted":
            raise Conflict(f"task {mesos_id} is {outcome} on an agent: kill it first")


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
    return TaskPage([(spec, status) for spec, status, _ in page], next_cursor)
