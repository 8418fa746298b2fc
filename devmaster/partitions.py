"""What happens between the master and its agents, for the test API: a master
failover whose agents re-register late, an agent unreachable then back, drained, or
marked gone by an operator. Each follows src/master/master.cpp (apache/mesos).

While an agent is not registered its task processes go on running; their updates wait
on the agent (status_updates._send_head holds them) and go out once it re-registers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .agents import forget_task
from .model import Agent, Task
from .status_updates import master_update, send_first

if TYPE_CHECKING:
    from .master import Master

log = logging.getLogger(__name__)


def _tasks_on(master: Master, agent_id: str) -> list[Task]:
    frameworks = master.frameworks.values()
    return [t for f in frameworks for t in f.tasks.values() if t.agent_id == agent_id]


def _agent(master: Master, agent_id: str) -> Agent:
    agent = master.agents.get(agent_id)
    if agent is None or not agent.active:
        raise KeyError(agent_id)
    return agent


def failover(master: Master, late_agents: list[str]) -> None:
    """A new master takes over. Every subscription's connection ends (no ERROR: the old
    master simply died), outstanding offers die, frameworks must SUBSCRIBE again, and
    what the old master remembered of removed frameworks is forgotten (kept in memory
    only). Agents in `late_agents` stay "recovered": their tasks are unknown to the new
    master, explicit reconciliation of them is not answered (`Master::reconcile`, case
    "Task is unknown, slave is recovered: no-op"), and after the master's
    `agent_reregister_timeout_s` they are marked unreachable. The others re-register at
    once, silently."""
    for agent_id in late_agents:
        _agent(master, agent_id)  # KeyError before anything changes
    master.removed_frameworks.clear()
    for framework in master.frameworks.values():
        master.offers.recover_framework(framework)
        if framework.failover_handle is not None:
            framework.failover_handle.cancel()
            framework.failover_handle = None
        stream, framework.stream = framework.stream, None
        if stream is not None:
            stream.close()
    for agent_id in late_agents:
        master.agents[agent_id].link = "recovered"
        master.offers.rescind_agent(agent_id)
    timeout_s = master.config.agent_reregister_timeout_s
    master.loop.call_later(timeout_s, _recovery_timeout, master, list(late_agents))
    log.info("master failover simulated; agents late: %s", ", ".join(late_agents) or "none")


def _recovery_timeout(master: Master, agent_ids: list[str]) -> None:
    """`Master::recoveredSlavesTimeout`: agents still not re-registered are marked
    unreachable. The master never knew their tasks, so no update goes out; explicit
    reconciliation now answers TASK_UNREACHABLE (TASK_LOST if not partition-aware)."""
    for agent_id in agent_ids:
        agent = master.agents.get(agent_id)
        if agent is not None and agent.active and agent.link == "recovered":
            agent.link = "unreachable"
            log.info("agent %s did not re-register in time: unreachable", agent_id)


def mark_unreachable(master: Master, agent_id: str) -> None:
    """The agent failed its health checks (`Master::markUnreachable` then
    `__removeSlave`): its offers are rescinded and each task it runs is reported
    TASK_UNREACHABLE to partition-aware frameworks, TASK_LOST to the others, with
    REASON_AGENT_REMOVED (v1's name of REASON_SLAVE_REMOVED). The processes go on."""
    agent = _agent(master, agent_id)
    if agent.link != "registered":
        return
    agent.link = "unreachable"
    master.offers.rescind_agent(agent_id)
    for task in _tasks_on(master, agent_id):
        framework = master.frameworks[task.framework_id]
        if task.terminal:
            continue
        state = "TASK_UNREACHABLE" if framework.partition_aware else "TASK_LOST"
        master_update(
            framework,
            task.task_id,
            agent_id,
            state,
            f"Agent {agent.hostname} is unreachable: health check timed out",
            "REASON_AGENT_REMOVED",
        )
    master.offers.schedule()


def reregister(master: Master, agent_id: str) -> None:
    """The agent comes back (`Master::_reregisterSlave`). Back from unreachable, each of
    its tasks is reported in the state the agent gives, with REASON_AGENT_REREGISTERED
    and "Unreachable agent re-reregistered" (sic), to every connected framework; back
    from a master failover ("recovered") nothing is said. Either way the agent then
    resends the updates it kept."""
    agent = _agent(master, agent_id)
    was = agent.link
    if was == "registered":
        return
    agent.link = "registered"
    for task in _tasks_on(master, agent_id):
        framework = master.frameworks[task.framework_id]
        if was == "unreachable" and framework.connected:
            master_update(
                framework,
                task.task_id,
                agent_id,
                task.state,
                "Unreachable agent re-reregistered",
                "REASON_AGENT_REREGISTERED",
            )
        if task.pending:
            send_first(master, task)
    master.offers.schedule()


def drain(master: Master, agent_id: str) -> None:
    """DRAIN_AGENT (operator API): no more offers from the agent, and its tasks are
    killed; their TASK_KILLING/TASK_KILLED updates carry REASON_AGENT_DRAINING
    (src/slave/slave.cpp sets REASON_SLAVE_DRAINING over any other reason)."""
    agent = _agent(master, agent_id)
    agent.draining = True
    master.offers.rescind_agent(agent_id)
    assert master.runner is not None
    for task in _tasks_on(master, agent_id):
        if task.terminal:
            continue
        task.kill_reason = "REASON_AGENT_DRAINING"
        framework = master.frameworks[task.framework_id]
        master.runner.start_waiting(task)
        if "TASK_KILLING_STATE" in framework.capabilities:
            master.report(task, "TASK_KILLING", "Agent is draining", None)
        master.runner.kill(task, master.config.kill_grace_s)


def mark_gone(master: Master, agent_id: str) -> None:
    """MARK_AGENT_GONE (operator API, `Master::markGone` then `__removeSlave` without an
    unreachable time): each task is reported TASK_GONE_BY_OPERATOR with
    REASON_AGENT_REMOVED_BY_OPERATOR to partition-aware frameworks (TASK_LOST to the
    others) and its process is stopped; the agent never comes back."""
    agent = _agent(master, agent_id)
    agent.active, agent.gone = False, True
    master.offers.rescind_agent(agent_id)
    assert master.runner is not None
    for task in _tasks_on(master, agent_id):
        framework = master.frameworks[task.framework_id]
        master.runner.abandon(task)
        if task.retry_handle:
            task.retry_handle.cancel()
        task.pending.clear()
        if not task.terminal:
            partition_aware = framework.partition_aware
            master_update(
                framework,
                task.task_id,
                agent_id,
                "TASK_GONE_BY_OPERATOR" if partition_aware else "TASK_LOST",
                f"Agent {agent.hostname} marked gone by an operator",
                "REASON_AGENT_REMOVED_BY_OPERATOR" if partition_aware else "REASON_AGENT_REMOVED",
            )
        forget_task(master, framework, task)
    agent.used = {}
