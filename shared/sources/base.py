"""The contract of a queue source: what it declares, and what a poller awaits.

A source is a class with a `namespace` (the `queue.type` value, and the name of the
settings block), a `label`, a `settings_model` (a SourceSettings subclass: see
settings.py) and four coroutine methods: `fetch`, `acknowledge`, `give_back` and
`close`. A source whose client is blocking subclasses BlockingSource and writes those
as plain methods (`fetch_blocking`, ...), run on the poller's threads. A source may
also `check` a queue's settings when the API saves it. A source keeping taken items in a
place of its own until they are acknowledged names the settings locating it
(`in_flight_location`) and gives them back when that place is left behind. Third parties
register a source under the `hippo.sources` entry point group.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, ParamSpec, TypeVar

from hippo.shared.errors import HippoError
from hippo.shared.sources.settings import SourceSettings

SettingsT = TypeVar("SettingsT", bound=SourceSettings)
P = ParamSpec("P")
R = TypeVar("R")


class SourceError(HippoError):
    """A source failed in a way worth showing on the queue (its message holds no secret)."""


@dataclass(frozen=True)
class Item:
    """One work item: `data` becomes HIPPO_DATA; `key` identifies it within the queue,
    so an item delivered again (a retried poll, an at-least-once source) makes no task.
    A source whose items are bytes gives them as `raw` too: HIPPO_DATA_BASE64 then
    carries those bytes exactly, even where `data` had to replace invalid UTF-8."""

    data: str
    key: str
    raw: bytes | None = None

    @property
    def payload(self) -> bytes:
        """The item's bytes: `raw`, or `data` in UTF-8."""
        return self.raw if self.raw is not None else self.data.encode()


@dataclass(frozen=True)
class PollRequest(Generic[SettingsT]):
    """What a source is told when polled."""

    queue_id: str
    settings: SettingsT  # the queue's settings block, validated, secrets decrypted
    limit: int  # take at most this many items (>= 1; 0 in give_back)
    watermark: Any  # what the last stored poll's Fetched.watermark was; None at first
    now: float  # unix time of this poll (the Redis server's clock)
    created_tstamp: float  # when the queue was created
    # The queue's generation: which settings this poll runs under. It grows when the queue
    # is re-created or an edit moves `in_flight_location`; a source that keeps items in
    # flight refuses to take them for a generation older than one it has seen.
    generation: int = 0


# `await stored(keys)`: which of these item keys the queue stored (they made tasks).
StoredKeys = Callable[[Sequence[str]], Awaitable[set[str]]]


@dataclass
class Fetched:
    """What a poll took. `watermark` (JSON-able) is stored with the tasks, in the same
    atomic step; None keeps the stored one. `receipt` is for `acknowledge` only."""

    items: list[Item]
    watermark: Any = None
    receipt: Any = None


class Source:
    """Base of every queue source. The poller makes one instance per source type and
    awaits its methods in its event loop, for several queues at once: they must not
    block the loop (run blocking calls with `run_blocking`, or subclass BlockingSource).
    An instance may cache connections keyed by settings.

    Methods take `PollRequest[Any]` so that each source can narrow it to its own
    settings model (`PollRequest[SqsSettings]`) and read typed fields.
    """

    namespace: ClassVar[str]
    label: ClassVar[str]
    settings_model: ClassVar[type[SourceSettings]]
    # The settings that say where taken, unacknowledged items wait (the Redis list
    # source's processing list: host, port, db, name). Empty: the source keeps none, and
    # give_back is never called.
    in_flight_location: ClassVar[tuple[str, ...]] = ()
    # False: each item is a task of its own whatever the queue's batch_size (cron: each
    # fire time runs with its own HIPPO_DATA, never joined with another).
    batches_items: ClassVar[bool] = True

    def __init__(self, executor: Executor | None = None) -> None:
        # The poller passes its own pool (HIPPO_POLL_CONCURRENCY threads), so that sources
        # never take the threads the leader's lock renewal runs on (asyncio's default pool).
        self._executor = executor

    async def fetch(self, request: PollRequest[Any]) -> Fetched:
        """Take up to `request.limit` items without removing them from the source."""
        raise NotImplementedError(
            f"{type(self).__name__}.fetch(request) must be a coroutine returning "
            "Fetched(items, watermark, receipt): up to request.limit Items, each with an "
            "idempotency key, taken after request.watermark; remove them from the source only "
            "in acknowledge(). A blocking client: subclass BlockingSource, define fetch_blocking"
        )

    async def acknowledge(self, request: PollRequest[Any], fetched: Fetched) -> None:
        """The tasks of `fetched` are stored: remove its items from the source for good.

        Called only after the store succeeded. Watermark sources need do nothing."""

    async def give_back(self, request: PollRequest[Any], stored: StoredKeys) -> None:
        """No poll will come again under `request.settings` and `request.generation`
        (the queue was deleted, or an edit moved its `in_flight_location`): put every item
        polls took under them back where another consumer can take it, except the ones
        `await stored(keys)` names (they made tasks: drop them), and from then on take
        nothing for that generation or an older one. Any worker may call it, for a dead
        worker's polls too, and more than once: it must be idempotent.

        Only sources with an `in_flight_location` are asked."""

    async def close(self) -> None:
        """Release cached connections (the worker is stopping)."""

    async def run_blocking(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """`function(*args, **kwargs)` on the poller's threads (asyncio's default pool when
        the source was made without an executor, as in tests)."""
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    @classmethod
    def check(cls, settings: Any) -> None:
        """Check a queue's validated settings (secrets revealed) against the outside world
        before the queue is saved, as a SQL query against its database; raise
        ValidationFailed naming `queue.<type>.<field>` to refuse them. Blocking: the API
        runs it on a thread. By default nothing is checked."""

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The queue type as /queuetypes/ lists it: our shape (`type`, `parameters`) and
        the original Hippo's (`namespace`, `inputs`), side by side."""
        return {
            "type": cls.namespace,
            "label": cls.label,
            "parameters": cls.settings_model.parameters(),
            "namespace": cls.namespace,
            "inputs": cls.settings_model.inputs(),
        }


class BlockingSource(Source):
    """A source written with a blocking client: define `fetch_blocking` (and, as needed,
    `acknowledge_blocking`, `give_back_blocking`, `close_blocking`). Each call runs on
    one of the poller's threads, several queues at once, so an instance must be
    thread-safe."""

    async def fetch(self, request: PollRequest[Any]) -> Fetched:
        return await self.run_blocking(self.fetch_blocking, request)

    async def acknowledge(self, request: PollRequest[Any], fetched: Fetched) -> None:
        await self.run_blocking(self.acknowledge_blocking, request, fetched)

    async def give_back(self, request: PollRequest[Any], stored: StoredKeys) -> None:
        loop = asyncio.get_running_loop()

        async def answer(keys: Sequence[str]) -> set[str]:
            return await stored(keys)

        def stored_blocking(keys: Sequence[str]) -> set[str]:
            return asyncio.run_coroutine_threadsafe(answer(keys), loop).result()

        await self.run_blocking(self.give_back_blocking, request, stored_blocking)

    async def close(self) -> None:
        # Not on the poller's threads: when the worker stops, every one of them may still
        # be stuck in a fetch (a hung database), and closing must not queue behind those.
        await asyncio.to_thread(self.close_blocking)

    def fetch_blocking(self, request: PollRequest[Any]) -> Fetched:
        """As `Source.fetch`, blocking."""
        raise NotImplementedError(
            f"{type(self).__name__}.fetch_blocking(request) must return Fetched(items, "
            "watermark, receipt): up to request.limit Items, each with an idempotency key, "
            "taken after request.watermark; remove them from the source only in "
            "acknowledge_blocking()"
        )

    def acknowledge_blocking(self, request: PollRequest[Any], fetched: Fetched) -> None:
        """As `Source.acknowledge`, blocking."""

    def give_back_blocking(
        self, request: PollRequest[Any], stored: Callable[[Sequence[str]], set[str]]
    ) -> None:
        """As `Source.give_back`, blocking; `stored(keys)` answers at once."""

    def close_blocking(self) -> None:
        """As `Source.close`, blocking."""
