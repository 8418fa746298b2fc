"""The dev master: its state, its lifecycle, and the operations the HTTP layer calls.

Everything runs on one asyncio loop, so no locks: each operation changes the
state in one synchronous step. The HTTP layer (app.py) only parses and answers.
The operations live by concept: agents.py, subscriptions.py, calls.py,
status_updates.py, and offers.py for the allocator.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import socket
import struct
import tempfile
import time
import uuid
from collections import deque
from pathlib import Path

from . import agents, calls, partitions, status_updates, subscriptions
from .call_validation import CallRefused
from .config import MasterConfig
from .introspection import master_state
from .model import JSON, Agent, Framework, Stream, Task
from .offers import OfferBook
from .runner import ProcessRunner, SimulatedRunner, docker_engine_answers

MAX_COMPLETED_FRAMEWORKS = 50  # Mesos' --max_completed_frameworks default


class Master:
    """One master with its simulated agents; `start()` it inside the serving loop."""

    def __init__(self, config: MasterConfig) -> None:
        self.config = config
        self.id = str(uuid.uuid4())
        self.prefix = time.strftime("%Y%m%d-%H%M%S-") + self.id[:8]
        self.agents: dict[str, Agent] = {}
        self.frameworks: dict[str, Framework] = {}
        # Removed framework ids, refused at SUBSCRIBE with "Framework has been removed":
        # Mesos keeps the last --max_completed_frameworks (50), in memory only.
        self.removed_frameworks: deque[str] = deque(maxlen=MAX_COMPLETED_FRAMEWORKS)
        self.offers = OfferBook(self)
        self.update_delay_s = 0.0  # test hook: hold agent updates this long
        self.unavailable_until = 0.0  # test hook: answer 503 until this loop time
        self.failing_calls: dict[str, int] = {}  # test hook: call type -> 503s still to give
        self.sandboxes: dict[str, Path] = {}  # latest sandbox of each task id
        self._serials = itertools.count(1)
        self.agent_numbers = itertools.count(1)
        self._created_work_dir = config.work_dir is None
        self.work_dir = Path(config.work_dir or tempfile.mkdtemp(prefix="hippo-devmaster-"))
        self.runner: ProcessRunner | SimulatedRunner | None = None
        self.use_docker = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Create the agents and the runner; call from inside the serving loop."""
        self._loop = asyncio.get_running_loop()
        if self.config.simulate_s is not None:
            self.runner = SimulatedRunner(self.report, self.config.simulate_s)
        else:
            self.use_docker = self.config.docker == "auto" and docker_engine_answers()
            self.runner = ProcessRunner(self.report, self.use_docker)
        for _ in range(self.config.agents):
            self.add_agent()
        self.offers.start()

    async def stop(self) -> None:
        for framework in self.frameworks.values():
            if framework.stream is not None:
                framework.stream.close()
            for task in framework.tasks.values():
                if task.retry_handle:
                    task.retry_handle.cancel()
            if framework.failover_handle:
                framework.failover_handle.cancel()
        self.offers.stop()
        if self.runner is not None:
            await self.runner.shutdown()
        if self._created_work_dir and self.config.remove_work_dir_on_stop:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "Master.start() was not called"
        return self._loop

    def master_info(self) -> JSON:
        host = self.config.hostname
        try:
            ip = socket.gethostbyname(host)
        except OSError:
            ip = "127.0.0.1"
        packed = struct.unpack("<I", socket.inet_aton(ip))[0]  # Mesos stores the ip little-endian
        return {
            "id": self.id,
            "ip": packed,
            "port": self.config.port,
            "hostname": host,
            "version": "1.11.0",
            "address": {"hostname": host, "ip": ip, "port": self.config.port},
        }

    def next_serial(self) -> int:
        """A number new in this master: framework ids and sandbox runs draw from it."""
        return next(self._serials)

    # --- the state changes, one module each --------------------------------------------

    def add_agent(
        self,
        cpus: float | None = None,
        mem_mb: float | None = None,
        disk_mb: float | None = None,
        attributes: str | None = None,
    ) -> Agent:
        return agents.add_agent(self, cpus, mem_mb, disk_mb, attributes)

    def remove_agent(self, agent_id: str) -> None:
        """The agent is gone for good: its tasks are lost, its offers rescinded."""
        agents.remove_agent(self, agent_id)

    def failover(self, late_agents: list[str]) -> None:
        """Test hook: a new master takes over; `late_agents` re-register late."""
        partitions.failover(self, late_agents)

    def agent_link(self, agent_id: str, event: str) -> None:
        """Test hook: `unreachable`, `reregister`, `drain` or `gone` for an agent
        (KeyError for an unknown or removed agent, ValueError for another event)."""
        actions = {
            "unreachable": partitions.mark_unreachable,
            "reregister": partitions.reregister,
            "drain": partitions.drain,
            "gone": partitions.mark_gone,
        }
        if event not in actions:
            raise ValueError(f"event must be one of {', '.join(actions)}, got {event!r}")
        actions[event](self, agent_id)

    def subscribe(self, call: JSON) -> Stream:
        return subscriptions.subscribe(self, call)

    def stream_closed(self, stream: Stream) -> None:
        """The HTTP connection of `stream` ended (client left, or the stream was closed)."""
        subscriptions.stream_closed(self, stream)

    def drop_stream(self, framework_id: str, mute: bool = False) -> None:
        """Test hook: end the subscription's connection, or (mute) keep it open silent."""
        subscriptions.drop_stream(self, framework_id, mute)

    def remove_framework(self, framework_id: str, reason: str) -> None:
        subscriptions.remove_framework(self, framework_id, reason)

    def handle_call(self, call: JSON, stream_id: str | None) -> int:
        """Apply a validated non-SUBSCRIBE call: its HTTP status, or raise `CallRefused`."""
        return calls.handle_call(self, call, stream_id)

    def report(self, task: Task, state: str, message: str | None, reason: str | None) -> None:
        """An agent's status update for `task` (from a runner)."""
        status_updates.report(self, task, state, message, reason)

    def state(self) -> JSON:
        """Frameworks, agents and tasks as JSON (`GET /state`)."""
        return master_state(self)


__all__ = ["CallRefused", "Master"]
