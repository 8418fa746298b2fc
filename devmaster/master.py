"""The dev master's behaviour: subscriptions, calls, offers, status updates.

Everything runs on one asyncio loop, so no locks: each method changes the
state in one synchronous step. The HTTP layer (app.py) only parses and answers.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import os
import shutil
import socket
import struct
import tempfile
import time
import uuid
from pathlib import Path

from .config import MasterConfig, parse_attributes
from .introspection import master_state
from .model import (
    EPSILON,
    JSON,
    TERMINAL,
    Agent,
    Filter,
    Framework,
    Resources,
    Stream,
    Task,
    add,
    subtract,
)
from .offers import OfferBook
from .runner import ProcessRunner, SimulatedRunner, docker_engine_answers
from .validation import decode_uuid, id_value, task_error

log = logging.getLogger(__name__)

DEFAULT_REFUSE_S = 5.0  # Filters.refuse_seconds default in mesos.proto


class CallRefused(Exception):
    """A call the master answers with an HTTP error."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def _status(
    task_id: str, state: str, agent_id: str, source: str, message: str | None, reason: str | None
) -> JSON:
    status: JSON = {
        "task_id": {"value": task_id},
        "state": state,
        "source": source,
        "agent_id": {"value": agent_id},
        "timestamp": time.time(),
    }
    if message:
        status["message"] = message
    if reason:
        status["reason"] = reason
    return status


class Master:
    def __init__(self, config: MasterConfig) -> None:
        self.config = config
        self.id = str(uuid.uuid4())
        self._prefix = time.strftime("%Y%m%d-%H%M%S-") + self.id[:8]
        self.agents: dict[str, Agent] = {}
        self.frameworks: dict[str, Framework] = {}
        self.removed_frameworks: set[str] = set()
        self.offers = OfferBook(self)
        self.update_delay_s = 0.0  # test hook: hold agent updates this long
        self.unavailable_until = 0.0  # test hook: answer 503 until this loop time
        self.sandboxes: dict[str, Path] = {}  # latest sandbox of each task id
        self._ids = itertools.count(1)
        self._agent_numbers = itertools.count(1)
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

    # --- agents ---------------------------------------------------------------------

    def add_agent(
        self,
        cpus: float | None = None,
        mem_mb: float | None = None,
        disk_mb: float | None = None,
        attributes: str | None = None,
    ) -> Agent:
        number = next(self._agent_numbers)
        cfg = self.config
        agent = Agent(
            id=f"{self._prefix}-S{number}",
            hostname=f"agent{number}.devmaster",
            total={
                "cpus": cpus if cpus is not None else cfg.cpus,
                "mem": mem_mb if mem_mb is not None else cfg.mem_mb,
                "disk": disk_mb if disk_mb is not None else cfg.disk_mb,
            },
            attributes=parse_attributes(
                attributes if attributes is not None else cfg.attributes, number
            ),
        )
        self.agents[agent.id] = agent
        self.offers.schedule()
        return agent

    def remove_agent(self, agent_id: str) -> None:
        """The agent is gone for good: its tasks are lost, its offers rescinded."""
        agent = self.agents.get(agent_id)
        if agent is None or not agent.active:
            raise KeyError(agent_id)
        agent.active = False
        self.offers.rescind_agent(agent_id)
        assert self.runner is not None
        for framework in self.frameworks.values():
            for task in [t for t in framework.tasks.values() if t.agent_id == agent_id]:
                self.runner.abandon(task)
                if task.retry_handle:
                    task.retry_handle.cancel()
                task.pending.clear()
                if not task.terminal:
                    state = "TASK_GONE" if framework.partition_aware else "TASK_LOST"
                    message = f"Agent {agent.hostname} removed"
                    self._master_update(
                        framework, task.task_id, agent_id, state, message, "REASON_AGENT_REMOVED"
                    )
                self._forget_task(framework, task)
            framework.send({"type": "FAILURE", "failure": {"agent_id": {"value": agent_id}}})
        agent.used = {}

    # --- subscriptions ----------------------------------------------------------------

    def subscribe(self, call: JSON) -> Stream:
        info = dict(call["subscribe"]["framework_info"])
        framework_id = id_value(info.get("id"))
        stream = Stream(str(uuid.uuid4()), framework_id or "")
        if framework_id in self.removed_frameworks:
            stream.close("Framework has been removed")
            return stream
        if framework_id is None:
            framework_id = f"{self._prefix}-{next(self._ids):04d}"
            stream.framework_id = framework_id
        info["id"] = {"value": framework_id}
        framework = self.frameworks.get(framework_id)
        if framework is None:
            # An unknown id is a framework failing over to a new master: accepted.
            framework = Framework(framework_id, info)
            self.frameworks[framework_id] = framework
            log.info("framework %s (%s) subscribed", framework_id, info.get("name"))
        else:
            if framework.stream is not None:
                framework.stream.close("Framework failed over")
            if framework.failover_handle is not None:
                framework.failover_handle.cancel()
                framework.failover_handle = None
            framework.info = info
            self.offers.recover_framework(framework)  # old offer ids die
            log.info("framework %s re-subscribed", framework_id)
        framework.stream = stream
        framework.filters.clear()
        framework.suppressed = set(call["subscribe"].get("suppressed_roles") or [])
        stream.send(
            {
                "type": "SUBSCRIBED",
                "subscribed": {
                    "framework_id": {"value": framework_id},
                    "heartbeat_interval_seconds": self.config.heartbeat_interval_s,
                    "master_info": self.master_info(),
                },
            }
        )
        # The agents resend unacknowledged updates to the framework's new connection.
        for task in framework.tasks.values():
            if task.pending:
                task.retry_s = self.config.update_retry_s
                self._send_head(task)
        self.offers.schedule()
        return stream

    def stream_closed(self, stream: Stream) -> None:
        """The HTTP connection of `stream` ended (client left, or the stream was closed)."""
        stream.closed = True
        framework = self.frameworks.get(stream.framework_id)
        if framework is None or framework.stream is not stream:
            return  # an older stream of a framework that failed over
        framework.stream = None
        self.offers.recover_framework(framework)
        timeout_s = float(framework.info.get("failover_timeout", 0.0))
        log.info("framework %s disconnected; failover timeout %.0f s", framework.id, timeout_s)
        framework.failover_handle = self.loop.call_later(
            timeout_s, self.remove_framework, framework.id, "Framework has been removed"
        )

    def drop_stream(self, framework_id: str, mute: bool = False) -> None:
        """Test hook: end the subscription's connection, or (mute) keep it open silent."""
        framework = self.frameworks[framework_id]
        stream = framework.stream
        if stream is None:
            raise KeyError(framework_id)
        if mute:
            stream.muted = True
        else:
            stream.close()
            self.stream_closed(stream)

    def remove_framework(self, framework_id: str, reason: str) -> None:
        framework = self.frameworks.pop(framework_id, None)
        if framework is None:
            return
        self.removed_frameworks.add(framework_id)
        if framework.failover_handle is not None:
            framework.failover_handle.cancel()
        self.offers.recover_framework(framework)
        assert self.runner is not None
        for task in list(framework.tasks.values()):
            if task.retry_handle:
                task.retry_handle.cancel()
            if not task.terminal:
                self.runner.kill(task, self.config.kill_grace_s)
            self._forget_task(framework, task)
        if framework.stream is not None:
            framework.stream.close(reason)
        log.info("framework %s removed: %s", framework_id, reason)

    # --- calls ----------------------------------------------------------------------------

    def handle_call(self, call: JSON, stream_id: str | None) -> None:
        """Apply a validated non-SUBSCRIBE call, or raise `CallRefused`."""
        framework_id = id_value(call["framework_id"]) or ""
        framework = self.frameworks.get(framework_id)
        if framework is None:
            raise CallRefused(400, f"Framework {framework_id} cannot be found")
        if not framework.connected:
            raise CallRefused(403, "Framework is not subscribed")
        assert framework.stream is not None
        if stream_id is None:
            raise CallRefused(
                400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
            )
        if stream_id != framework.stream.id:
            raise CallRefused(
                400,
                f"The stream ID '{stream_id}' included in this request didn't match the stream ID"
                f" currently associated with framework ID {framework_id}",
            )
        kind = call["type"]
        handler = {
            "ACCEPT": self._accept,
            "DECLINE": self._decline,
            "REVIVE": self._revive,
            "SUPPRESS": self._suppress,
            "KILL": self._kill,
            "ACKNOWLEDGE": self._acknowledge,
            "RECONCILE": self._reconcile,
        }.get(kind)
        if handler is not None:
            handler(framework, call.get(kind.lower()) or {})
        elif kind == "TEARDOWN":
            self.remove_framework(framework_id, "Framework has been removed")
        else:
            raise CallRefused(501, f"The dev master does not implement {kind}")

    def _accept(self, framework: Framework, accept: JSON) -> None:
        offer_ids = [id_value(o) or "" for o in accept.get("offer_ids", [])]
        refuse_s = float((accept.get("filters") or {}).get("refuse_seconds", DEFAULT_REFUSE_S))
        operations = accept.get("operations", [])
        launches = [
            task
            for op in operations
            if op["type"] == "LAUNCH"
            for task in op["launch"].get("task_infos", [])
        ]
        offers, error = self.offers.take(framework, offer_ids)
        if error is not None:
            state = "TASK_DROPPED" if framework.partition_aware else "TASK_LOST"
            for task in launches:
                self._master_update(
                    framework,
                    id_value(task["task_id"]) or "",
                    id_value(task["agent_id"]) or "",
                    state,
                    f"Task launched with invalid offers: {error}",
                    "REASON_INVALID_OFFERS",
                )
            return
        agent = self.agents[offers[0].agent_id]
        available: Resources = {}
        for offer in offers:
            available = add(available, offer.resources)
        role = offers[0].role if framework.multi_role else None
        task_ids = set(framework.tasks)
        for op in operations:
            if op["type"] != "LAUNCH":
                log.warning(
                    "framework %s: operation %s ignored by the dev master", framework.id, op["type"]
                )
                continue
            for info in op["launch"].get("task_infos", []):
                task_id = id_value(info["task_id"]) or ""
                resources, why = task_error(
                    info,
                    agent_id=agent.id,
                    active_task_ids=task_ids,
                    available=available,
                    role=role,
                )
                if why is not None:
                    self._master_update(
                        framework, task_id, agent.id, "TASK_ERROR", why, "REASON_TASK_INVALID"
                    )
                    continue
                available = subtract(available, resources)
                task_ids.add(task_id)
                self._launch(framework, agent, info, resources)
        if refuse_s > 0 and any(v > EPSILON for v in available.values()):
            framework.filters[agent.id] = Filter(self.loop.time() + refuse_s, available)
        self.offers.schedule()

    def _decline(self, framework: Framework, decline: JSON) -> None:
        refuse_s = float((decline.get("filters") or {}).get("refuse_seconds", DEFAULT_REFUSE_S))
        for offer_id in (id_value(o) or "" for o in decline.get("offer_ids", [])):
            offer = self.offers.get(offer_id)
            if offer is None or offer.framework_id != framework.id:
                continue
            self.offers.remove(offer)
            if refuse_s > 0:
                framework.filters[offer.agent_id] = Filter(
                    self.loop.time() + refuse_s, offer.resources
                )
        self.offers.schedule()

    def _revive(self, framework: Framework, revive: JSON) -> None:
        roles = revive.get("roles") or framework.roles
        framework.suppressed.difference_update(roles)
        framework.filters.clear()
        self.offers.schedule()

    def _suppress(self, framework: Framework, suppress: JSON) -> None:
        framework.suppressed.update(suppress.get("roles") or framework.roles)

    def _kill(self, framework: Framework, kill: JSON) -> None:
        task_id = id_value(kill["task_id"]) or ""
        task = framework.tasks.get(task_id)
        if task is None:
            # Mesos answers a kill of an unknown task with a reconciliation of it.
            self._reconcile(framework, {"tasks": [kill]})
            return
        if task.terminal or task.kill_requested:
            return
        nanos = (
            (kill.get("kill_policy") or task.info.get("kill_policy") or {}).get("grace_period")
            or {}
        ).get("nanoseconds")
        grace_s = nanos / 1e9 if isinstance(nanos, int) else self.config.kill_grace_s
        if "TASK_KILLING_STATE" in framework.capabilities:
            self.report(task, "TASK_KILLING", None, None)
        assert self.runner is not None
        self.runner.kill(task, grace_s)

    def _acknowledge(self, framework: Framework, ack: JSON) -> None:
        task = framework.tasks.get(id_value(ack["task_id"]) or "")
        if task is None or not task.pending:
            return
        if decode_uuid(task.pending[0]["uuid"]) != decode_uuid(ack["uuid"]):
            return  # an old or unknown update: Mesos ignores it
        task.pending.popleft()
        if task.retry_handle is not None:
            task.retry_handle.cancel()
            task.retry_handle = None
        if task.pending:
            task.retry_s = self.config.update_retry_s
            self._send_head(task)
        elif task.terminal:
            self._forget_task(framework, task)

    def _reconcile(self, framework: Framework, reconcile: JSON) -> None:
        entries = reconcile.get("tasks") or []
        if not entries:  # implicit: every task the master knows
            for task in framework.tasks.values():
                self._master_update(
                    framework,
                    task.task_id,
                    task.agent_id,
                    task.state,
                    "Reconciliation: Latest task state",
                    "REASON_RECONCILIATION",
                )
            return
        for entry in entries:
            task_id = id_value(entry["task_id"]) or ""
            agent_id = id_value(entry.get("agent_id"))
            known = framework.tasks.get(task_id)
            if known is not None:
                self._master_update(
                    framework,
                    task_id,
                    known.agent_id,
                    known.state,
                    "Reconciliation: Latest task state",
                    "REASON_RECONCILIATION",
                )
                continue
            agent = self.agents.get(agent_id or "")
            if framework.partition_aware:
                state = "TASK_GONE" if agent is not None and agent.active else "TASK_UNKNOWN"
            else:
                state = "TASK_LOST"
            self._master_update(
                framework,
                task_id,
                agent_id or "",
                state,
                "Reconciliation: Task is unknown",
                "REASON_RECONCILIATION",
            )

    # --- tasks and their status updates -------------------------------------------------

    def _launch(self, framework: Framework, agent: Agent, info: JSON, resources: Resources) -> None:
        task_id = id_value(info["task_id"]) or ""
        task = Task(task_id, framework.id, agent.id, info["name"], resources, info)
        framework.tasks[task_id] = task
        agent.used = add(agent.used, resources)
        if self.config.simulate_s is None:
            run = next(self._ids)
            task.sandbox = self.work_dir / agent.id / framework.id / f"{task_id}.{run}"
            self.sandboxes[task_id] = task.sandbox
        assert self.runner is not None
        self.runner.launch(task, self._task_env(framework, agent, task))

    def _task_env(self, framework: Framework, agent: Agent, task: Task) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "MESOS_SANDBOX": str(task.sandbox or ""),
            "MESOS_TASK_ID": task.task_id,
            "MESOS_AGENT_ID": agent.id,
            "MESOS_FRAMEWORK_ID": framework.id,
            "MESOS_EXECUTOR_ID": task.task_id,
        }
        command = task.info.get("command") or {}
        for variable in (command.get("environment") or {}).get("variables") or []:
            if variable.get("type", "VALUE") == "VALUE":
                env[variable["name"]] = variable["value"]
        return env

    def report(self, task: Task, state: str, message: str | None, reason: str | None) -> None:
        """An agent's status update for `task` (from a runner)."""
        if self.update_delay_s > 0:
            self.loop.call_later(
                self.update_delay_s, self._agent_update, task, state, message, reason
            )
        else:
            self._agent_update(task, state, message, reason)

    def _agent_update(
        self, task: Task, state: str, message: str | None, reason: str | None
    ) -> None:
        framework = self.frameworks.get(task.framework_id)
        if framework is None or framework.tasks.get(task.task_id) is not task or task.terminal:
            return  # the framework or the agent is gone, or the task already ended
        task.state = state
        if state in TERMINAL:
            agent = self.agents.get(task.agent_id)
            if agent is not None and agent.active:
                agent.used = subtract(agent.used, task.resources)
            self.offers.schedule()
        source = "SOURCE_AGENT" if reason == "REASON_CONTAINER_LAUNCH_FAILED" else "SOURCE_EXECUTOR"
        status = _status(task.task_id, state, task.agent_id, source, message, reason)
        status["executor_id"] = {"value": task.task_id}
        status["uuid"] = base64.b64encode(uuid.uuid4().bytes).decode()
        task.pending.append(status)
        if len(task.pending) == 1:
            task.retry_s = self.config.update_retry_s
            self._send_head(task)

    def _send_head(self, task: Task) -> None:
        """Send the task's oldest unacknowledged update, and resend it until acknowledged."""
        framework = self.frameworks.get(task.framework_id)
        if framework is None or not task.pending:
            return
        framework.send({"type": "UPDATE", "update": {"status": task.pending[0]}})
        if task.retry_handle is not None:
            task.retry_handle.cancel()
        task.retry_handle = self.loop.call_later(task.retry_s, self._resend, task)

    def _resend(self, task: Task) -> None:
        task.retry_handle = None
        task.retry_s = min(task.retry_s * 2, self.config.update_retry_max_s)
        self._send_head(task)

    def _master_update(
        self,
        framework: Framework,
        task_id: str,
        agent_id: str,
        state: str,
        message: str,
        reason: str,
    ) -> None:
        """An update made by the master itself: no uuid, never resent, not acknowledged."""
        status = _status(task_id, state, agent_id, "SOURCE_MASTER", message, reason)
        framework.send({"type": "UPDATE", "update": {"status": status}})

    def _forget_task(self, framework: Framework, task: Task) -> None:
        framework.tasks.pop(task.task_id, None)
        framework.completed.append(task.task_id)
        if not task.terminal:
            agent = self.agents.get(task.agent_id)
            if agent is not None and agent.active:
                agent.used = subtract(agent.used, task.resources)
            self.offers.schedule()

    def state(self) -> JSON:
        """Frameworks, agents and tasks as JSON (`GET /state`)."""
        return master_state(self)


__all__ = ["CallRefused", "Master"]
