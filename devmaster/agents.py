"""The simulated agents: joining and leaving, and the tasks they launch and release."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .config import agent_resources, parse_attributes
from .model import JSON, Agent, Framework, Resources, Task, add, subtract
from .status_updates import master_update
from .validation import id_value

if TYPE_CHECKING:
    from .master import Master


def add_agent(
    master: Master,
    cpus: float | None = None,
    mem_mb: float | None = None,
    disk_mb: float | None = None,
    attributes: str | None = None,
    resources: str | None = None,
) -> Agent:
    """A new agent; the sizes and attributes not given come from the master's config."""
    number = next(master.agent_numbers)
    cfg = master.config
    agent = Agent(
        id=f"{master.prefix}-S{number}",
        hostname=f"agent{number}.devmaster",
        total=agent_resources(
            resources if resources is not None else cfg.resources,
            {
                "cpus": cpus if cpus is not None else cfg.cpus,
                "mem": mem_mb if mem_mb is not None else cfg.mem_mb,
                "disk": disk_mb if disk_mb is not None else cfg.disk_mb,
            },
        ),
        attributes=parse_attributes(
            attributes if attributes is not None else cfg.attributes, number
        ),
    )
    master.agents[agent.id] = agent
    master.offers.schedule()
    return agent


def remove_agent(master: Master, agent_id: str) -> None:
    """The agent is gone for good (it unregistered): its tasks are lost, for every
    framework, partition-aware or not (`Master::_removeSlave` in src/master/master.cpp
    sends TASK_LOST), its offers rescinded."""
    agent = master.agents.get(agent_id)
    if agent is None or not agent.active:
        raise KeyError(agent_id)
    agent.active = False
    master.offers.rescind_agent(agent_id)
    assert master.runner is not None
    for framework in master.frameworks.values():
        for task in [t for t in framework.tasks.values() if t.agent_id == agent_id]:
            master.runner.abandon(task)
            if task.retry_handle:
                task.retry_handle.cancel()
            task.pending.clear()
            if not task.terminal:
                message = f"Agent {agent.hostname} removed"
                master_update(
                    framework, task.task_id, agent_id, "TASK_LOST", message, "REASON_AGENT_REMOVED"
                )
            forget_task(master, framework, task)
        framework.send({"type": "FAILURE", "failure": {"agent_id": {"value": agent_id}}})
    agent.used = {}


def launch(
    master: Master, framework: Framework, agent: Agent, info: JSON, resources: Resources
) -> None:
    """Run a validated TaskInfo on `agent`, charging it `resources`."""
    task_id = id_value(info["task_id"]) or ""
    task = Task(task_id, framework.id, agent.id, info["name"], resources, info)
    framework.tasks[task_id] = task
    agent.used = add(agent.used, resources)
    if master.config.simulate_s is None:
        run = master.next_serial()
        task.sandbox = master.work_dir / agent.id / framework.id / f"{task_id}.{run}"
        master.sandboxes[task_id] = task.sandbox
    if "executor" in info:
        # The dev master runs command tasks only. A Mesos agent none of whose
        # containerizers can launch an executor fails its tasks with
        # REASON_CONTAINER_LAUNCH_FAILED (src/slave/slave.cpp, executorLaunched).
        master.report(
            task,
            "TASK_FAILED",
            "Failed to launch container: the dev master runs tasks with a CommandInfo"
            " only, not ExecutorInfo executors",
            "REASON_CONTAINER_LAUNCH_FAILED",
        )
        return
    assert master.runner is not None
    # A simulated run has no process, so no environment to build.
    env = _task_env(framework, agent, task) if master.config.simulate_s is None else {}
    master.runner.launch(task, env)


def _task_env(framework: Framework, agent: Agent, task: Task) -> dict[str, str]:
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


def forget_task(master: Master, framework: Framework, task: Task) -> None:
    """Drop the task from its framework; an unfinished one gives its resources back."""
    if task.retry_handle is not None:
        task.retry_handle.cancel()
        task.retry_handle = None
    framework.tasks.pop(task.task_id, None)
    framework.completed.append(task.task_id)
    if not task.terminal:
        agent = master.agents.get(task.agent_id)
        if agent is not None and agent.active:
            agent.used = subtract(agent.used, task.resources)
        master.offers.schedule()
