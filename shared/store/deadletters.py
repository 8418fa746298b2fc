"""A queue's dead letters as the API reads and acts on them (shared/deadletters.py).

Listing reads the order ZSET and the records in one MULTI; running again and
discarding are one script each (deadletter_scripts.py), so a dead letter run again by
two callers at once becomes one task.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis

from hippo.shared.deadletters import run_again_status
from hippo.shared.errors import Conflict
from hippo.shared.store import deadletter_scripts
from hippo.shared.store.connection import translate_errors
from hippo.shared.store.keys import Keys

# Dead letters one script runs again at once (a "run all" goes in such steps).
RERUN_BATCH = 200


@dataclass(frozen=True)
class DeadLetterPage:
    records: list[bytes]  # stored records, newest first
    next_cursor: int | None


@dataclass(frozen=True)
class RerunOutcome:
    rerun: list[tuple[str, str]]  # (dead letter id, the new run's mesos_id)
    refused: list[tuple[str, str]]  # (dead letter id, why it cannot run)


class DeadLetterStore:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys
        self._rerun = client.register_script(deadletter_scripts.RERUN_DEAD_LETTERS)
        self._discard = client.register_script(deadletter_scripts.DISCARD_DEAD_LETTERS)

    @translate_errors
    async def list_dead_letters(
        self, queue_id: str, *, cursor: int | None = None, limit: int = 100
    ) -> DeadLetterPage:
        """Newest first; `cursor` is the previous page's next_cursor."""
        order = self.keys.deadletters_order(queue_id)
        high = "+inf" if cursor is None else f"({cursor}"
        entries = cast(
            list[tuple[bytes, float]],
            await self.redis.zrevrangebyscore(
                order, high, "-inf", start=0, num=limit + 1, withscores=True
            ),
        )
        ids = [member for member, _ in entries[:limit]]
        records = await self._records(queue_id, ids)
        # A dead letter dropped between the two reads is left out of the page.
        found = [record for record in records if record is not None]
        next_cursor = int(entries[limit - 1][1]) if len(entries) > limit else None
        return DeadLetterPage(found, next_cursor)

    async def _records(self, queue_id: str, ids: Sequence[bytes | str]) -> list[bytes | None]:
        if not ids:
            return []
        return cast(
            list[bytes | None], await self.redis.hmget(self.keys.deadletters(queue_id), list(ids))
        )

    @translate_errors
    async def queue_exists(self, queue_id: str) -> bool:
        return bool(await self.redis.exists(self.keys.queue(queue_id)))

    @translate_errors
    async def get_dead_letter(self, queue_id: str, dead_letter_id: str) -> bytes | None:
        return cast(
            bytes | None, await self.redis.hget(self.keys.deadletters(queue_id), dead_letter_id)
        )

    @translate_errors
    async def dead_letter_count(self, queue_id: str) -> int:
        return int(await self.redis.zcard(self.keys.deadletters_order(queue_id)))

    @translate_errors
    async def rerun_dead_letters(
        self, queue_id: str, dead_letter_ids: Sequence[str] | None, *, now: float
    ) -> RerunOutcome:
        """Run these dead letters again (None: every one of the queue), each as a new
        task of its queue. Ids not (or no longer) in the list are left out of `rerun`;
        those whose definition no process can receive stay, listed in `refused`."""
        rerun: list[tuple[str, str]] = []
        refused: list[tuple[str, str]] = []
        skip: set[str] = set()
        while True:
            if dead_letter_ids is None:
                members = cast(
                    list[bytes],
                    await self.redis.zrange(
                        self.keys.deadletters_order(queue_id), 0, RERUN_BATCH + len(skip) - 1
                    ),
                )
                batch = [member.decode() for member in members]
                batch = [member for member in batch if member not in skip][:RERUN_BATCH]
            else:
                batch = list(dead_letter_ids)
            if not batch:
                break
            records = await self._records(queue_id, batch)
            args: list[str | bytes] = [self.keys.prefix, queue_id]
            for dead_letter_id, record in zip(batch, records, strict=True):
                if record is None:
                    skip.add(dead_letter_id)
                    continue
                task_id = dead_letter_id.rsplit(".", 1)[0]
                mesos_id = f"{task_id}.{uuid.uuid4()}"
                try:
                    status = run_again_status(record, mesos_id, now)
                except Conflict as e:
                    refused.append((dead_letter_id, str(e)))
                    skip.add(dead_letter_id)
                    continue
                args += [dead_letter_id, mesos_id, status]
            if len(args) > 2:
                done = await self._rerun(args=args)
                rerun += [(done[i].decode(), done[i + 1].decode()) for i in range(0, len(done), 2)]
            if dead_letter_ids is not None:
                break
        return RerunOutcome(rerun, refused)

    @translate_errors
    async def discard_dead_letters(
        self, queue_id: str, dead_letter_ids: Sequence[str] | None
    ) -> int:
        """Drop these dead letters (None: every one of the queue); returns how many."""
        return int(await self._discard(args=[self.keys.prefix, queue_id, *(dead_letter_ids or ())]))


@dataclass(frozen=True)
class DeadLetterPush:
    member: str  # '<queue id> <dead letter id>'
    dead_letter_id: str
    record: bytes  # the stored dead letter
    queue_spec: bytes  # its queue's definition, secrets encrypted
    attempts: int  # pushes that failed before this one


class DeadLetterPushStore:
    """The outbox of pushes to queues' deadletter_target (worker/deadletter_push.py)."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys
        self._claim = client.register_script(deadletter_scripts.CLAIM_PUSHES)
        self._end = client.register_script(deadletter_scripts.END_PUSH)

    @translate_errors
    async def claim_pushes(self, limit: int, lease_s: float) -> list[DeadLetterPush]:
        raw = await self._claim(args=[self.keys.prefix, lease_s, limit])
        return [
            DeadLetterPush(
                raw[i].decode(), raw[i + 1].decode(), raw[i + 2], raw[i + 3], int(raw[i + 4])
            )
            for i in range(0, len(raw), 5)
        ]

    @translate_errors
    async def end_push(self, member: str, retry_in_s: float | None) -> None:
        delay = "" if retry_in_s is None else retry_in_s
        await self._end(args=[self.keys.prefix, member, delay])
