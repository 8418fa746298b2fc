"""The worker leader's side of the store: fenced claims and status updates, and the
reads an offer round, reconciliation and kills need.

Every write goes through a Lua script of leader_scripts.py that checks the caller's
epoch; a stale leader gets `StaleEpoch` and must step down. Every method's Redis errors
go through connection.translated (Redis unreachable: StoreUnavailable). Reads are
pipelined, so a round costs a few round trips whatever the number of tasks it looks at,
and nothing it reads grows with the number of finished task records.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import redis.asyncio as aioredis

from hippo.shared.model import QueueBlock
from hippo.shared.records import ACTIVE_STATES, WAITING
from hippo.shared.store import leader_scripts
from hippo.shared.store.connection import translate_errors
from hippo.shared.store.keys import Keys
from hippo.shared.store.retention import retention_arg

# The default of a queue's max_concurrent, from the model (for a queue since deleted).
DEFAULT_QUEUE_MAX_CONCURRENT: int = QueueBlock.model_fields["max_concurrent"].default


@dataclass(frozen=True)
class Claim:
    mesos_id: str
    agent_id: str
    hostname: str
    id_cap: int | None
    queue_cap: int | None


@dataclass(frozen=True)
class CappedId:
    """A task id whose waiting runs cannot launch: `active` runs, `cap` allowed."""

    task_id: str
    cap: int
    active: int


class WaitingRun(NamedTuple):
    """A waiting run as LAUNCHABLE read it: its record's spec and status JSON (None
    when the record is gone)."""

    mesos_id: str
    seq: float
    spec: bytes | None
    status: bytes | None


@dataclass(frozen=True)
class Launchable:
    """What one LAUNCHABLE call found: `runs` oldest first, the rank to go on from (None
    at the end), the ids stepped past at their cap, and the active runs of each id whose
    runs were taken (read in the same step)."""

    runs: list[WaitingRun]
    next_start: int | None
    capped: list[CappedId]
    active_by_id: dict[str, int]


@dataclass(frozen=True)
class StatusUpdate:
    mesos_id: str
    state: str
    message: str
    reason: str
    agent_id: str
    retry_budget: str  # '', 'task' or 'system'
    fresh_uuid: str  # names the next run, if one is made


@dataclass(frozen=True)
class UpdateOutcome:
    outcome: str  # stored | retried | same | stale | missing
    detail: str  # new mesos_id when retried; created_tstamp on a first TASK_RUNNING


@dataclass(frozen=True)
class DueDeadlines:
    released: int  # delayed retries now launchable
    failed: int  # waiting runs ended by max_pending_seconds
    killed: int  # running runs whose kill max_runtime_seconds queued
    next_in_s: float | None  # seconds until the next time is due; None: none is set


@dataclass(frozen=True)
class ActiveTask:
    mesos_id: str
    state: str
    agent_id: str | None
    updated_tstamp: float
    kill_requested: bool


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


class LeaderStore:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        *,
        keep_per_id: int = 100,
        keep_per_queue: int = 10000,
    ) -> None:
        self.redis = client
        self.keys = keys
        self.retention = retention_arg(keep_per_id, keep_per_queue)
        self._take_epoch = client.register_script(leader_scripts.TAKE_EPOCH)
        self._save_framework_id = client.register_script(leader_scripts.SAVE_FRAMEWORK_ID)
        self._claim = client.register_script(leader_scripts.CLAIM_TASKS)
        self._record = client.register_script(leader_scripts.RECORD_UPDATES)
        self._unclaim = client.register_script(leader_scripts.UNCLAIM_TASKS)
        self._launchable = client.register_script(leader_scripts.LAUNCHABLE)
        self._fail_waiting = client.register_script(leader_scripts.FAIL_WAITING)
        self._trim_finished = client.register_script(leader_scripts.TRIM_FINISHED)
        self._due_deadlines = client.register_script(leader_scripts.DUE_DEADLINES)
        self._set_pending = client.register_script(leader_scripts.SET_PENDING_REASONS)
        self._save_status = client.register_script(leader_scripts.SAVE_LEADER_STATUS)

    # --- leadership ----------------------------------------------------------------

    @translate_errors
    async def take_epoch(self, lock_key: str, lock_id: str) -> int | None:
        """A new epoch while the lock holds `lock_id`; None when it does not."""
        epoch = int(await self._take_epoch(args=[self.keys.prefix, lock_key, lock_id]))
        return epoch or None

    @translate_errors
    async def still_leader(self, lock_key: str, lock_id: str, epoch: int) -> float:
        """For how many more seconds, counted from when this was asked, the lock is
        certainly ours: its remaining expiry (inf without one) while it holds our id and
        no newer epoch was taken; 0.0 otherwise. One round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.mget([lock_key, self.keys.leader_epoch])
            pipe.pttl(lock_key)
            (holder, current), ttl_ms = await pipe.execute()
        if not (_text(holder) == lock_id and _text(current) == str(epoch)):
            return 0.0
        # PTTL: -1 the key has no expiry, -2 it is gone (expired since the MGET).
        return math.inf if ttl_ms == -1 else max(0.0, ttl_ms / 1000)

    @translate_errors
    async def framework_id(self) -> str | None:
        return _text(await self.redis.get(self.keys.framework_id))

    @translate_errors
    async def save_framework_id(self, epoch: int, framework_id: str | None) -> None:
        await self._save_framework_id(args=[self.keys.prefix, epoch, framework_id or ""])

    @translate_errors
    async def save_leader_status(self, epoch: int, report: Mapping[str, Any], ttl_s: float) -> None:
        """The leader's report (shared/leader_status.py), kept `ttl_s` seconds."""
        raw = json.dumps(report)
        await self._save_status(args=[self.keys.prefix, epoch, raw, int(ttl_s * 1000)])

    # --- offer rounds --------------------------------------------------------------

    @translate_errors
    async def launchable(self, limit: int, max_ids: int, start: int = 0) -> Launchable:
        """The waiting runs below their id's cap, with their records, from the id at rank
        `start` on (LAUNCHABLE), in one step. Whole ids: the runs can exceed `limit` by
        the last id's free slots."""
        raw = await self._launchable(args=[self.keys.prefix, limit, max_ids, start])
        next_start = int(raw[0]) if raw[0] not in (b"", "") else None
        end = 2 + 3 * int(raw[1])
        capped = [
            CappedId(raw[i].decode(), int(raw[i + 1]), int(raw[i + 2])) for i in range(2, end, 3)
        ]
        counts_end = end + 1 + 2 * int(raw[end])
        active = {raw[i].decode(): int(raw[i + 1]) for i in range(end + 1, counts_end, 2)}
        runs = [
            WaitingRun(raw[i].decode(), float(raw[i + 1]), raw[i + 2], raw[i + 3])
            for i in range(counts_end, len(raw), 4)
        ]
        runs.sort(key=lambda run: run.seq)
        return Launchable(runs, next_start, capped, active)

    @translate_errors
    async def set_pending_reasons(
        self,
        epoch: int,
        runs: Mapping[str, str | None],
        by_id: Mapping[str, str] | None = None,
        per_id: int = 100,
    ) -> int:
        """Write the runs' pending_reason (None clears it) where it changed, and each
        task id's reason on its `per_id` oldest waiting runs; returns records written."""
        args: list[Any] = [self.keys.prefix, epoch, len(runs)]
        for mid, reason in runs.items():
            args += [mid, reason or ""]
        if by_id:
            args.append(per_id)
            for task_id, reason in by_id.items():
                args += [task_id, reason]
        return int(await self._set_pending(args=args))

    @translate_errors
    async def waiting_count(self) -> int:
        """Runs waiting for an offer now: delayed retries not yet due are not counted, so
        they neither keep offers coming nor cause a REVIVE."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zcard(self.keys.tasks_by_state(WAITING))
            pipe.zcard(self.keys.tasks_delayed)
            waiting, delayed = await pipe.execute()
        return max(0, int(waiting) - int(delayed))

    @translate_errors
    async def active_counts(
        self, task_ids: Iterable[str], queue_ids: Iterable[str]
    ) -> tuple[dict[str, int], dict[str, int]]:
        ids, queues = list(task_ids), list(queue_ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.zcard(self.keys.tasks_active_by_id(task_id))
            for queue_id in queues:
                pipe.zcard(self.keys.tasks_active_by_queue(queue_id))
            counts = await pipe.execute()
        return (
            dict(zip(ids, counts[: len(ids)], strict=True)),
            dict(zip(queues, counts[len(ids) :], strict=True)),
        )

    @translate_errors
    async def queue_caps(self, queue_ids: Iterable[str]) -> dict[str, int]:
        """Each queue's `max_concurrent` (the default for a queue since deleted)."""
        queues = list(queue_ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue_id in queues:
                pipe.hget(self.keys.queue(queue_id), "spec")
            specs = await pipe.execute()
        caps = {}
        for queue_id, spec in zip(queues, specs, strict=True):
            cap = DEFAULT_QUEUE_MAX_CONCURRENT
            if spec is not None:
                block = json.loads(spec).get("queue") or {}
                cap = int(block.get("max_concurrent", DEFAULT_QUEUE_MAX_CONCURRENT))
            caps[queue_id] = cap
        return caps

    @translate_errors
    async def active_agents(self, task_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
        """(agent_id, hostname) of the active runs of each task id."""
        ids = list(task_ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.zrange(self.keys.tasks_active_by_id(task_id), 0, -1)
            members = await pipe.execute()
        pairs = [
            (task_id, m.decode()) for task_id, ms in zip(ids, members, strict=True) for m in ms
        ]
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, mid in pairs:
                pipe.hget(self.keys.task(mid), "status")
            statuses = await pipe.execute()
        placed: dict[str, list[tuple[str, str]]] = {task_id: [] for task_id in ids}
        for (task_id, _), raw in zip(pairs, statuses, strict=True):
            if raw is not None:
                st = json.loads(raw)
                placed[task_id].append((st.get("agent_id") or "", st.get("agent_hostname") or ""))
        return placed

    @translate_errors
    async def claim(self, epoch: int, now: float, claims: Sequence[Claim]) -> list[str]:
        """Move these waiting tasks to TASK_STAGING; returns the mesos_ids claimed."""
        if not claims:
            return []
        packed: list[str] = []
        for c in claims:
            packed += (
                c.mesos_id,
                c.agent_id,
                c.hostname,
                "" if c.id_cap is None else str(c.id_cap),
                "" if c.queue_cap is None else str(c.queue_cap),
            )
        claimed = await self._claim(args=[self.keys.prefix, epoch, now, orjson.dumps(packed)])
        return [m.decode() for m in claimed]

    @translate_errors
    async def unclaim(self, epoch: int, now: float, mesos_ids: Sequence[str]) -> int:
        """Put claimed tasks Mesos did not launch back to waiting; returns how many."""
        return int(
            await self._unclaim(args=[self.keys.prefix, epoch, now, self.retention, *mesos_ids])
        )

    @translate_errors
    async def fail_waiting(
        self, epoch: int, now: float, failures: Sequence[tuple[str, str]]
    ) -> int:
        """End waiting runs that can never launch (their definition cannot be decoded) as
        TASK_ERROR, each with its (mesos_id, message); returns how many ended. Runs no
        longer waiting are left alone. No retry: the definition would fail again."""
        if not failures:
            return 0
        args: list[Any] = [self.keys.prefix, epoch, now, self.retention]
        for mesos_id, message in failures:
            args += [mesos_id, message]
        return int(await self._fail_waiting(args=args))

    @translate_errors
    async def due_deadlines(self, epoch: int, now: float, batch: int = 1000) -> DueDeadlines:
        """Act on the runs' times due by `now` (leader_scripts.DUE_DEADLINES): release
        delayed retries, fail runs past max_pending_seconds, queue kills of runs past
        max_runtime_seconds."""
        raw = await self._due_deadlines(args=[self.keys.prefix, epoch, now, self.retention, batch])
        wait_s = float(raw[3])
        return DueDeadlines(int(raw[0]), int(raw[1]), int(raw[2]), None if wait_s < 0 else wait_s)

    # --- retention -----------------------------------------------------------------

    @translate_errors
    async def trim_finished(
        self, epoch: int, *, now: float, max_age_s: float, batch: int = 1000
    ) -> int:
        """Delete task records that finished more than max_age_s ago; returns how many.
        Fenced like every leader write: a stale leader trims nothing."""
        deleted = 0
        while True:
            count = int(
                await self._trim_finished(args=[self.keys.prefix, epoch, now - max_age_s, batch])
            )
            deleted += count
            if count < batch:
                return deleted

    # --- status updates ------------------------------------------------------------

    @translate_errors
    async def record_updates(
        self, epoch: int, now: float, updates: Sequence[StatusUpdate]
    ) -> list[UpdateOutcome]:
        packed: list[str] = []
        for u in updates:
            packed += (
                u.mesos_id,
                u.state,
                u.message,
                u.reason,
                u.agent_id,
                u.retry_budget,
                u.fresh_uuid,
            )
        result = await self._record(
            args=[self.keys.prefix, epoch, now, self.retention, orjson.dumps(packed)]
        )
        return [
            UpdateOutcome(result[i].decode(), result[i + 1].decode())
            for i in range(0, len(result), 2)
        ]

    # --- reconciliation and kills --------------------------------------------------

    @translate_errors
    async def active_tasks(self, states: Iterable[str] = ACTIVE_STATES) -> list[ActiveTask]:
        """Every task Hippo believes is on an agent (in one of `states`)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for state in states:
                pipe.zrange(self.keys.tasks_by_state(state), 0, -1)
            members = await pipe.execute()
        return await self._statuses([m.decode() for ms in members for m in ms])

    @translate_errors
    async def staging_since(self, before: float) -> list[ActiveTask]:
        """The runs that entered TASK_STAGING before `before` (epoch s) and stage still,
        from the index of staging runs by that time: the others are not read."""
        mids = await self.redis.zrangebyscore(self.keys.tasks_staging_since, "-inf", before)
        found = await self._statuses([m.decode() for m in mids if isinstance(m, bytes)])
        return [t for t in found if t.state == "TASK_STAGING"]

    @translate_errors
    async def _statuses(self, mesos_ids: Sequence[str]) -> list[ActiveTask]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for mid in mesos_ids:
                pipe.hget(self.keys.task(mid), "status")
            raws = await pipe.execute()
        found = []
        for mid, raw in zip(mesos_ids, raws, strict=True):
            if raw is None:
                continue
            st = json.loads(raw)
            found.append(
                ActiveTask(
                    mid,
                    st["mesos_state"],
                    st.get("agent_id"),
                    float(st.get("updated_tstamp") or 0),
                    bool(st.get("kill_requested")),
                )
            )
        return found

    @translate_errors
    async def kill_requests(self, limit: int = 1000) -> tuple[list[ActiveTask], list[str]]:
        """Tasks whose kill was requested and which still run; and ids to forget (ended)."""
        mids: list[str] = []
        async for member in self.redis.sscan_iter(self.keys.kills, count=limit):
            mids.append(member.decode())
            if len(mids) >= limit:
                break
        tasks = await self._statuses(mids)
        running = [t for t in tasks if t.state in ACTIVE_STATES]
        known = {t.mesos_id for t in running}
        return running, [m for m in mids if m not in known]

    @translate_errors
    async def forget_kills(self, mesos_ids: Sequence[str]) -> None:
        if mesos_ids:
            await self.redis.srem(self.keys.kills, *mesos_ids)
