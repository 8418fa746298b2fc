"""The Redis side of queue polling: per-queue leases and storing a poll atomically.

A queue is polled by whichever worker claims it: `claim_due_queues` leases up to N
due queues in one step; `store_poll` writes a poll's tasks, item keys, watermark and
poll fields in one step that first checks the lease; `fail_poll` records an error.
Retired generations (a deleted queue, settings an edit replaced) are claimed the same
way by `claim_drains` and ended by `end_drain`. Redis errors go through
connection.translated, like every part of the store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from hippo.shared.store import lease_scripts
from hippo.shared.store.connection import translate_errors
from hippo.shared.store.keys import Keys
from hippo.shared.tunables import REDIS_WAIT_TIMEOUT_S


@dataclass(frozen=True)
class ClaimedQueue:
    """A queue this worker holds the lease on, with what a poll needs to know."""

    queue_id: str
    token: str
    spec: bytes
    watermark: str | None  # JSON, as the last stored poll left it
    created_tstamp: float
    open_tasks: int  # unfinished tasks the queue made: its backpressure
    failures: int  # polls failed in a row before this one
    generation: int  # the settings it is polled under (PollRequest.generation)


@dataclass(frozen=True)
class Claim:
    now: float  # the Redis server's clock
    queues: list[ClaimedQueue]
    next_due: float | None  # the earliest score left in the due set


@dataclass(frozen=True)
class DrainClaim:
    """A retired generation this worker holds the lease on: give its in-flight items back."""

    generation: int
    token: str
    queue_id: str
    spec: bytes  # the definition the generation polled under (secrets encrypted)
    created_tstamp: float
    failures: int  # drains failed before this one
    now: float  # the Redis server's clock at the claim


@dataclass(frozen=True)
class NewTask:
    mesos_id: str
    task_id: str
    spec: bytes
    status: bytes


class StoreOutcome:
    STORED = 1
    LEASE_LOST = 0
    KEY_SEEN = -1
    # Stored, but fewer replicas than asked have it: a failover now could lose it, so its
    # items must not be acknowledged to the source yet (PollStore's wait_replicas).
    NOT_REPLICATED = 2


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class PollStore:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        *,
        idempotency_ttl_s: int,
        in_flight_location: Mapping[str, Sequence[str]] | None = None,
        wait_replicas: int = 0,
        wait_timeout_s: float = REDIS_WAIT_TIMEOUT_S,
    ) -> None:
        """`in_flight_location`: {queue type: its Source.in_flight_location}, the poller's
        types; an edit of a queue whose type is not there retires its generation whenever
        its settings change at all. `wait_replicas`: a stored poll is NOT_REPLICATED until
        that many replicas have it (Redis WAIT, at most `wait_timeout_s`)."""
        self.redis = client
        self.keys = keys
        self.idempotency_ttl_s = idempotency_ttl_s
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = max(1, round(wait_timeout_s * 1000))
        location = {t: list(names) for t, names in (in_flight_location or {}).items()}
        self._location = json.dumps(location)
        self._claim = client.register_script(lease_scripts.CLAIM_DUE_QUEUES)
        self._store = client.register_script(lease_scripts.STORE_POLL)
        self._fail = client.register_script(lease_scripts.FAIL_POLL)
        self._release = client.register_script(lease_scripts.RELEASE_LEASE)
        self._extend = client.register_script(lease_scripts.EXTEND_LEASE)
        self._reconcile = client.register_script(lease_scripts.RECONCILE_DUE)
        self._claim_drains = client.register_script(lease_scripts.CLAIM_DRAINS)
        self._end_drain = client.register_script(lease_scripts.END_DRAIN)

    @translate_errors
    async def claim_due_queues(self, limit: int, lease_s: float) -> Claim:
        token_base = uuid.uuid4().hex
        raw = await self._claim(args=[self.keys.prefix, lease_s, limit, token_base, self._location])
        queues = []
        for i in range(2, len(raw), 8):
            queue_id, token, spec, watermark, created, open_tasks, failures, gen = raw[i : i + 8]
            queues.append(
                ClaimedQueue(
                    queue_id=_text(queue_id),
                    token=_text(token),
                    spec=spec,
                    watermark=_text(watermark) or None,
                    created_tstamp=float(_text(created)),
                    open_tasks=int(open_tasks),
                    failures=int(_text(failures)),
                    generation=int(_text(gen)),
                )
            )
        next_due = float(_text(raw[1])) if raw[1] else None
        return Claim(now=float(_text(raw[0])), queues=queues, next_due=next_due)

    @translate_errors
    async def seen_item_keys(self, queue_id: str, item_keys: Sequence[str]) -> set[str]:
        """The keys among `item_keys` this queue has stored within the retention window."""
        if not item_keys:
            return set()
        found = await self.redis.mget([self.keys.queue_item(queue_id, k) for k in item_keys])
        return {k for k, v in zip(item_keys, found, strict=True) if v is not None}

    @translate_errors
    async def store_poll(
        self,
        queue_id: str,
        token: str,
        *,
        item_keys: Sequence[str],
        tasks: Sequence[NewTask],
        dead_letters: Sequence[tuple[str, bytes]] = (),
        items_taken: int,
        watermark: str | None,
        delay_s: float | None,
        acknowledging: bool = False,
    ) -> int:
        """One of StoreOutcome's values; nothing is written unless it is STORED (or
        NOT_REPLICATED). `acknowledging`: the caller acknowledges items to their source
        once this is stored, so with `wait_replicas` it is STORED only once that many
        replicas have every write made before (this poll's, and an earlier poll's that
        stored the items it finds already seen).
        `dead_letters`: (id, record JSON) of items no process can receive, kept in the
        queue's dead letters instead of becoming tasks.

        With delay_s None the lease is kept: end it with release_lease."""
        args: list[Any] = [
            self.keys.prefix,
            queue_id,
            token,
            self.idempotency_ttl_s,
            "" if delay_s is None else delay_s,
            watermark or "",
            items_taken,
            len(item_keys),
            *item_keys,
            len(dead_letters),
        ]
        for dead_letter_id, record in dead_letters:
            args += [dead_letter_id, record]
        for task in tasks:
            args += [task.mesos_id, task.task_id, task.spec, task.status]
        if not (acknowledging and self.wait_replicas):
            return int(await self._store(args=args))
        # WAIT counts the replicas that have every write made so far on its own
        # connection: the script and the WAIT go down one connection, as a pipeline.
        async with self.redis.pipeline(transaction=False) as pipe:
            await self._store(args=args, client=pipe)
            pipe.wait(self.wait_replicas, self.wait_timeout_ms)
            outcome, replicas = await pipe.execute()
        if int(outcome) == StoreOutcome.STORED and int(replicas) < self.wait_replicas:
            return StoreOutcome.NOT_REPLICATED
        return int(outcome)

    @translate_errors
    async def fail_poll(self, queue_id: str, token: str, error: str, delay_s: float) -> bool:
        return bool(await self._fail(args=[self.keys.prefix, queue_id, token, error, delay_s]))

    @translate_errors
    async def extend_lease(self, queue_id: str, token: str, lease_s: float) -> bool:
        """Keep a lease while its poll runs; False when it is no longer ours."""
        return bool(await self._extend(args=[self.keys.prefix, queue_id, token, lease_s]))

    @translate_errors
    async def release_lease(self, queue_id: str, token: str, delay_s: float = 0) -> bool:
        """End a lease; the queue is due again after delay_s. False when not ours."""
        return bool(await self._release(args=[self.keys.prefix, queue_id, token, delay_s]))

    @translate_errors
    async def reconcile_due(self) -> int:
        """Add queues missing from the due set; returns how many were added."""
        return int(await self._reconcile(args=[self.keys.prefix]))

    @translate_errors
    async def claim_drains(self, limit: int, lease_s: float) -> list[DrainClaim]:
        """Lease up to `limit` retired generations due to be drained."""
        raw = await self._claim_drains(args=[self.keys.prefix, lease_s, limit, uuid.uuid4().hex])
        now = float(_text(raw[0]))
        return [
            DrainClaim(
                generation=int(_text(gen)),
                token=_text(token),
                queue_id=_text(queue_id),
                spec=spec,
                created_tstamp=float(_text(created)),
                failures=int(_text(failures)),
                now=now,
            )
            for gen, token, queue_id, spec, created, failures in (
                raw[i : i + 6] for i in range(1, len(raw), 6)
            )
        ]

    @translate_errors
    async def end_drain(
        self, claim: DrainClaim, retry_in_s: float | None = None, *, failed: bool = False
    ) -> bool:
        """The drain is done (retry_in_s None: the entry goes), or to be tried again after
        retry_in_s (a failure when `failed`). False when the claim is no longer ours."""
        delay = "" if retry_in_s is None else retry_in_s
        args: list[Any] = [self.keys.prefix, claim.generation, claim.token, delay]
        args.append("1" if failed else "0")
        return bool(await self._end_drain(args=args))
