"""The callback outbox as senders read and end it (callback_scripts.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from hippo.shared.store import callback_scripts
from hippo.shared.store.connection import translate_errors
from hippo.shared.store.keys import Keys


@dataclass(frozen=True)
class PendingCallback:
    delivery_id: str  # the run's mesos_id: what a receiver dedupes on
    url: str
    secret: str  # encrypted (SecretBox), '' for none
    body: bytes  # the JSON to POST, as stored
    attempts: int  # sends that failed before this one


@dataclass(frozen=True)
class CallbackClaim:
    now: float  # the Redis server's clock
    callbacks: list[PendingCallback]
    next_due: float | None


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class CallbackStore:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys
        self._claim = client.register_script(callback_scripts.CLAIM_CALLBACKS)
        self._end = client.register_script(callback_scripts.END_CALLBACK)

    @translate_errors
    async def claim(self, limit: int, lease_s: float) -> CallbackClaim:
        """Lease up to `limit` due callbacks for `lease_s` seconds."""
        raw = await self._claim(args=[self.keys.prefix, lease_s, limit])
        callbacks = [
            PendingCallback(
                _text(raw[i]),
                _text(raw[i + 1]),
                _text(raw[i + 2]),
                raw[i + 3],
                int(_text(raw[i + 4])),
            )
            for i in range(2, len(raw), 5)
        ]
        next_due = float(_text(raw[1])) if raw[1] else None
        return CallbackClaim(float(_text(raw[0])), callbacks, next_due)

    @translate_errors
    async def end(self, delivery_id: str, retry_in_s: float | None) -> None:
        """Delivered or given up (None: forgotten), or due again after retry_in_s."""
        delay = "" if retry_in_s is None else retry_in_s
        await self._end(args=[self.keys.prefix, delivery_id, delay])

    @translate_errors
    async def pending_count(self) -> int:
        return int(await self.redis.zcard(self.keys.callbacks_due))
