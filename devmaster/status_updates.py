"""Status updates: the agents' (acknowledged, resent until then) and the master's own.

An agent keeps each task's unacknowledged updates in order and has only the oldest
in flight, resending it with a doubling delay until the framework acknowledges it
(src/slave/task_status_update_manager.cpp). The master's own updates (invalid
launches, reconciliation, lost agents) carry no uuid and are sent once.
"""

from __future__ import annotations

import binascii
import os
import time
from typing import TYPE_CHECKING

from .model import JSON, TERMINAL, Framework, Task, subtract

if TYPE_CHECKING:
    from .master import Master


def _status(
    task_id: str, state: str, agent_id: str, source: str, message: str | None, reason: str | None
) -> JSON:
    status: JSON = {"task_id": {"value": task_id}, "state": state, "source": source}
    if agent_id:  # unknown (a reconciliation without agent_id): Mesos leaves it out
        status["agent_id"] = {"value": agent_id}
    status["timestamp"] = time.time()
    if message:
        status["message"] = message
    if reason:
        status["reason"] = reason
    return status


def report(master: Master, task: Task, state: str, message: str | None, reason: str | None) -> None:
    """An agent's status update for `task` (from a runner), held `update_delay_s` first."""
    if master.update_delay_s > 0:
        master.loop.call_later(
            master.update_delay_s, _agent_update, master, task, state, message, reason
        )
    else:
        _agent_update(master, task, state, message, reason)


def _agent_update(
    master: Master, task: Task, state: str, message: str | None, reason: str | None
) -> None:
    framework = master.frameworks.get(task.framework_id)
    if framework is None or framework.tasks.get(task.task_id) is not task or task.terminal:
        return  # the framework or the agent is gone, or the task already ended
    if task.kill_reason is not None and state in ("TASK_KILLING", "TASK_KILLED"):
        reason = task.kill_reason
    task.state = state
    if state in TERMINAL:
        agent = master.agents.get(task.agent_id)
        if agent is not None and agent.active:
            agent.used = subtract(agent.used, task.resources)
        master.offers.recovered()
    source = "SOURCE_AGENT" if reason == "REASON_CONTAINER_LAUNCH_FAILED" else "SOURCE_EXECUTOR"
    status = _status(task.task_id, state, task.agent_id, source, message, reason)
    status["executor_id"] = {"value": task.task_id}
    status["uuid"] = random_uuid()
    task.pending.append(status)
    if len(task.pending) == 1:
        send_first(master, task)


_RANDOM_BYTES = 4096  # read from the OS at a time: 256 uuids per system call
_random = bytearray()


def random_uuid() -> str:
    """A random (version 4) UUID's 16 bytes in base64, as an agent's update carries it;
    what `uuid.uuid4()` makes, without building its object or a system call each."""
    raw = _random[-16:]
    del _random[-16:]
    if len(raw) < 16:  # the pool is used up (by this master, or one on another thread)
        _random.extend(os.urandom(_RANDOM_BYTES))
        raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return binascii.b2a_base64(raw, newline=False).decode()


def send_first(master: Master, task: Task) -> None:
    """Start sending the task's oldest unacknowledged update, at the shortest retry delay."""
    task.retry_s = master.config.update_retry_s
    _send_head(master, task)


def _send_head(master: Master, task: Task) -> None:
    """Send the task's oldest unacknowledged update, and resend it until acknowledged."""
    framework = master.frameworks.get(task.framework_id)
    if framework is None or not task.pending:
        return
    agent = master.agents.get(task.agent_id)
    if agent is not None and agent.link != "registered":
        # The agent cannot reach the master: it keeps the update and sends it again
        # once it re-registers (partitions.reregister calls send_first).
        return
    framework.send({"type": "UPDATE", "update": {"status": task.pending[0]}})
    task.resend_at = due = master.loop.time() + task.retry_s
    timer = task.retry_handle
    if timer is not None and timer.when() <= due:
        return  # the timer of an earlier update fires first, and waits on (_resend)
    if timer is not None:
        timer.cancel()
    task.retry_handle = master.loop.call_at(due, _resend, master, task)


# A task's resend timer is not cancelled when its update is acknowledged: the next
# update, sent then, is due for a resend later, and the timer, when it fires, waits on
# until then. A timer and a cancel per update cost more than the update's own work.
_EARLY_S = 0.001  # a timer may fire this much before its time (the loop's resolution)


def _resend(master: Master, task: Task) -> None:
    task.retry_handle = None
    if not task.pending:
        return
    if master.loop.time() + _EARLY_S < task.resend_at:  # armed for an acknowledged update
        task.retry_handle = master.loop.call_at(task.resend_at, _resend, master, task)
        return
    task.retry_s = min(task.retry_s * 2, master.config.update_retry_max_s)
    _send_head(master, task)


def master_update(
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
