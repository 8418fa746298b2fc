"""What `GET /status/` reads: the leader's report, the framework id and the counts of
waiting, staging and running runs, in one round trip."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from hippo.shared.records import WAITING
from hippo.shared.store.connection import translate_errors
from hippo.shared.store.keys import Keys


@dataclass(frozen=True)
class StatusFacts:
    report: bytes | None  # the leader's report JSON; None: no leader
    framework_id: str | None
    waiting: int
    staging: int
    running: int


class StatusStore:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys

    @translate_errors
    async def leader_report(self) -> bytes | None:
        """The leader's report JSON (shared/leader_status.py); None while no one leads."""
        raw = await self.redis.get(self.keys.leader_status)
        return raw.encode() if isinstance(raw, str) else raw

    @translate_errors
    async def status_facts(self) -> StatusFacts:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self.keys.leader_status)
            pipe.get(self.keys.framework_id)
            for state in (WAITING, "TASK_STAGING", "TASK_RUNNING"):
                pipe.zcard(self.keys.tasks_by_state(state))
            report, fid, waiting, staging, running = await pipe.execute()
        return StatusFacts(
            report, fid.decode() if fid is not None else None, waiting, staging, running
        )
