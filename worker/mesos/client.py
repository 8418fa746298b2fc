"""Asyncio client of the Mesos v1 scheduler HTTP API (docs/scheduler-http-api.md).

One task reads the subscription stream and puts typed events on an unbounded
queue, so slow event handling never stalls the reader (and so never trips the
heartbeat watchdog). Calls go on a separate connection pool, each carrying the
current `Mesos-Stream-Id`; acknowledgements, many per second on a busy leader, go
pipelined on one kept-alive connection of their own (pipeline.py), with the same
credentials, TLS settings and errors. The reader re-subscribes with the same framework
id, with backoff, whenever the stream breaks, and stops for good on an ERROR event.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Any

import httpx

from . import messages
from .errors import (
    MesosBadRequest,
    MesosConfigError,
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
from .events import Disconnected, Error, Event, Subscribed, TaskStatus, Update, parse_event
from .masters import backoff_delays, parse_masters, redirect_target, scheduler_url
from .pipeline import Answer, PipelineBroken, PipelinedConnection
from .recordio import RecordIODecoder

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
DEFAULT_HEARTBEAT_S = 15.0  # Mesos' interval, used until SUBSCRIBED says otherwise
_END = object()  # queue sentinel: no more events


class MesosSchedulerClient:
    """A framework's connection to the leading Mesos master.

    Use as `async with MesosSchedulerClient(...) as client:` then
    `async for event in client.events(): ...`, and the call methods.
    """

    def __init__(
        self,
        masters: str | Sequence[str],
        settings: messages.FrameworkSettings,
        *,
        framework_id: str | None = None,
        secret: str | None = None,
        ca_bundle: str | None = None,
        call_timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        first_event_timeout_s: float = 30.0,
        heartbeat_misses: int = 5,
        backoff_initial_s: float = 0.5,
        backoff_cap_s: float = 15.0,
    ) -> None:
        spec = masters if isinstance(masters, str) else ",".join(masters)
        self._masters = parse_masters(spec, "https" if ca_bundle else "http")
        self.settings = settings
        self._framework_id = framework_id
        # Sent with every request, streamed, pooled or pipelined (HTTP basic auth).
        self._auth_headers: dict[str, str] = {}
        if secret is not None:
            if not settings.principal:
                raise MesosConfigError("a secret needs a principal in FrameworkSettings")
            token = base64.b64encode(f"{settings.principal}:{secret}".encode()).decode()
            self._auth_headers["Authorization"] = f"Basic {token}"
        self._verify: ssl.SSLContext | bool = True
        if ca_bundle:
            try:
                self._verify = ssl.create_default_context(cafile=ca_bundle)
            except (OSError, ssl.SSLError) as e:
                raise MesosConfigError(f"cannot load CA bundle {ca_bundle!r}: {e}") from e
        self._call_timeout = httpx.Timeout(call_timeout_s, connect=connect_timeout_s)
        # The stream has no read timeout: the heartbeat watchdog decides when it is dead.
        self._stream_timeout = httpx.Timeout(connect_timeout_s, read=None)
        self._first_event_timeout_s = first_event_timeout_s
        self._heartbeat_misses = heartbeat_misses
        self._backoff = (backoff_initial_s, backoff_cap_s)

        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._subscribed = asyncio.Event()
        self._stream_id: str | None = None
        self._leader_url: str | None = None
        self._heartbeat_s = DEFAULT_HEARTBEAT_S
        self._fatal: MesosError | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stream_http: httpx.AsyncClient | None = None
        self._calls_http: httpx.AsyncClient | None = None
        self._pipeline = PipelinedConnection(
            self._verify if isinstance(self._verify, ssl.SSLContext) else None,
            connect_timeout_s=connect_timeout_s,
            answer_timeout_s=call_timeout_s,
        )
        self.subscriptions = 0  # how many SUBSCRIBED events so far

    # --- lifecycle ----------------------------------------------------------

    async def __aenter__(self) -> MesosSchedulerClient:
        self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def start(self) -> None:
        """Start subscribing in the background; events arrive on `events()`."""
        if self._reader is not None:
            return
        common: dict[str, Any] = {
            "headers": self._auth_headers,
            "verify": self._verify,
            "trust_env": False,
        }
        self._stream_http = httpx.AsyncClient(timeout=self._stream_timeout, **common)
        self._calls_http = httpx.AsyncClient(timeout=self._call_timeout, **common)
        self._reader = asyncio.create_task(self._run(), name="mesos-subscription")

    async def close(self) -> None:
        """Stop reading and close connections. Never sends TEARDOWN: tasks keep running
        and a new scheduler can re-subscribe within failover_timeout."""
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
        for http in (self._stream_http, self._calls_http):
            if http is not None:
                await http.aclose()
        self._pipeline.close()
        self._stream_id = None
        self._subscribed.clear()

    # --- what the scheduler reads --------------------------------------------

    @property
    def framework_id(self) -> str | None:
        """The framework id from the last SUBSCRIBED (or the one given to re-subscribe)."""
        return self._framework_id

    @property
    def stream_id(self) -> str | None:
        return self._stream_id

    @property
    def leader_url(self) -> str | None:
        return self._leader_url

    @property
    def heartbeat_interval_s(self) -> float:
        return self._heartbeat_s

    async def wait_subscribed(self, timeout_s: float | None = None) -> str:
        """Wait for a live subscription and return the framework id."""
        waiter = asyncio.ensure_future(self._subscribed.wait())
        reader = self._reader
        waits: set[asyncio.Future[Any]] = {waiter} | ({reader} if reader else set())
        done, _ = await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._fatal is not None:
            raise self._fatal
        if not self._subscribed.is_set() or self._framework_id is None:
            raise MesosNotSubscribed(f"not subscribed after {timeout_s} s")
        return self._framework_id

    async def events(self) -> AsyncIterator[Event]:
        """Every event in stream order, plus `Disconnected` when a stream breaks.

        Ends after an ERROR event by raising its `MesosFrameworkError`
        (e.g. `FrameworkFailedOver`); ends quietly after `close()`.
        """
        while True:
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)  # let later readers see the end too
                if self._fatal is not None:
                    raise self._fatal
                return
            yield item

    # --- calls (docs/scheduler-http-api.md, "Calls") ----------------------------

    async def accept(
        self,
        offer_ids: Iterable[str],
        operations: Sequence[dict[str, Any]],
        refuse_s: float | None = None,
    ) -> None:
        await self._call(messages.accept_call(self._fid(), offer_ids, operations, refuse_s))

    async def launch(
        self,
        offer_ids: Iterable[str],
        task_infos: Sequence[dict[str, Any]],
        refuse_s: float | None = None,
    ) -> None:
        """ACCEPT with one LAUNCH operation; resources left unused are declined."""
        await self.accept(offer_ids, [messages.launch_operation(task_infos)], refuse_s)

    async def decline(self, offer_ids: Iterable[str], refuse_s: float | None = None) -> None:
        await self._call(messages.decline_call(self._fid(), offer_ids, refuse_s))

    async def revive(self, roles: Iterable[str] = ()) -> None:
        await self._call(messages.revive_call(self._fid(), roles))

    async def suppress(self, roles: Iterable[str] = ()) -> None:
        await self._call(messages.suppress_call(self._fid(), roles))

    async def kill(
        self, task_id: str, agent_id: str | None = None, grace_s: float | None = None
    ) -> None:
        await self._call(messages.kill_call(self._fid(), task_id, agent_id, grace_s))

    async def acknowledge(self, agent_id: str, task_id: str, uuid: str) -> None:
        body = messages.acknowledge_call(self._fid(), agent_id, task_id, uuid)
        await self._pipelined("ACKNOWLEDGE", [body])

    async def acknowledge_update(self, update: Update | TaskStatus) -> bool:
        """ACKNOWLEDGE an update if it needs it (it has a uuid); returns whether it did."""
        return bool(await self.acknowledge_updates([update]))

    async def acknowledge_updates(self, updates: Sequence[Update | TaskStatus]) -> int:
        """ACKNOWLEDGE every update that needs it (it has a uuid and an agent id), all
        pipelined at once; returns how many. Raises a MesosHTTPError for the first one
        refused once every answer is read (the others were acknowledged), or a
        MesosConnectionError; Mesos resends an update until it is acknowledged."""
        statuses = [u.status if isinstance(u, Update) else u for u in updates]
        needed = [s for s in statuses if s.uuid and s.agent_id]
        if not needed:  # reconciliation answers: nothing to acknowledge, subscribed or not
            return 0
        fid = self._fid()
        bodies = [
            messages.acknowledge_call(fid, s.agent_id or "", s.task_id, s.uuid or "")
            for s in needed
        ]
        await self._pipelined("ACKNOWLEDGE", bodies)
        return len(bodies)

    async def reconcile(self, tasks: Iterable[tuple[str, str | None]] = ()) -> None:
        """Explicit for (task_id, agent_id) pairs; implicit when `tasks` is empty."""
        await self._call(messages.reconcile_call(self._fid(), tasks))

    async def teardown(self) -> None:
        """Kill every task of the framework and remove it. Not for a normal shutdown."""
        await self._call(messages.teardown_call(self._fid()))

    def _fid(self) -> str:
        if self._framework_id is None or self._stream_id is None:
            raise MesosNotSubscribed("no live subscription: wait for SUBSCRIBED first")
        return self._framework_id

    def _call_headers(self, what: str) -> tuple[str, dict[str, str]]:
        """The leading master's URL and the headers of a call there."""
        url, stream_id = self._leader_url, self._stream_id
        if url is None or stream_id is None or self._calls_http is None:
            raise MesosNotSubscribed(f"{what}: no live subscription")
        return url, {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Mesos-Stream-Id": stream_id,
        }

    async def _call(self, body: dict[str, Any]) -> None:
        url, headers = self._call_headers(body["type"])
        http = self._calls_http
        assert http is not None  # _call_headers checked it
        try:
            response = await http.post(url, content=json.dumps(body).encode(), headers=headers)
        except httpx.HTTPError as e:
            raise MesosConnectionError(f"{body['type']} to {url}: {e!r}") from e
        if response.status_code in (200, 202):
            return
        raise http_error(response.status_code, f"{body['type']}: {response.text}", url)

    async def _pipelined(self, what: str, bodies: Sequence[dict[str, Any]]) -> None:
        """Calls of one type on the pipelined connection; errors as `_call` raises them."""
        if not bodies:
            return
        url, headers = self._call_headers(what)
        headers.update(self._auth_headers)
        encoded = [json.dumps(body).encode() for body in bodies]
        answers: list[Answer] = []
        while True:
            try:
                answers += await self._pipeline.post(url, encoded[len(answers) :], headers)
                break
            except PipelineBroken as e:
                answers += e.answers
                if not e.reused:
                    raise MesosConnectionError(f"{what} to {url}: {e}") from e
                # The master closed a connection idle since the last batch: send the
                # rest once on a new one (a repeated acknowledgement is ignored).
                log.debug("mesos: %s: kept-alive connection lost (%s); reconnecting", what, e)
        refused = [a for a in answers if a.status not in (200, 202)]
        if refused:
            first = refused[0].body.decode(errors="replace")
            count = f" ({len(refused)} of {len(answers)} calls refused)" if len(answers) > 1 else ""
            raise http_error(refused[0].status, f"{what}{count}: {first}", url)

    # --- the subscription loop ------------------------------------------------

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
                    self._fatal = e
                    return
                except MesosError as e:
                    reason = str(e)
                except Exception as e:  # a bug or an httpx error we do not translate yet
                    log.exception("mesos: unexpected error in the subscription loop")
                    reason = repr(e)
                self._stream_id = None
                self._subscribed.clear()
                if self.subscriptions > before:
                    delays = backoff_delays(*self._backoff)
                    self._queue.put_nowait(Disconnected({}, reason=reason))
                delay = next(delays)
                log.warning("mesos: subscription lost (%s); retrying in %.1f s", reason, delay)
                await asyncio.sleep(delay)
        finally:
            self._stream_id = None
            self._subscribed.clear()
            self._queue.put_nowait(_END)

    def _master_order(self) -> list[str]:
        """Masters to try, the last known leader first."""
        if self._leader_url is None:
            return [scheduler_url(m) for m in self._masters]
        rest = [scheduler_url(m) for m in self._masters]
        return [self._leader_url] + [u for u in rest if u != self._leader_url]

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
        assert self._stream_http is not None
        body = json.dumps(messages.subscribe_call(self.settings, self._framework_id)).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with self._stream_http.stream(
                    "POST", url, content=body, headers=headers
                ) as response:
                    if response.status_code == 307:
                        location = response.headers.get("Location", "")
                        target = redirect_target(url, location)
                        log.info("mesos: %s is not the leader; redirected to %s", url, target)
                        url = target
                        continue
                    if response.status_code != 200:
                        text = (await response.aread()).decode(errors="replace")
                        raise http_error(response.status_code, f"SUBSCRIBE: {text}", url)
                    stream_id = response.headers.get("Mesos-Stream-Id")
                    if not stream_id:
                        raise MesosConnectionError(f"SUBSCRIBE to {url}: no Mesos-Stream-Id header")
                    return await self._read_stream(response, url, stream_id)
            except httpx.HTTPError as e:
                raise MesosConnectionError(f"SUBSCRIBE to {url}: {e!r}") from e
        raise MesosConnectionError(f"SUBSCRIBE: more than {MAX_REDIRECTS} redirects, last {url}")

    async def _read_stream(self, response: httpx.Response, url: str, stream_id: str) -> str:
        loop = asyncio.get_running_loop()
        decoder = RecordIODecoder()
        try:
            async with asyncio.timeout(self._first_event_timeout_s) as deadline:
                async for chunk in response.aiter_bytes():
                    for record in decoder.feed(chunk):
                        event = parse_event(record)
                        if isinstance(event, Subscribed):
                            self._on_subscribed(event, url, stream_id)
                        self._queue.put_nowait(event)
                        if isinstance(event, Error):
                            raise framework_error(event.message)
                        # Any event proves the stream alive, not only HEARTBEAT.
                        deadline.reschedule(
                            loop.time() + self._heartbeat_misses * self._heartbeat_s
                        )
        except TimeoutError:
            return (
                f"no event from {url} for {self._heartbeat_misses} heartbeat intervals:"
                " stream presumed dead"
            )
        return f"{url} closed the stream"

    def _on_subscribed(self, event: Subscribed, url: str, stream_id: str) -> None:
        self._framework_id = event.framework_id
        self._stream_id = stream_id
        self._leader_url = url
        if event.heartbeat_interval_s:
            self._heartbeat_s = event.heartbeat_interval_s
        self.subscriptions += 1
        self._subscribed.set()
        log.info(
            "mesos: subscribed to %s as framework %s (heartbeat %.1f s)",
            url,
            event.framework_id,
            self._heartbeat_s,
        )
