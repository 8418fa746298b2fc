"""The scheduler calls after SUBSCRIBE: ACCEPT, DECLINE, REVIVE, SUPPRESS, KILL,
ACKNOWLEDGE, RECONCILE and TEARDOWN, each applied to the master's state in one step;
the calls Hippo never makes are in rare_calls.py. Each takes its body as
`json_call.to_call` normalised it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import rare_calls
from .agents import forget_task, launch
from .call_validation import CallRefused
from .model import EPSILON, JSON, Filter, Framework, Resources, add, subtract
from .status_updates import master_update, send_first
from .subscriptions import remove_framework
from .validation import id_value, task_error

if TYPE_CHECKING:
    from .master import Master

log = logging.getLogger(__name__)

DEFAULT_REFUSE_S = 5.0  # Filters.refuse_seconds default in mesos.proto
MAX_REFUSE_S = 365 * 86400.0  # src/master/allocator/mesos/hierarchical.cpp


def handle_call(master: Master, call: JSON, stream_id: str | None) -> int:
    """Apply a validated non-SUBSCRIBE call: its HTTP status (202, or 200 for
    UPDATE_FRAMEWORK), or raise `CallRefused` (src/master/http.cpp's answers)."""
    framework_id = id_value(call["framework_id"]) or ""
    framework = master.frameworks.get(framework_id)
    if framework is None:
        raise CallRefused(400, "Framework cannot be found")
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
    handler = _HANDLERS.get(kind)
    if handler is not None:
        handler(master, framework, call.get(kind.lower(), {}))
    elif kind == "TEARDOWN":
        remove_framework(master, framework_id, "Framework has been removed")
    else:  # UNKNOWN: Mesos logs "Received 'UNKNOWN' call" and answers NotImplemented
        raise CallRefused(501, "")
    return 200 if kind == "UPDATE_FRAMEWORK" else 202


def refuse_s(body: JSON) -> float:
    """A DECLINE's or ACCEPT's filter time as the allocator takes it: over 365 days is
    365 days, a negative time is the default 5 s (hierarchical.cpp, recoverResources)."""
    seconds: float = body.get("filters", {}).get("refuse_seconds", DEFAULT_REFUSE_S)
    if seconds > MAX_REFUSE_S:
        return MAX_REFUSE_S
    return DEFAULT_REFUSE_S if seconds < 0 else seconds


def _accept(master: Master, framework: Framework, accept: JSON) -> None:
    offer_ids = [id_value(o) or "" for o in accept.get("offer_ids", [])]
    refuse = refuse_s(accept)
    operations = accept.get("operations", [])
    launches = [
        task
        for op in operations
        if op.get("type") == "LAUNCH"
        for task in op.get("launch", {}).get("task_infos", [])
    ]
    offers, error = master.offers.take(framework, offer_ids)
    if error is not None:
        state = "TASK_DROPPED" if framework.partition_aware else "TASK_LOST"
        for task in launches:
            master_update(
                framework,
                id_value(task["task_id"]) or "",
                id_value(task["agent_id"]) or "",
                state,
                f"Task launched with invalid offers: {error}",
                "REASON_INVALID_OFFERS",
            )
        return
    agent = master.agents[offers[0].agent_id]
    available: Resources = {}
    for offer in offers:
        available = add(available, offer.resources)
    role = offers[0].role if framework.multi_role else None
    for op in operations:
        if op.get("type") != "LAUNCH":
            log.warning(
                "framework %s: operation %s ignored by the dev master",
                framework.id,
                op.get("type", "UNKNOWN"),
            )
            continue
        for info in op.get("launch", {}).get("task_infos", []):
            task_id = id_value(info["task_id"]) or ""
            resources, why = task_error(
                info,
                agent_id=agent.id,
                active_task_ids=framework.tasks,  # (launch adds each task at once)
                available=available,
                role=role,
            )
            if why is not None:
                master_update(
                    framework, task_id, agent.id, "TASK_ERROR", why, "REASON_TASK_INVALID"
                )
                continue
            available = subtract(available, resources)
            launch(master, framework, agent, info, resources)
    if refuse > 0 and any(v > EPSILON for v in available.values()):
        framework.filters[agent.id] = Filter(master.loop.time() + refuse, available)
    master.offers.recovered()


def _decline(master: Master, framework: Framework, decline: JSON) -> None:
    refuse = refuse_s(decline)
    for offer_id in (id_value(o) or "" for o in decline.get("offer_ids", [])):
        offer = master.offers.get(offer_id)
        if offer is None or offer.framework_id != framework.id:
            continue
        master.offers.remove(offer)
        if refuse > 0:
            framework.filters[offer.agent_id] = Filter(master.loop.time() + refuse, offer.resources)
    master.offers.recovered()


def _revive(master: Master, framework: Framework, revive: JSON) -> None:
    roles = revive.get("roles") or framework.roles
    framework.suppressed.difference_update(roles)
    framework.filters.clear()
    master.offers.schedule()


def _suppress(master: Master, framework: Framework, suppress: JSON) -> None:
    framework.suppressed.update(suppress.get("roles") or framework.roles)


def _kill(master: Master, framework: Framework, kill: JSON) -> None:
    task_id = id_value(kill["task_id"]) or ""
    task = framework.tasks.get(task_id)
    if task is None:
        # Mesos answers a kill of an unknown task with a reconciliation of it.
        _reconcile(master, framework, {"tasks": [kill]})
        return
    if "agent_id" in kill and kill["agent_id"]["value"] != task.agent_id:
        log.warning("framework %s: KILL of %s names another agent", framework.id, task_id)
        return  # master.cpp, Master::kill: "it belongs to different agent"
    if task.terminal or task.kill_requested:
        return
    nanos = (
        (kill.get("kill_policy") or task.info.get("kill_policy") or {}).get("grace_period") or {}
    ).get("nanoseconds")
    grace_s = nanos / 1e9 if isinstance(nanos, int) else master.config.kill_grace_s
    assert master.runner is not None
    master.runner.start_waiting(task)
    if "TASK_KILLING_STATE" in framework.capabilities:
        master.report(task, "TASK_KILLING", None, None)
    master.runner.kill(task, grace_s)


def _acknowledge(master: Master, framework: Framework, ack: JSON) -> None:
    task = framework.tasks.get(id_value(ack["task_id"]) or "")
    if task is None or not task.pending:
        return
    if task.pending[0]["uuid"] != ack["uuid"]:  # both canonical base64 (json_call.py)
        return  # an old or unknown update: Mesos ignores it
    task.pending.popleft()
    if task.pending:
        send_first(master, task)  # (the resend timer, still armed, waits for it)
    elif task.terminal:
        forget_task(master, framework, task)  # (which stops the resend timer)


def _reconcile(master: Master, framework: Framework, reconcile: JSON) -> None:
    """`Master::reconcile` (src/master/master.cpp): implicit answers every task the
    master knows (not those on agents that are not registered); explicit answers each
    task by the cases there, and not at all for a task that may be on an agent that
    has not re-registered since a master failover (the framework must retry)."""
    entries = reconcile.get("tasks") or []
    if not entries:  # implicit: every task the master knows
        for task in framework.tasks.values():
            agent = master.agents.get(task.agent_id)
            if agent is not None and agent.link != "registered":
                continue
            master_update(
                framework,
                task.task_id,
                task.agent_id,
                task.state,
                "Reconciliation: Latest task state",
                "REASON_RECONCILIATION",
            )
        return
    recovered = any(a.active and a.link == "recovered" for a in master.agents.values())
    for entry in entries:
        task_id = id_value(entry["task_id"]) or ""
        agent_id = id_value(entry.get("agent_id"))
        known = framework.tasks.get(task_id)
        if known is not None:
            agent_id = known.agent_id
        agent = master.agents.get(agent_id or "")
        link = ""  # an agent the master does not know
        if agent is not None:
            link = agent.link if agent.active else "gone" if agent.gone else "removed"
        if known is not None and link == "registered":
            state, message = known.state, "Reconciliation: Latest task state"
        elif link == "recovered" or (agent_id is None and recovered):
            continue  # (2) the agent has not re-registered yet: no answer
        else:
            state, message = {
                "registered": ("TASK_GONE", "Reconciliation: Task is unknown to the agent"),
                "unreachable": ("TASK_UNREACHABLE", "Reconciliation: Task is unreachable"),
                "gone": ("TASK_GONE_BY_OPERATOR", "Reconciliation: Task is gone"),
            }.get(link, ("TASK_UNKNOWN", "Reconciliation: Task is unknown"))
            if not framework.partition_aware:
                state = "TASK_LOST"  # cases (3) to (6) without PARTITION_AWARE
        master_update(framework, task_id, agent_id or "", state, message, "REASON_RECONCILIATION")


_HANDLERS: dict[str, Callable[[Master, Framework, JSON], None]] = {
    "ACCEPT": _accept,
    "DECLINE": _decline,
    "REVIVE": _revive,
    "SUPPRESS": _suppress,
    "KILL": _kill,
    "ACKNOWLEDGE": _acknowledge,
    "RECONCILE": _reconcile,
    "UPDATE_FRAMEWORK": rare_calls.update_framework,
    "SHUTDOWN": rare_calls.shutdown,
    "MESSAGE": rare_calls.message,
    "REQUEST": rare_calls.request,
    "ACCEPT_INVERSE_OFFERS": rare_calls.inverse_offers,
    "DECLINE_INVERSE_OFFERS": rare_calls.inverse_offers,
    "RECONCILE_OPERATIONS": rare_calls.reconcile_operations,
    "ACKNOWLEDGE_OPERATION_STATUS": rare_calls.acknowledge_operation_status,
}
