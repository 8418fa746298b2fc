"""Fixtures for the Mesos client against a dev master served over real HTTP.

Each dev master runs on a background thread of the test process, on a free
port; each fixture stops what it started (processes of running tasks included).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from hippo.devmaster.config import MasterConfig
from hippo.devmaster.server import DevMaster
from hippo.worker.mesos import (
    Disconnected,
    Event,
    FrameworkSettings,
    MesosError,
    MesosSchedulerClient,
    Offers,
    Rescind,
    Subscribed,
    TaskStatus,
    Update,
)
from hippo.worker.mesos.messages import offer_role, task_info
from tests.conftest import DEADLINE_SCALE

from .recording_proxy import RecordingProxy


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_devmaster() -> Iterator[Callable[..., DevMaster]]:
    """Start dev masters with `MasterConfig` overrides; fast retries by default."""
    started: list[DevMaster] = []

    def make(**overrides: Any) -> DevMaster:
        options: dict[str, Any] = {
            "agents": 2,
            "update_retry_s": 2.0,
            "remove_work_dir_on_stop": True,
        }
        options.update(overrides)
        dev = DevMaster(MasterConfig(**options)).start()
        started.append(dev)
        return dev

    yield make
    for dev in reversed(started):
        dev.stop()


@pytest.fixture
def devmaster(make_devmaster: Callable[..., DevMaster]) -> DevMaster:
    return make_devmaster()


async def until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    """Poll `condition` until it is truthy; the deadline (`timeout_s` times
    DEADLINE_SCALE) only bounds the wait, failing with `what`."""
    timeout_s *= DEADLINE_SCALE
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}") from None


class Recorder:
    """Plays a minimal scheduler: keeps every event, acknowledges updates (unless
    told not to), and tracks which offers are still usable."""

    def __init__(self, client: MesosSchedulerClient, auto_ack: bool = True) -> None:
        self.client = client
        self.auto_ack = auto_ack
        self.events: list[Event] = []
        self.error: BaseException | None = None
        self._offers: dict[str, dict[str, Any]] = {}
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        try:
            async for event in self.client.events():
                if isinstance(event, Offers):
                    for offer in event.offers:
                        self._offers[offer["id"]["value"]] = offer
                elif isinstance(event, Rescind):
                    self._offers.pop(event.offer_id, None)
                elif isinstance(event, (Disconnected, Subscribed)):
                    self._offers.clear()
                elif isinstance(event, Update) and self.auto_ack:
                    try:
                        await self.client.acknowledge_update(event)
                    except MesosError:
                        pass  # the master resends it after re-subscription
                async with self._changed:
                    self.events.append(event)
                    self._changed.notify_all()
        except MesosError as e:
            self.error = e
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[Event], bool], timeout_s: float = 10.0, start: int = 0
    ) -> Event:
        """The first event from index `start` on that matches, waiting for it (at most
        `timeout_s` times DEADLINE_SCALE)."""
        async with asyncio.timeout(timeout_s * DEADLINE_SCALE):
            async with self._changed:
                while True:
                    for event in self.events[start:]:
                        if predicate(event):
                            return event
                    if self._task.done():
                        raise AssertionError(f"event stream ended ({self.error!r})")
                    await self._changed.wait()

    async def wait_update(
        self, task_id: str, state: str, timeout_s: float = 10.0, start: int = 0
    ) -> TaskStatus:
        event = await self.wait_for(
            lambda e: (
                isinstance(e, Update) and e.status.task_id == task_id and e.status.state == state
            ),
            timeout_s,
            start,
        )
        assert isinstance(event, Update)
        return event.status

    async def ended(self, timeout_s: float = 10.0) -> BaseException | None:
        """Wait for the event stream to end; the error that ended it, if any."""
        async with asyncio.timeout(timeout_s):
            await asyncio.shield(self._task)
        return self.error

    def states(self, task_id: str) -> list[str]:
        return [
            e.status.state
            for e in self.events
            if isinstance(e, Update) and e.status.task_id == task_id
        ]

    async def take_offer(
        self, timeout_s: float = 10.0, hostname: str | None = None
    ) -> dict[str, Any]:
        """A usable offer (removed from the pool), waiting for one if needed."""
        async with asyncio.timeout(timeout_s):
            async with self._changed:
                while True:
                    for offer_id, offer in list(self._offers.items()):
                        if hostname is None or offer["hostname"] == hostname:
                            return self._offers.pop(offer_id)
                    await self._changed.wait()

    async def launch(
        self, command: str, task_id: str, cpus: float = 0.1, mem_mb: float = 32, **task_fields: Any
    ) -> dict[str, Any]:
        """Launch `command` on the next offer; returns the TaskInfo sent."""
        offer = await self.take_offer()
        info = task_info(
            task_id=task_id,
            name=task_id,
            agent_id=offer["agent_id"]["value"],
            command=command,
            cpus=cpus,
            mem_mb=mem_mb,
            allocation_role=offer_role(offer),
        )
        info.update(task_fields)
        await self.client.launch([offer["id"]["value"]], [info], refuse_s=0)
        return info

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


Connect = Callable[..., Any]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """`await connect(masters, **client_options)` -> (client, recorder), subscribed."""
    opened: list[tuple[MesosSchedulerClient, Recorder]] = []

    async def open_client(
        masters: str,
        settings: FrameworkSettings | None = None,
        *,
        auto_ack: bool = True,
        wait: bool = True,
        **options: Any,
    ) -> tuple[MesosSchedulerClient, Recorder]:
        options.setdefault("backoff_initial_s", 0.1)
        options.setdefault("backoff_cap_s", 0.5)
        # A loaded machine can make a master slow to answer a call (thousands of
        # launches at once): a call timing out there is not what these tests test.
        options.setdefault("call_timeout_s", 10.0 * DEADLINE_SCALE)
        client = MesosSchedulerClient(
            masters, settings or FrameworkSettings(name="test", user="nobody"), **options
        )
        client.start()
        recorder = Recorder(client, auto_ack=auto_ack)
        opened.append((client, recorder))
        if wait:
            await client.wait_subscribed(timeout_s=10 * DEADLINE_SCALE)
        return client, recorder

    yield open_client
    for client, recorder in reversed(opened):
        await client.close()
        await recorder.stop()


@pytest.fixture
def proxy_to(
    make_devmaster: Callable[..., DevMaster],
) -> Iterator[Callable[..., RecordingProxy]]:
    """`proxy_to(**MasterConfig overrides)`: a dev master behind a recording proxy."""
    started: list[RecordingProxy] = []

    def make(**overrides: object) -> RecordingProxy:
        dev = make_devmaster(**{"simulate_s": 60, **overrides})
        host, _, port = dev.address.rpartition(":")
        proxy = RecordingProxy(host, int(port)).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()
