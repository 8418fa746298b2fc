"""Framework subscriptions: SUBSCRIBE, a stream's end, the failover timeout, removal.

A framework outlives its connection: when its stream ends, the master waits its
`failover_timeout` for a new SUBSCRIBE with the same id before removing it.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from .agents import forget_task
from .call_validation import framework_error, framework_roles, stringify_set
from .model import JSON, Framework, Stream
from .status_updates import send_first
from .validation import id_value

if TYPE_CHECKING:
    from .master import Master

log = logging.getLogger(__name__)


def subscribe(master: Master, call: JSON) -> Stream:
    """Open the stream of a validated SUBSCRIBE call (new framework or failover)."""
    info = dict(call["subscribe"]["framework_info"])
    framework_id = id_value(info.get("id"))
    stream = Stream(str(uuid.uuid4()), framework_id or "")
    # Master::validateFramework (src/master/master.cpp): refused with an ERROR event.
    refused = framework_error(info, master.config.roles)
    if refused is None and framework_id in master.removed_frameworks:
        refused = "Framework has been removed"
    suppressed = set(call["subscribe"].get("suppressed_roles", []))
    if refused is None and not suppressed <= set(framework_roles(info)):
        outside = stringify_set(suppressed - set(framework_roles(info)))
        refused = f"Suppressed roles {outside} are not contained in the set of roles"
    if refused:
        stream.close(refused)
        return stream
    if framework_id is None:
        framework_id = f"{master.prefix}-{master.next_serial():04d}"
        stream.framework_id = framework_id
    info["id"] = {"value": framework_id}
    framework = master.frameworks.get(framework_id)
    if framework is None:
        # An unknown id is a framework failing over to a new master: accepted.
        framework = Framework(framework_id, info)
        master.frameworks[framework_id] = framework
        log.info("framework %s (%s) subscribed", framework_id, info.get("name"))
    else:
        if framework.stream is not None:
            framework.stream.close("Framework failed over")
        if framework.failover_handle is not None:
            framework.failover_handle.cancel()
            framework.failover_handle = None
        framework.info = info
        master.offers.recover_framework(framework)  # old offer ids die
        log.info("framework %s re-subscribed", framework_id)
    framework.stream = stream
    framework.filters.clear()
    framework.suppressed = suppressed
    stream.send(
        {
            "type": "SUBSCRIBED",
            "subscribed": {
                "framework_id": {"value": framework_id},
                "heartbeat_interval_seconds": master.config.heartbeat_interval_s,
                "master_info": master.master_info(),
            },
        }
    )
    # The agents resend unacknowledged updates to the framework's new connection.
    for task in framework.tasks.values():
        if task.pending:
            send_first(master, task)
    master.offers.schedule()
    return stream


def stream_closed(master: Master, stream: Stream) -> None:
    """The HTTP connection of `stream` ended (client left, or the stream was closed)."""
    stream.closed = True
    framework = master.frameworks.get(stream.framework_id)
    if framework is None or framework.stream is not stream:
        return  # an older stream of a framework that failed over
    framework.stream = None
    master.offers.recover_framework(framework)
    timeout_s = float(framework.info.get("failover_timeout", 0.0))
    log.info("framework %s disconnected; failover timeout %.0f s", framework.id, timeout_s)
    framework.failover_handle = master.loop.call_later(
        timeout_s, remove_framework, master, framework.id, "Framework has been removed"
    )


def drop_stream(master: Master, framework_id: str, mute: bool = False) -> None:
    """Test hook: end the subscription's connection, or (mute) keep it open silent."""
    framework = master.frameworks[framework_id]
    stream = framework.stream
    if stream is None:
        raise KeyError(framework_id)
    if mute:
        stream.muted = True
    else:
        stream.close()
        stream_closed(master, stream)


def remove_framework(master: Master, framework_id: str, reason: str) -> None:
    """The framework is gone for good (TEARDOWN or failover timeout): its tasks are
    killed, its stream closed without an ERROR event, its id remembered (the last 50)."""
    framework = master.frameworks.pop(framework_id, None)
    if framework is None:
        return
    master.removed_frameworks.append(framework_id)
    if framework.failover_handle is not None:
        framework.failover_handle.cancel()
    master.offers.recover_framework(framework)
    assert master.runner is not None
    for task in list(framework.tasks.values()):
        if task.retry_handle:
            task.retry_handle.cancel()
        if not task.terminal:
            master.runner.kill(task, master.config.kill_grace_s)
        forget_task(master, framework, task)
    if framework.stream is not None:
        # No ERROR on the stream being torn down: the connection just ends. Only a
        # later SUBSCRIBE with this id is told "Framework has been removed" (MESOS.md).
        framework.stream.close()
    log.info("framework %s removed: %s", framework_id, reason)
