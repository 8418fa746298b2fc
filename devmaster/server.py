"""Serving a dev master: in the foreground (`hippo devmaster`) or, for tests and
scripts, on a background thread of the calling process (`DevMaster`)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import uvicorn

from .app import SchedulerEndpoint, build_app
from .call_protocol import SchedulerCallProtocol
from .config import MasterConfig
from .master import Master

log = logging.getLogger(__name__)
T = TypeVar("T")


def _runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class _Server(uvicorn.Server):
    """Closes the subscription streams first, so shutdown does not wait on them."""

    def __init__(self, config: uvicorn.Config, master: Master) -> None:
        super().__init__(config)
        self.master = master

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.master.stop()
        await super().shutdown(sockets)


async def serve(
    master_config: MasterConfig,
    sock: socket.socket,
    log_level: str = "warning",
    on_ready: Callable[[Master, _Server], None] | None = None,
) -> None:
    """Run a master on `sock` until the server is told to exit."""
    master = Master(master_config)
    master.start()
    scheduler = SchedulerEndpoint(master)
    uv_config = uvicorn.Config(
        build_app(master, scheduler),
        lifespan="off",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
        http=SchedulerCallProtocol.for_endpoint(scheduler),  # httptools, calls answered early
        proxy_headers=False,  # no proxy in front; X-Forwarded-* would change nothing here
    )
    server = _Server(uv_config, master)

    async def announce() -> None:
        # uvicorn offers no event for "started": its flag is polled.
        while not server.started and not server.should_exit:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if on_ready is not None:
            on_ready(master, server)

    announcer = asyncio.create_task(announce())
    try:
        await server.serve(sockets=[sock])
    finally:
        announcer.cancel()
        await master.stop()


class DevMaster:
    """A dev master on a background thread, for tests and scripts.

    with DevMaster(MasterConfig(agents=1)) as dev:
        client = MesosSchedulerClient(dev.address, ...)
    """

    def __init__(
        self,
        config: MasterConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.config = config or MasterConfig()
        self.host = host
        self._sock = bind(host, port)
        self.port = self._sock.getsockname()[1]
        self.config.port = self.port
        self.config.hostname = host
        self._log_level = log_level
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.master: Master | None = None
        self._server: _Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> DevMaster:
        self._thread = threading.Thread(
            target=self._main, name=f"devmaster:{self.port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            raise RuntimeError(f"dev master on {self.address} did not start") from self._error
        return self

    def _main(self) -> None:
        def ready(master: Master, server: _Server) -> None:
            self.master, self._server = master, server
            self._loop = asyncio.get_running_loop()
            self._ready.set()

        try:
            with _runner() as runner:
                runner.run(serve(self.config, self._sock, self._log_level, ready))
        except BaseException as e:  # reported by start()
            self._error = e
            self._ready.set()

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            server = self._server
            self._loop.call_soon_threadsafe(setattr, server, "should_exit", True)
        if self._thread is not None:
            self._thread.join(15)
        self._sock.close()

    def __enter__(self) -> DevMaster:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- Python test API: each runs on the master's loop and returns its result ---

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._loop is not None and self.master is not None, "not started"

        async def run() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def state(self) -> dict[str, Any]:
        assert self.master is not None
        return self.call(self.master.state)

    def remove_agent(self, agent_id: str) -> None:
        assert self.master is not None
        self.call(self.master.remove_agent, agent_id)

    def add_agent(self, cpus: float | None = None, mem_mb: float | None = None) -> str:
        assert self.master is not None
        return self.call(self.master.add_agent, cpus, mem_mb).id

    def drop_stream(self, framework_id: str, mute: bool = False) -> None:
        assert self.master is not None
        self.call(self.master.drop_stream, framework_id, mute)

    def fail_calls(self, call_type: str, count: int = 1) -> None:
        """The next `count` calls of `call_type` answer 503 (POST /devmaster/fail-calls)."""
        assert self.master is not None
        self.call(self.master.failing_calls.__setitem__, call_type, count)

    def failing_calls(self, call_type: str) -> int:
        """How many 503s for `call_type` are still to be given."""
        assert self.master is not None
        return self.call(lambda: self.master.failing_calls.get(call_type, 0) if self.master else 0)

    def delay_updates(self, seconds: float) -> None:
        assert self.master is not None
        self.call(setattr, self.master, "update_delay_s", seconds)

    def failover(self, late_agents: Sequence[str] = ()) -> None:
        """A master failover; `late_agents` re-register only when told
        (POST /devmaster/failover)."""
        assert self.master is not None
        self.call(self.master.failover, list(late_agents))

    def agent_event(self, agent_id: str, event: str) -> None:
        """`unreachable`, `reregister`, `drain` or `gone` (POST /devmaster/agents/<id>/<event>)."""
        assert self.master is not None
        self.call(self.master.agent_link, agent_id, event)
