"""The store: the only package that speaks to Redis, one module per concept.

- connection.py: clients (`connect`, `RedisProbe`) and the one translation of Redis
  errors the API sees (`translate_errors`: Redis unreachable -> StoreUnavailable, 503).
- keys.py: every key name; lua.py: the Lua prelude generated from keys.py and
  hippo.shared.records (key builders, state sets, the record template).
- tasks.py: task records as the API reads and writes them (task_scripts.py,
  task_lua.py: the helpers every script writing task records shares).
- queues.py: queue definitions (queue_scripts.py).
- deadletters.py: a queue's dead letters: list, run again, discard (deadletter_scripts.py).
- leases.py: queue polling under per-queue leases (lease_scripts.py).
- leadership.py: the leader's epoch, framework id and fenced writes (claims, status
  updates, retention) (leader_scripts.py); lock.py: the python-redis-lock lease.
- status.py: what GET /status/ reads (the leader's report, counts).
- pipelined.py: one connection shared by concurrent callers, for the API's hot reads.
- events.py: the pub/sub channel between the API, the pollers and the leader.

Every state change is one Lua script or one MULTI/EXEC: nothing is half-written.
Every leader write checks the epoch inside its script (`StaleEpoch` otherwise).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from hippo.shared.store.connection import RedisProbe, connect
from hippo.shared.store.deadletters import DeadLetterStore
from hippo.shared.store.keys import Keys
from hippo.shared.store.pipelined import PipelinedConnection
from hippo.shared.store.queues import QueueStore
from hippo.shared.store.status import StatusStore
from hippo.shared.store.tasks import TaskPage, TaskStore


class Store(TaskStore, QueueStore, StatusStore, DeadLetterStore):
    """What the API uses: task records, queue definitions, the leader's report and dead
    letters over one client."""

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
        TaskStore.__init__(
            self,
            client,
            keys,
            keep_per_id=keep_per_id,
            keep_per_queue=keep_per_queue,
            idempotency_ttl_s=idempotency_ttl_s,
            pipelined=pipelined,
        )
        QueueStore.__init__(self, client, keys)
        StatusStore.__init__(self, client, keys)
        DeadLetterStore.__init__(self, client, keys)


__all__ = [
    "Keys",
    "PipelinedConnection",
    "QueueStore",
    "RedisProbe",
    "Store",
    "TaskPage",
    "TaskStore",
    "connect",
]
