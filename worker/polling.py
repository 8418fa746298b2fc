"""Queue polling: every worker runs `run_polling`; per-queue leases in Redis decide who
polls what, so starting more workers adds polling capacity with no configuration.

One poll of a queue: fetch up to its limit from the source (awaited), drop items
whose key the queue already stored, batch the rest into tasks, store tasks + item
keys + watermark + poll fields in one Lua step under the lease, then acknowledge the
items to the source. A crash anywhere before the store leaves the items in the source;
a crash after it leaves keys that make the retried items create nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis.asyncio as aioredis

from hippo.shared.deadletters import undeliverable_dead_letter
from hippo.shared.logs import log_context
from hippo.shared.secrets import (
    SecretBox,
    mask_url_passwords_in,
)
from hippo.shared.settings import Settings
from hippo.shared.sources import load_sources
from hippo.shared.sources.base import PollRequest, Source, SourceError
from hippo.shared.sources.settings import SourceSettings
from hippo.shared.store import connect
from hippo.shared.store.keys import Keys
from hippo.shared.store.leases import ClaimedQueue, PollStore, StoreOutcome
from hippo.shared.tunables import MAX_ERROR_CHARS, POLL_STOP_GRACE_S, RECONCILE_DUE_EVERY_S
from hippo.worker import polling_metrics as metrics
from hippo.worker.polling_definitions import DefinitionReader, PreparedQueue
from hippo.worker.polling_drains import Drainer
from hippo.worker.polling_tasks import (
    batch_payloads,
    batches,
    distinct_count,
    fresh_items,
    poll_limit,
    retry_delay_s,
    undeliverable,
)

log = logging.getLogger(__name__)


def mask_secrets(text: str, settings: SourceSettings | None) -> str:
    """`text` with every secret setting's value, and any URL password, masked."""
    return mask_url_passwords_in(settings.mask_in(text) if settings is not None else text)


class Poller:
    def __init__(self, settings: Settings, client: aioredis.Redis) -> None:
        self.settings = settings
        self.source_types = load_sources(settings.queue_types)
        self.store = PollStore(
            client,
            Keys(settings.redis_prefix),
            idempotency_ttl_s=settings.idempotency_ttl_s,
            in_flight_location={t: s.in_flight_location for t, s in self.source_types.items()},
            wait_replicas=settings.replicas_to_wait_for,
        )
        self.definitions = DefinitionReader(self.source_types, SecretBox(settings.cipher_keys))
        self.drainer = Drainer(
            self.store,
            self.definitions.stored_source,
            self._source,
            mask_secrets,
            lease_s=settings.queue_lease_s,
            retry_s=settings.poll_retry_s,
        )
        self.executor = ThreadPoolExecutor(
            settings.poll_concurrency, thread_name_prefix="hippo-poll"
        )
        self._sources: dict[str, Source] = {}
        self._prepared: dict[tuple[str, bytes], PreparedQueue] = {}
        self._inflight: dict[asyncio.Task[bool], ClaimedQueue] = {}
        self._wake = asyncio.Event()
        self._more_due = False

    async def run(self, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        next_reconcile = next_drain = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_reconcile:
                    next_reconcile = time.monotonic() + RECONCILE_DUE_EVERY_S
                    await self._reconcile()
                if time.monotonic() >= next_drain:
                    next_drain = time.monotonic() + self.settings.poll_idle_s
                    await self.drainer.start_due()
                self._wake.clear()  # before claiming: a poll ending meanwhile wakes us
                timeout = await self._claim_and_start()
                await self._wait(stopping, timeout)
        finally:
            stopping.cancel()
            await self._shutdown()

    async def _wait(self, stopping: asyncio.Future[Any], timeout_s: float) -> None:
        """Until the next claim is worth making: the timeout, or a wake-up from a poll
        ending (see _poll_done). Idle polls ending do not wake the loop: with many idle
        queues that would mean one claim per poll."""
        waking = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait(
                {stopping, waking}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waking.cancel()

    def _poll_done(self, task: asyncio.Task[bool]) -> None:
        self._inflight.pop(task, None)
        # Claim again at once when more queues were due than slots, or this queue is due
        # again at once (its poll was full).
        if self._more_due or (not task.cancelled() and task.exception() is None and task.result()):
            self._wake.set()

    async def _reconcile(self) -> None:
        try:
            added = await self.store.reconcile_due()
            if added:
                log.info("polling: %s queues added to the due set", added)
        except Exception as e:
            log.warning("polling: reconciling the due set failed: %s", e)

    async def _claim_and_start(self) -> float:
        """Claim as many due queues as there are free slots; returns how long to wait."""
        idle_s = self.settings.poll_idle_s
        free = self.settings.poll_concurrency - len(self._inflight)
        if free <= 0:
            self._more_due = True
            return idle_s
        try:
            claim = await self.store.claim_due_queues(free, self.settings.queue_lease_s)
        except Exception as e:
            log.warning("polling: claiming due queues failed: %s", e)
            return idle_s
        metrics.LAST_CLAIM.set_to_current_time()
        for claimed in claim.queues:
            task = asyncio.ensure_future(self._poll_guarded(claimed, claim.now))
            self._inflight[task] = claimed
            task.add_done_callback(self._poll_done)
        self._more_due = len(claim.queues) == free
        if self._more_due or claim.next_due is None:
            return idle_s
        return min(idle_s, max(0.001, claim.next_due - claim.now))

    async def _shutdown(self) -> None:
        await self.drainer.stop()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=POLL_STOP_GRACE_S)
        for task, claimed in list(self._inflight.items()):
            task.cancel()
            try:
                await asyncio.wait_for(
                    self.store.release_lease(claimed.queue_id, claimed.token), timeout=1
                )
            except Exception:
                pass
        self.executor.shutdown(wait=False, cancel_futures=True)
        for source in self._sources.values():
            try:
                await asyncio.wait_for(source.close(), timeout=2)
            except Exception as e:
                log.debug("polling: closing source %s failed: %s", source.namespace, e)

    def _source(self, queue_type: str) -> Source:
        source = self._sources.get(queue_type)
        if source is None:
            source_type = self.source_types[queue_type]
            source = self._sources[queue_type] = source_type(self.executor)
        return source

    def _prepare(self, claimed: ClaimedQueue) -> PreparedQueue:
        cache_key = (claimed.queue_id, claimed.spec)
        prepared = self._prepared.get(cache_key)
        if prepared is not None:
            return prepared
        prepared = self.definitions.prepare(claimed.queue_id, claimed.spec)
        if len(self._prepared) > 10_000:
            self._prepared.clear()
        self._prepared[cache_key] = prepared
        return prepared

    async def _poll_guarded(self, claimed: ClaimedQueue, now: float) -> bool:
        """Poll one queue; any failure is recorded on the queue, never raised. True when
        the queue is due again at once."""
        with log_context(queue=claimed.queue_id):
            return await self._poll_logged(claimed, now)

    async def _poll_logged(self, claimed: ClaimedQueue, now: float) -> bool:
        started = time.monotonic()
        queue_type, settings = "unknown", None
        frequency_s = 60.0
        try:
            prepared = self._prepare(claimed)
            queue_type, settings = prepared.queue_type, prepared.settings
            frequency_s = prepared.block.frequency_seconds
            if settings is None:
                raise SourceError(prepared.unpollable)
            renewing = asyncio.ensure_future(self._keep_lease(claimed))
            try:
                return await self.poll(claimed, prepared, now)
            finally:
                renewing.cancel()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            metrics.POLL_ERRORS.labels(queue_type).inc()
            text = e if isinstance(e, SourceError) else f"{type(e).__name__}: {e}"
            error = mask_secrets(str(text), settings)[:MAX_ERROR_CHARS]
            failures = claimed.failures + 1
            delay_s = retry_delay_s(failures, self.settings.poll_retry_s, frequency_s)
            level = logging.WARNING if failures == 1 else logging.DEBUG
            log.log(
                level,
                "queue %s: poll failed (%s in a row, next in %.1f s): %s",
                claimed.queue_id,
                failures,
                delay_s,
                error,
            )
            try:
                await self.store.fail_poll(claimed.queue_id, claimed.token, error, delay_s)
            except Exception as store_error:
                log.warning(
                    "queue %s: recording a poll error failed: %s", claimed.queue_id, store_error
                )
            return False
        finally:
            metrics.POLL_DURATION.labels(queue_type).observe(time.monotonic() - started)

    async def _keep_lease(self, claimed: ClaimedQueue) -> None:
        """Extend the lease while a slow source is being polled, so the poll still counts."""
        lease_s = self.settings.queue_lease_s
        while True:
            await asyncio.sleep(lease_s / 3)
            try:
                if not await self.store.extend_lease(claimed.queue_id, claimed.token, lease_s):
                    return  # lost (or the queue is gone): the store step will refuse the poll
            except Exception as e:
                log.debug("queue %s: extending the lease failed: %s", claimed.queue_id, e)

    async def poll(self, claimed: ClaimedQueue, prepared: PreparedQueue, now: float) -> bool:
        """One poll; True when it was full and the queue is due again at once."""
        block = prepared.block
        if not self._source(prepared.queue_type).batches_items:
            block = block.model_copy(update={"batch_size": 1})
        queue_id = claimed.queue_id
        capacity = poll_limit(block.max_concurrent, block.batch_size, claimed.open_tasks)
        limit = min(capacity, self.settings.poll_max_items)
        if limit <= 0:  # backpressure: nothing to take until tasks finish
            await self.store.store_poll(
                queue_id,
                claimed.token,
                item_keys=(),
                tasks=(),
                items_taken=0,
                watermark=None,
                delay_s=block.frequency_seconds,
            )
            return False
        source = self._source(prepared.queue_type)
        settings = prepared.settings
        assert settings is not None  # _poll_logged polls only queues this worker can poll
        watermark = json.loads(claimed.watermark) if claimed.watermark else None
        request = PollRequest(
            queue_id=queue_id,
            settings=settings,
            limit=limit,
            watermark=watermark,
            now=now,
            created_tstamp=claimed.created_tstamp,
            generation=claimed.generation,
        )
        fetched = await source.fetch(request)
        items = fetched.items
        seen = await self.store.seen_item_keys(queue_id, [item.key for item in items])
        fresh = fresh_items(items, seen)
        values = batches(fresh, block.batch_size, block.batch_separator)
        payloads = batch_payloads(fresh, block.batch_size, block.batch_separator)
        deliverable: list[tuple[str, bytes]] = []
        dead_letters: list[tuple[str, bytes]] = []
        for value, payload in zip(values, payloads, strict=True):
            spec = prepared.template.spec(value, payload)
            problem = undeliverable(value, spec, self.settings.max_item_bytes)
            if problem is None:
                deliverable.append((value, payload))
                continue
            # It would fail identically on every retry: it goes to the queue's dead letters
            # (taken and acknowledged like the others), where it can be seen, run again
            # once the limit or the definition allows it, or discarded.
            dead_letter_id = f"{queue_id}.{uuid.uuid4()}"
            log.warning(
                "queue %s: item %s is a dead letter: it %s", queue_id, dead_letter_id, problem
            )
            dead_letters.append(
                (
                    dead_letter_id,
                    undeliverable_dead_letter(dead_letter_id, queue_id, spec, problem, time.time()),
                )
            )
        tasks = prepared.template.new_tasks(
            [value for value, _ in deliverable],
            time.time(),
            [payload for _, payload in deliverable],
        )
        # A full poll below the queue's capacity means the source may hold more: go on.
        full = distinct_count(items) >= limit
        delay_s = 0.0 if full and limit < capacity else block.frequency_seconds
        new_watermark = (
            None
            if fetched.watermark is None
            else json.dumps(fetched.watermark, separators=(",", ":"))
        )
        # With items, the lease is held until they are acknowledged to the source, so the
        # next poll of the queue never sees them half-acknowledged.
        outcome = await self.store.store_poll(
            queue_id,
            claimed.token,
            item_keys=[item.key for item in fresh],
            tasks=tasks,
            dead_letters=dead_letters,
            items_taken=len(fresh),
            watermark=new_watermark,
            delay_s=delay_s if not items else None,
            acknowledging=bool(items),
        )
        if outcome == StoreOutcome.KEY_SEEN:
            # Another poll stored some of these items meanwhile: nothing stored, nothing
            # acknowledged; poll again at once (the lease is still ours to give back).
            log.info("queue %s: items stored by another poll meanwhile; polling again", queue_id)
            await self.store.release_lease(queue_id, claimed.token, 0)
            return True
        if outcome == StoreOutcome.NOT_REPLICATED:
            # Stored on the master, but not yet on HIPPO_REDIS_WAIT_REPLICAS replicas: a
            # failover now would lose the tasks, and the items too if they were
            # acknowledged. They stay in the source and come again: a later poll finds
            # their keys stored and acknowledges them then, or, a failover having lost
            # the keys, makes their tasks again (a retry, not a loss).
            metrics.ITEMS_TAKEN.labels(prepared.queue_type).inc(len(fresh))
            metrics.TASKS_CREATED.labels(prepared.queue_type).inc(len(tasks))
            log.warning(
                "queue %s: %s items stored but not yet on %s Redis replica(s); "
                "they stay in the source until they are",
                queue_id,
                len(items),
                self.store.wait_replicas,
            )
            await self.store.release_lease(queue_id, claimed.token, self.settings.poll_retry_s)
            return False
        if outcome != StoreOutcome.STORED:
            # The lease expired (another worker may be polling) or the queue was deleted
            # or disabled: nothing was stored, so nothing is acknowledged. The items wait
            # in the source for the next poll, or, the queue deleted, for the drain of its
            # retired generation (polling_drains.py), which puts them back.
            metrics.POLL_ERRORS.labels(prepared.queue_type).inc()
            log.info("queue %s: poll not stored (lease lost, queue deleted or disabled)", queue_id)
            return False
        metrics.ITEMS_TAKEN.labels(prepared.queue_type).inc(len(fresh))
        metrics.TASKS_CREATED.labels(prepared.queue_type).inc(len(tasks))
        if items:
            try:
                await source.acknowledge(request, fetched)
            except Exception as e:
                metrics.POLL_ERRORS.labels(prepared.queue_type).inc()
                log.warning(
                    "queue %s: acknowledging %s items failed (they will come again "
                    "and be skipped): %s",
                    queue_id,
                    len(items),
                    mask_secrets(str(e), settings),
                )
            await self.store.release_lease(queue_id, claimed.token, delay_s)
        return delay_s == 0


async def run_polling(settings: Settings, stop: asyncio.Event) -> None:
    """Poll due queues until `stop` is set. Source failures are recorded on their
    queues; this returns only when stopped."""
    client = connect(settings.redis_url)
    try:
        await Poller(settings, client).run(stop)
    finally:
        await client.aclose()


def main() -> None:
    """`python -m hippo.worker.polling`: polling alone, without the Mesos scheduler
    (tests and benchmarks run workers this way; `hippo worker` runs both)."""
    import signal

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_polling(Settings.from_env(), stop)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
