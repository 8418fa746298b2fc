"""Sending callbacks: every worker runs `run_callbacks`, leader or not.

The step that records a run's end also writes its callback to an outbox in Redis
(shared/store/task_lua.py); this loop leases due ones (shared/store/callbacks.py),
POSTs each, and ends it: delivered (2xx), due again after a backoff, or given up after
HIPPO_CALLBACK_ATTEMPTS sends. Nothing here runs in the leader's offer or update path,
so a slow or dead receiver never holds the leader up, and since the outbox is in Redis a
leader's failover (or any worker's death) loses no callback: another worker sends it
once the lease runs out. A receiver may see one callback more than once; it dedupes on
X-Hippo-Delivery (shared/callbacks.py).
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from hippo.shared import callbacks
from hippo.shared.errors import SecretError
from hippo.shared.secrets import SecretBox, mask_url_password
from hippo.shared.settings import Settings
from hippo.shared.store import connect
from hippo.shared.store.callbacks import CallbackStore, PendingCallback
from hippo.shared.store.keys import Keys
from hippo.shared.tunables import CALLBACKS_AT_ONCE
from hippo.worker.outbox import Claimed, drain_outbox

log = logging.getLogger(__name__)


class CallbackSender:
    def __init__(self, settings: Settings, store: CallbackStore, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.store = store
        self.http = http
        self.box = SecretBox(settings.cipher_keys)
        # A claim's lease covers every send of the batch and its timeout, with room.
        self.lease_s = 2 * settings.callback_timeout_s + 5

    async def claim(self) -> Claimed[PendingCallback]:
        claim = await self.store.claim(CALLBACKS_AT_ONCE, self.lease_s)
        due_in_s = None if claim.next_due is None else claim.next_due - claim.now
        return claim.callbacks, due_in_s

    async def run(self, stop: asyncio.Event) -> None:
        await drain_outbox(self.claim, self.send, stop, "callbacks")

    async def send(self, pending: PendingCallback) -> None:
        """One POST; the outcome is written back to the outbox."""
        shown = mask_url_password(pending.url)
        try:
            secret = self.box.decrypt(pending.secret) if pending.secret else ""
        except SecretError as e:
            log.error("callback %s to %s: %s; given up", pending.delivery_id, shown, e)
            await self.store.end(pending.delivery_id, None)
            return
        attempt = pending.attempts + 1
        try:
            response = await self.http.post(
                pending.url,
                content=pending.body,
                headers=callbacks.headers(pending.delivery_id, secret, pending.body),
            )
            ok, why = callbacks.delivered(response.status_code), f"HTTP {response.status_code}"
        except httpx.HTTPError as e:
            ok, why = False, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        if ok:
            log.info(
                "callback %s to %s delivered (attempt %s)", pending.delivery_id, shown, attempt
            )
            await self.store.end(pending.delivery_id, None)
            return
        retry_in_s = callbacks.retry_in_s(attempt, self.settings.callback_attempts)
        if retry_in_s is None:
            log.warning(
                "callback %s to %s: %s; given up after %s attempts",
                pending.delivery_id,
                shown,
                why,
                attempt,
            )
        else:
            log.info(
                "callback %s to %s: %s (attempt %s); again in %.0f s",
                pending.delivery_id,
                shown,
                why,
                attempt,
                retry_in_s,
            )
        await self.store.end(pending.delivery_id, retry_in_s)


async def run_callbacks(settings: Settings, stop: asyncio.Event) -> None:
    """Send due callbacks until `stop` is set."""
    client = connect(settings.redis_url)
    timeout = httpx.Timeout(settings.callback_timeout_s)
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
            store = CallbackStore(client, Keys(settings.redis_prefix))
            await CallbackSender(settings, store, http).run(stop)
    finally:
        await client.aclose()
