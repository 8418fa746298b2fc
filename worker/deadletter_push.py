"""Pushing dead letters to the Redis list or SQS queue a queue names in
`queue.deadletter_target` (shared/deadletter_targets.py). Every worker runs
`run_deadletter_push`, leader or not.

The step that stores a dead letter also queues its push when the queue has a target
(shared/store/task_lua.py, `store_dead_letter`); this loop leases due pushes, sends each
dead letter's JSON (as the API shows it) and ends the push: done, due again after a
backoff, or given up after DEAD_LETTER_PUSH_ATTEMPTS. At least once: a worker dying
between the push and its end makes another push it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from hippo.shared.callbacks import retry_in_s
from hippo.shared.deadletter_targets import FIELD, TARGET_MODELS, DeadLetterTarget
from hippo.shared.deadletters import public_dead_letter
from hippo.shared.secrets import SecretBox, mask_url_passwords_in
from hippo.shared.settings import Settings
from hippo.shared.sources.aws import AwsClients
from hippo.shared.sources.redislist import RedisListSettings
from hippo.shared.sources.sqs import SqsSettings
from hippo.shared.store import connect
from hippo.shared.store.deadletters import DeadLetterPush, DeadLetterPushStore
from hippo.shared.store.keys import Keys
from hippo.shared.tunables import DEAD_LETTER_PUSH_ATTEMPTS
from hippo.worker.outbox import Claimed, drain_outbox

log = logging.getLogger(__name__)
PUSHES_AT_ONCE = 16
LEASE_S = 60.0  # a push's redis or SQS call times out well within this


def target_of(queue_spec: bytes, box: SecretBox) -> DeadLetterTarget | None:
    """The queue's dead-letter target with its secrets decrypted, None without one."""
    block: Any = json.loads(queue_spec).get("queue", {}).get(FIELD)
    if not isinstance(block, dict):
        return None
    kind = str(block.get("type"))
    model = TARGET_MODELS.get(kind)
    settings = dict(block.get(kind) or {}) if model is not None else {}
    for name in model.secret_fields() if model is not None else ():
        if settings.get(name):
            settings[name] = box.decrypt(settings[name])
    return DeadLetterTarget.model_validate({"type": kind, kind: settings})


class DeadLetterPusher:
    def __init__(self, settings: Settings, store: DeadLetterPushStore) -> None:
        self.store = store
        self.box = SecretBox(settings.cipher_keys)
        self.aws = AwsClients()

    async def claim(self) -> Claimed[DeadLetterPush]:
        return await self.store.claim_pushes(PUSHES_AT_ONCE, LEASE_S), None

    async def run(self, stop: asyncio.Event) -> None:
        await drain_outbox(self.claim, self.push, stop, "dead letters")

    async def push(self, pending: DeadLetterPush) -> None:
        try:
            target = target_of(pending.queue_spec, self.box)
            if target is not None:
                body = json.dumps(public_dead_letter(pending.record), separators=(",", ":"))
                await asyncio.to_thread(self._send, target, body)
                log.info("dead letter %s pushed to %s", pending.dead_letter_id, target.type)
            await self.store.end_push(pending.member, None)
        except Exception as e:
            attempt = pending.attempts + 1
            again = retry_in_s(attempt, DEAD_LETTER_PUSH_ATTEMPTS)
            log.warning(
                "dead letter %s: push failed (attempt %s%s): %s",
                pending.dead_letter_id,
                attempt,
                "; given up" if again is None else f", again in {again:.0f} s",
                mask_url_passwords_in(str(e)),
            )
            await self.store.end_push(pending.member, again)

    def _send(self, target: DeadLetterTarget, body: str) -> None:
        settings = target.settings()
        if isinstance(settings, RedisListSettings):
            import redis

            client = redis.Redis(**settings.connection_kwargs())
            try:
                client.lpush(settings.name, body)  # producers' end: a redis queue takes it
            finally:
                client.close()
            return
        assert isinstance(settings, SqsSettings)
        sqs = self.aws.get("sqs", settings)
        url = sqs.get_queue_url(QueueName=settings.queuename)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=body)


async def run_deadletter_push(settings: Settings, stop: asyncio.Event) -> None:
    """Push due dead letters until `stop` is set."""
    client = connect(settings.redis_url)
    try:
        store = DeadLetterPushStore(client, Keys(settings.redis_prefix))
        await DeadLetterPusher(settings, store).run(stop)
    finally:
        await client.aclose()
