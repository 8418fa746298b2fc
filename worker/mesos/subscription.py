"""The scheduler client's SUBSCRIBE stream (docs/scheduler-http-api.md, "Events").

One task subscribes to the first master that leads, following its 307 redirects, and
puts the typed events of the RecordIO stream on an unbounded queue, so slow event
handling never stalls the reader (and so never trips the heartbeat watchdog). It
re-subscribes with the same framework id, with backoff, whenever the stream breaks,
and stops for good on an ERROR event, a refused FrameworkInfo or refused credentials.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from . import messages
from .errors import (
    MesosBadRequest,
    MesosConnectionError,
    MesosError,
    MesosForbidden,
    MesosFrameworkError,
    MesosHTTPError,
    MesosNotSubscribed,
    MesosUnavailable,
    framework_error,
    http_error,
)
from .events import Disconnected, Error, Event, Offers, Subscribed, parse_event
from .http1 import ChunkedDecoder, Head, connect, encode_posts, origin_of, read_body, read_head
from .masters import backoff_delays, redirect_target, scheduler_url
from .recordio import RecordIODecoder

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
DEFAULT_HEARTBEAT_S = 15.0  # Mesos' interval, used until SUBSCRIBED says otherwise
_END = object()  # queue sentinel: no more events
STREAM_READ_BYTES = 256 * 1024  # the most of the event stream read at once


class Subscription:
    """A framework's subscription, kept alive across masters and broken streams.

    `framework_id`, `stream_id` and `leader_url` say where calls go: the subscription
    keeps them current, the calls side only reads them.
    """

    def __init__(
        self,
        masters: Sequence[str],
        settings: messages.FrameworkSettings,
        *,
        framework_id: str | None,
        first_event_timeout_s: float,
        heartbeat_misses: int,
        backoff_initial_s: float,
        backoff_cap_s: float,
        ssl_context: ssl.SSLContext | None,
        headers: Mapping[str, str],
        connect_timeout_s: float,
    ) -> None:
        """https goes with `ssl_context` (None: the system's CAs); `headers`
        (credentials) are sent with SUBSCRIBE."""
        self._masters = list(masters)
        self.settings = settings
        self.framework_id = framework_id
        self.stream_id: str | None = None
        self.leader_url: str | None = None
        self.heartbeat_s = DEFAULT_HEARTBEAT_S
        self.subscriptions = 0  # how many SUBSCRIBED events so far
        # When a master last sent anything (time.monotonic()): the start until then. The
        # leader steps down when it stays too old (LeaderSession._watch_silence).
        self.heard_at = time.monotonic()
        # Why the subscription last failed or ended, and when (unix s): GET /status/.
        self.last_error: tuple[str, float] | None = None
        self._first_event_timeout_s = first_event_timeout_s
        self._heartbeat_misses = heartbeat_misses
        self._backoff = (backoff_initial_s, backoff_cap_s)
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._subscribed = asyncio.Event()
        self._fatal: MesosError | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ssl = ssl_context
        self._headers = dict(headers)
        self._connect_timeout_s = connect_timeout_s

    def start(self) -> None:
        """Start subscribing in the background."""
        if self._reader is not None:
            return
        self._reader = asyncio.create_task(self._run(), name="mesos-subscription")

    async def stop(self) -> None:
        """Stop reading and close the stream's connection; `events()` then ends."""
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
        self.stream_id = None
        self._subscribed.clear()

    async def wait(self, timeout_s: float | None) -> str:
        """Wait for a live subscription and return the framework id."""
        waiter = asyncio.ensure_future(self._subscribed.wait())
        reader = self._reader
        waits: set[asyncio.Future[Any]] = {waiter} | ({reader} if reader else set())
        done, _ = await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._fatal is not None:
            raise self._fatal
        if not self._subscribed.is_set() or self.framework_id is None:
            raise MesosNotSubscribed(f"not subscribed after {timeout_s} s")
        return self.framework_id

    async def events(self) -> AsyncIterator[Event]:
        """Every event in stream order, then the end: the ERROR's exception, if any."""
        while True:
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)  # let later readers see the end too
                if self._fatal is not None:
                    raise self._fatal
                return
            yield item

    async def _run(self) -> None:
        delays = backoff_delays(*self._backoff)
        try:
            while True:
                before = self.subscriptions
                try:
                    reason = await self._subscribe_once()
                except (MesosFrameworkError, MesosBadRequest, MesosForbidden) as e:
                    # Re-subscribing cannot fix these: an ERROR event, a refused
                    # FrameworkInfo or credentials. Leave it to the scheduler.
                    log.error("mesos: subscription ended for good: %s", e)
                    self.last_error = (str(e), time.time())
                    self._fatal = e
                    return
                except MesosError as e:
                    reason = str(e)
                except Exception as e:  # a bug, or an error we do not translate yet
                    log.exception("mesos: unexpected error in the subscription loop")
                    reason = repr(e)
                self.stream_id = None
                self._subscribed.clear()
                self.last_error = (reason, time.time())
                if self.subscriptions > before:
                    delays = backoff_delays(*self._backoff)
                    self._queue.put_nowait(Disconnected({}, reason=reason))
                delay = next(delays)
                log.warning("mesos: subscription lost (%s); retrying in %.1f s", reason, delay)
                await asyncio.sleep(delay)
        finally:
            self.stream_id = None
            self._subscribed.clear()
            self._queue.put_nowait(_END)

    def _master_order(self) -> list[str]:
        """Masters to try, the last known leader first."""
        if self.leader_url is None:
            return [scheduler_url(m) for m in self._masters]
        rest = [scheduler_url(m) for m in self._masters]
        return [self.leader_url] + [u for u in rest if u != self.leader_url]

    async def _subscribe_once(self) -> str:
        """Subscribe to the first master that leads and read its stream until it ends.

        Returns why the stream ended; raises when no master could be subscribed to.
        """
        last_error: MesosError = MesosConnectionError("no master tried")
        for url in self._master_order():
            try:
                return await self._subscribe_at(url)
            except (MesosConnectionError, MesosUnavailable) as e:
                log.info("mesos: %s", e)
                last_error = e
            except MesosHTTPError as e:
                if isinstance(e, (MesosBadRequest, MesosForbidden)):
                    raise
                last_error = e
        raise last_error

    async def _subscribe_at(self, url: str) -> str:
        body = json.dumps(messages.subscribe_call(self.settings, self.framework_id)).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self._headers)
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            origin = origin_of(parts)
            if origin is None:
                raise MesosConnectionError(f"SUBSCRIBE: cannot subscribe at {url!r}")
            writer: asyncio.StreamWriter | None = None
            try:
                reader, writer = await connect(origin, self._ssl, self._connect_timeout_s)
                writer.write(encode_posts(parts.path or "/", parts.netloc, headers, [body]))
                async with asyncio.timeout(self._first_event_timeout_s):
                    head = await read_head(reader)
                if head.status == 307:
                    target = redirect_target(url, head.headers.get("location", ""))
                    log.info("mesos: %s is not the leader; redirected to %s", url, target)
                    url = target
                    continue
                if head.status != 200:
                    async with asyncio.timeout(self._first_event_timeout_s):
                        text, _ = await read_body(reader, head)
                    raise http_error(
                        head.status, f"SUBSCRIBE: {text.decode(errors='replace')}", url
                    )
                stream_id = head.headers.get("mesos-stream-id")
                if not stream_id:
                    raise MesosConnectionError(f"SUBSCRIBE to {url}: no Mesos-Stream-Id header")
                return await self._read_stream(reader, head, url, stream_id)
            except (OSError, EOFError, ValueError, TimeoutError, asyncio.LimitOverrunError) as e:
                raise MesosConnectionError(f"SUBSCRIBE to {url}: {e!r}") from e
            finally:
                if writer is not None:
                    writer.close()
        raise MesosConnectionError(f"SUBSCRIBE: more than {MAX_REDIRECTS} redirects, last {url}")

    async def _read_stream(
        self, reader: asyncio.StreamReader, head: Head, url: str, stream_id: str
    ) -> str:
        """Read events until the stream ends; why it ended. The body is read in blocks of
        up to STREAM_READ_BYTES: a burst's many small chunks cost one read."""
        loop = asyncio.get_running_loop()
        chunks = ChunkedDecoder() if head.chunked else None
        decoder = RecordIODecoder()
        try:
            async with asyncio.timeout(self._first_event_timeout_s) as deadline:
                while True:
                    data = await reader.read(STREAM_READ_BYTES)
                    if not data:
                        break
                    if chunks is not None:
                        data = chunks.feed(data)
                    records = decoder.feed(data) if data else []
                    if records:
                        # Any event proves the stream alive, not only HEARTBEAT; once per
                        # read (a read holds many events in a burst, and rescheduling per
                        # event cost the leader as much as decoding one).
                        self.heard_at = time.monotonic()
                        for record in records:
                            event = parse_event(record)
                            if isinstance(event, Subscribed):
                                self._on_subscribed(event, url, stream_id)
                            elif isinstance(event, Offers):
                                event = dataclasses.replace(event, stream_id=stream_id)
                            self._queue.put_nowait(event)
                            if isinstance(event, Error):
                                raise framework_error(event.message)
                        deadline.reschedule(loop.time() + self._heartbeat_misses * self.heartbeat_s)
                    if chunks is not None and chunks.done:
                        break
        except TimeoutError:
            return (
                f"no event from {url} for {self._heartbeat_misses} heartbeat intervals:"
                " stream presumed dead"
            )
        return f"{url} closed the stream"

    def _on_subscribed(self, event: Subscribed, url: str, stream_id: str) -> None:
        self.framework_id = event.framework_id
        self.stream_id = stream_id
        self.leader_url = url
        if event.heartbeat_interval_s:
            self.heartbeat_s = event.heartbeat_interval_s
        self.subscriptions += 1
        self._subscribed.set()
        log.info(
            "mesos: subscribed to %s as framework %s (heartbeat %.1f s)",
            url,
            event.framework_id,
            self.heartbeat_s,
        )
