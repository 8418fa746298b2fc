"""Asyncio client of the Mesos v1 scheduler HTTP API (docs/scheduler-http-api.md).

The subscription (subscription.py) reads the event stream in a task of its own and
re-subscribes whenever it breaks. Calls go pipelined on a kept-alive connection of
their own, each carrying the current `Mesos-Stream-Id`, those made while others are on
their way sent together (batched_calls.py); acknowledgements, many per second on a busy
leader, go pipelined on another one (pipeline.py). All three connections carry the
same credentials and TLS settings, and raise the same errors.
"""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Any

import orjson

from . import messages
from .batched_calls import BatchedCalls
from .errors import (
    MesosConfigError,
    MesosConnectionError,
    MesosNotSent,
    MesosNotSubscribed,
    MesosOffersGone,
    http_error,
)
from .events import Event, TaskStatus, Update
from .masters import parse_masters
from .pipeline import Answer, PipelineBroken, PipelinedConnection
from .subscription import Subscription

log = logging.getLogger(__name__)


# The calls' connection idle longer than this is closed, not reused. Below the idle
# timeouts of what may sit in front of the calls (uvicorn, behind the dev master: 5 s;
# proxies: more): at the server's own, a call could go out on a connection the server
# was closing just then and fail unanswered, leaving unknown whether an ACCEPT was
# taken (seen with concurrent ACCEPTs after a busy round, when httpx's pool carried them).
CALL_KEEPALIVE_S = 2.0


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
        parsed = parse_masters(spec, "https" if ca_bundle else "http")
        # Sent with every request, streamed, pooled or pipelined (HTTP basic auth).
        self._auth_headers: dict[str, str] = {}
        if secret is not None:
            if not settings.principal:
                raise MesosConfigError("a secret needs a principal in FrameworkSettings")
            token = base64.b64encode(f"{settings.principal}:{secret}".encode()).decode()
            self._auth_headers["Authorization"] = f"Basic {token}"
        # The CA bundle's context for https; None: the system's CAs.
        self._ssl: ssl.SSLContext | None = None
        if ca_bundle:
            try:
                self._ssl = ssl.create_default_context(cafile=ca_bundle)
            except (OSError, ssl.SSLError) as e:
                raise MesosConfigError(f"cannot load CA bundle {ca_bundle!r}: {e}") from e
        self._subscription = Subscription(
            parsed,
            settings,
            framework_id=framework_id,
            first_event_timeout_s=first_event_timeout_s,
            heartbeat_misses=heartbeat_misses,
            backoff_initial_s=backoff_initial_s,
            backoff_cap_s=backoff_cap_s,
            ssl_context=self._ssl,
            headers=self._auth_headers,
            connect_timeout_s=connect_timeout_s,
        )
        self._calls = BatchedCalls(
            PipelinedConnection(
                self._ssl,
                connect_timeout_s=connect_timeout_s,
                answer_timeout_s=call_timeout_s,
                idle_expiry_s=CALL_KEEPALIVE_S,
            )
        )
        self._pipeline = PipelinedConnection(
            self._ssl,
            connect_timeout_s=connect_timeout_s,
            answer_timeout_s=call_timeout_s,
        )

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
        self._subscription.start()  # (once: starting again does nothing)

    async def close(self) -> None:
        """Stop reading and close connections. Never sends TEARDOWN: tasks keep running
        and a new scheduler can re-subscribe within failover_timeout."""
        await self._subscription.stop()
        await self._calls.aclose()
        await self._pipeline.aclose()

    # --- what the scheduler reads --------------------------------------------

    @property
    def settings(self) -> messages.FrameworkSettings:
        """The FrameworkInfo sent with every SUBSCRIBE."""
        return self._subscription.settings

    @property
    def framework_id(self) -> str | None:
        """The framework id from the last SUBSCRIBED (or the one given to re-subscribe)."""
        return self._subscription.framework_id

    @property
    def stream_id(self) -> str | None:
        return self._subscription.stream_id

    @property
    def leader_url(self) -> str | None:
        return self._subscription.leader_url

    @property
    def last_error(self) -> tuple[str, float] | None:
        """Why the subscription last failed or ended, and when (unix seconds)."""
        return self._subscription.last_error

    @property
    def heartbeat_interval_s(self) -> float:
        return self._subscription.heartbeat_s

    @property
    def heard_at(self) -> float:
        """When a master last sent an event (time.monotonic()); the start until the first."""
        return self._subscription.heard_at

    @property
    def subscriptions(self) -> int:
        """How many SUBSCRIBED events so far."""
        return self._subscription.subscriptions

    async def wait_subscribed(self, timeout_s: float | None = None) -> str:
        """Wait for a live subscription and return the framework id."""
        return await self._subscription.wait(timeout_s)

    def events(self) -> AsyncIterator[Event]:
        """Every event in stream order, plus `Disconnected` when a stream breaks.

        Ends after an ERROR event by raising its `MesosFrameworkError`
        (e.g. `FrameworkFailedOver`); ends quietly after `close()`.
        """
        return self._subscription.events()

    # --- calls (docs/scheduler-http-api.md, "Calls") ----------------------------

    async def accept(
        self,
        offer_ids: Iterable[str],
        operations: Sequence[dict[str, Any]],
        refuse_s: float | None = None,
        *,
        stream_id: str | None = None,
    ) -> None:
        """ACCEPT. With `stream_id` (the subscription the offers came on, `Offers.stream_id`)
        nothing is sent once that subscription has ended (MesosOffersGone: Mesos voided the
        offers and would lose the tasks), and the call carries that stream's id, so a
        master that switched streams meanwhile refuses it (400) instead of losing them."""
        if stream_id is not None and stream_id != self._subscription.stream_id:
            raise MesosOffersGone(f"ACCEPT: the offers' subscription {stream_id} has ended")
        body = messages.accept_call(self._fid(), offer_ids, operations, refuse_s)
        await self._call(body, stream_id=stream_id)

    async def launch(
        self,
        offer_ids: Iterable[str],
        task_infos: Sequence[dict[str, Any]],
        refuse_s: float | None = None,
        *,
        stream_id: str | None = None,
    ) -> None:
        """ACCEPT with one LAUNCH operation; resources left unused are declined."""
        operations = [messages.launch_operation(task_infos)]
        await self.accept(offer_ids, operations, refuse_s, stream_id=stream_id)

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
        encoded = acknowledge_bodies(
            self._fid(), [(s.agent_id or "", s.task_id, s.uuid or "") for s in needed]
        )
        await self._pipelined_encoded("ACKNOWLEDGE", encoded)
        return len(encoded)

    async def reconcile(self, tasks: Iterable[tuple[str, str | None]] = ()) -> None:
        """Explicit for (task_id, agent_id) pairs; implicit when `tasks` is empty."""
        await self._call(messages.reconcile_call(self._fid(), tasks))

    async def teardown(self) -> None:
        """Kill every task of the framework and remove it. Not for a normal shutdown."""
        await self._call(messages.teardown_call(self._fid()))

    def _fid(self) -> str:
        framework_id, stream_id = self._subscription.framework_id, self._subscription.stream_id
        if framework_id is None or stream_id is None:
            raise MesosNotSubscribed("no live subscription: wait for SUBSCRIBED first")
        return framework_id

    def _call_headers(self, what: str, stream_id: str | None = None) -> tuple[str, dict[str, str]]:
        """The leading master's URL and the headers of a call there (on `stream_id`,
        by default the current subscription's)."""
        url = self._subscription.leader_url
        stream_id = stream_id or self._subscription.stream_id
        if url is None or stream_id is None:  # (None until subscribed, and once closed)
            raise MesosNotSubscribed(f"{what}: no live subscription")
        return url, {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Mesos-Stream-Id": stream_id,
        }

    async def _call(self, body: dict[str, Any], stream_id: str | None = None) -> None:
        what = body["type"]
        url, headers = self._call_headers(what, stream_id)
        headers.update(self._auth_headers)
        try:
            answer = await self._calls.post(url, orjson.dumps(body), headers)
        except MesosConnectionError as e:  # (its message names the URL)
            error = MesosNotSent if isinstance(e, MesosNotSent) else MesosConnectionError
            raise error(f"{what}: {e}") from e
        if answer.status in (200, 202):
            return
        raise http_error(answer.status, f"{what}: {answer.body.decode(errors='replace')}", url)

    async def _pipelined(self, what: str, bodies: Sequence[dict[str, Any]]) -> None:
        """Calls of one type on the pipelined connection; errors as `_call` raises them."""
        await self._pipelined_encoded(what, [orjson.dumps(body) for body in bodies])

    async def _pipelined_encoded(self, what: str, encoded: Sequence[bytes]) -> None:
        """`_pipelined` for bodies already encoded."""
        if not encoded:
            return
        url, headers = self._call_headers(what)
        headers.update(self._auth_headers)
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


def acknowledge_bodies(framework_id: str, updates: Sequence[tuple[str, str, str]]) -> list[bytes]:
    """The encoded ACKNOWLEDGE call of each (agent_id, task_id, uuid): the bytes orjson
    makes of messages.acknowledge_call's, in half its time (the leader sends about two
    for each task it launches)."""
    dumps = orjson.dumps
    head = b'{"type":"ACKNOWLEDGE","framework_id":{"value":%s},"acknowledge":{"agent_id":' % (
        dumps(framework_id)
    )
    return [
        b'%s{"value":%s},"task_id":{"value":%s},"uuid":%s}}'
        % (head, dumps(agent_id), dumps(task_id), dumps(uuid))
        for agent_id, task_id, uuid in updates
    ]
