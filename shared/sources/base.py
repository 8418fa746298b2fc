"""The contract of a queue source: what it declares, and what a poller calls.

A source is a class with a `namespace` (the `queue.type` value, and the name of
the settings block), a `label` and typed `params`. Third parties register one
under the `hippo.sources` entry point group; `/queuetypes/` is generated from
these declarations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hippo.shared.errors import HippoError
from hippo.shared.secrets import MASK, mask_url_password, unmask_url_password


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

PARAM_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}


@dataclass(frozen=True)
class Param:
    """One setting of a source. `check` raises ValueError with a message for a bad value."""

    name: str
    type: str = "str"
    default: Any = REQUIRED
    secret: bool = False
    label: str = ""
    # A secret URL (a connection string) is shown with only its password masked.
    secret_url: bool = False
    check: Callable[[Any], None] | None = field(default=None, compare=False)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def is_secret(self) -> bool:
        return self.secret or self.secret_url

    def masked(self, value: Any) -> Any:
        if not self.is_secret or value in ("", None):
            return value
        return mask_url_password(value) if self.secret_url else MASK

    def keep_stored(self, sent: Any, stored: Any) -> Any:
        """The value to save when a client sends `sent` back over `stored`."""
        if not self.is_secret or stored is None:
            return sent
        if self.secret_url:
            return unmask_url_password(sent, stored)
        return stored if sent == MASK else sent

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": None if self.required else self.default,
            "required": self.required,
            "secret": self.is_secret,
            "label": self.label,
        }


class SourceError(HippoError):
    """A source failed in a way worth showing on the queue (its message holds no secret)."""


@dataclass(frozen=True)
class Item:
    """One work item: `data` becomes HIPPO_DATA; `key` identifies it within the queue,
    so an item delivered again (a retried poll, an at-least-once source) makes no task."""

    data: str
    key: str


@dataclass(frozen=True)
class PollRequest:
    """What a source is told when polled."""

    queue_id: str
    settings: Mapping[str, Any]  # the queue's source settings, secrets decrypted
    limit: int  # take at most this many items (>= 1)
    watermark: Any  # what the last stored poll's Fetched.watermark was; None at first
    now: float  # unix time of this poll (the Redis server's clock)
    created_tstamp: float  # when the queue was created


@dataclass
class Fetched:
    """What a poll took. `watermark` (JSON-able) is stored with the tasks, in the same
    atomic step; None keeps the stored one. `receipt` is for `acknowledge` only."""

    items: list[Item]
    watermark: Any = None
    receipt: Any = None


class Source:
    """Base of every queue source: declarations, plus `fetch` and `acknowledge`.

    A poller makes one instance per source type and calls its methods from worker
    threads (they may block), possibly for several queues at once, so an instance
    must be thread-safe; it may cache connections keyed by settings. A source whose
    I/O is asyncio-native may define these methods as coroutine functions instead:
    the poller then awaits them in its event loop (they must not block it). Hence the
    `X | Awaitable[X]` return types: the poller tells the two kinds apart by
    `inspect.iscoroutinefunction` (for `close`, by whether it returned an awaitable).
    """

    namespace: ClassVar[str]
    label: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]

    def fetch(self, request: PollRequest) -> Fetched | Awaitable[Fetched]:
        """Take up to `request.limit` items without removing them from the source."""
        raise NotImplementedError(
            f"{type(self).__name__}.fetch(request) must return Fetched(items, watermark, "
            "receipt): up to request.limit Items, each with an idempotency key, taken after "
            "request.watermark; remove them from the source only in acknowledge()"
        )

    def acknowledge(self, request: PollRequest, fetched: Fetched) -> Awaitable[None] | None:
        """The tasks of `fetched` are stored: remove its items from the source for good.

        Called only after the store succeeded. Watermark sources need do nothing."""

    def give_back(self, request: PollRequest, fetched: Fetched) -> Awaitable[None] | None:
        """The queue was deleted while `fetched` was taken: nothing was stored and no poll
        will come again, so put the items back where another consumer can take them.

        Sources whose items come back by themselves (SQS's visibility timeout) or that
        only read (watermarks) need do nothing."""

    def close(self) -> Awaitable[None] | None:
        """Release cached connections (the worker is stopping)."""

    @classmethod
    def param(cls, name: str) -> Param:
        return next(p for p in cls.params if p.name == name)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "type": cls.namespace,
            "label": cls.label,
            "parameters": [p.describe() for p in cls.params],
        }
