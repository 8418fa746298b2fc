"""The simulated runner starts a large launch a chunk per turn of the loop, so the first
tasks' updates go out while the others start; a kill or an abandon of a task whose
turn has not come is what it was when every task started at once. The loop is a fake
whose callbacks the tests run one at a time: no sleeps, no timing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hippo.devmaster.config import MasterConfig
from hippo.devmaster.json_call import to_call
from hippo.devmaster.model import Task
from hippo.devmaster.runner import SimulatedRunner
from hippo.devmaster.server import DevMaster
from hippo.worker.mesos import FrameworkSettings
from hippo.worker.mesos.messages import (
    accept_call,
    kill_call,
    launch_operation,
    subscribe_call,
    task_info,
)


class _Loop:
    """call_soon and call_later kept in lists, run when the test says."""

    def __init__(self) -> None:
        self.soon: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self.later: list[tuple[float, Callable[..., None], tuple[Any, ...]]] = []

    def call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        self.soon.append((callback, args))

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> Any:
        self.later.append((delay, callback, args))
        return self

    def cancel(self) -> None:  # (the handle call_later returns)
        pass

    def turn(self) -> None:
        """Run the callbacks that were ready when the turn began."""
        ready, self.soon = self.soon, []
        for callback, args in ready:
            callback(*args)

    def fire(self, index: int) -> None:
        _, callback, args = self.later[index]
        callback(*args)


def _runner(chunk: int) -> tuple[SimulatedRunner, _Loop, list[tuple[str, str]], list[Task]]:
    loop = _Loop()
    reports: list[tuple[str, str]] = []

    def report(task: Task, state: str, message: str | None, reason: str | None) -> None:
        reports.append((task.task_id, state))

    runner = SimulatedRunner(report, 60.0, chunk=chunk, loop=loop)  # type: ignore[arg-type]
    tasks = [Task(f"t{n}", "f", "a", "t", {}, {}) for n in range(5)]
    return runner, loop, reports, tasks


def _started(reports: list[tuple[str, str]]) -> list[str]:
    return [task_id for task_id, state in reports if state == "TASK_RUNNING"]


def test_a_large_launch_starts_a_chunk_per_turn_of_the_loop() -> None:
    runner, loop, reports, tasks = _runner(chunk=2)
    for task in tasks:
        runner.launch(task, {})
    assert reports == []  # the launching call goes on first
    loop.turn()
    assert reports == [
        ("t0", "TASK_STARTING"),
        ("t0", "TASK_RUNNING"),
        ("t1", "TASK_STARTING"),
        ("t1", "TASK_RUNNING"),
    ]
    loop.turn()
    assert _started(reports) == ["t0", "t1", "t2", "t3"]
    loop.turn()
    assert _started(reports) == ["t0", "t1", "t2", "t3", "t4"] and loop.soon == []
    assert [delay for delay, _, _ in loop.later] == [60.0, 60.0, 60.0]  # a timer a chunk
    loop.fire(1)
    assert [r for r in reports if r[1] == "TASK_FINISHED"] == [
        ("t2", "TASK_FINISHED"),
        ("t3", "TASK_FINISHED"),
    ]


def test_a_kill_before_its_turn_starts_the_task_first_and_its_chunk_skips_it() -> None:
    runner, loop, reports, tasks = _runner(chunk=2)
    for task in tasks:
        runner.launch(task, {})
    loop.turn()
    runner.start_waiting(tasks[3])  # what a KILL does before it says TASK_KILLING
    runner.kill(tasks[3], 5.0)
    runner.kill(tasks[4], 5.0)
    assert reports[4:] == [
        ("t3", "TASK_STARTING"),
        ("t3", "TASK_RUNNING"),
        ("t3", "TASK_KILLED"),
        ("t4", "TASK_STARTING"),
        ("t4", "TASK_RUNNING"),
        ("t4", "TASK_KILLED"),
    ]
    loop.turn()
    assert _started(reports) == ["t0", "t1", "t3", "t4", "t2"]
    for index in range(len(loop.later)):
        loop.fire(index)
    finished = [task_id for task_id, state in reports if state == "TASK_FINISHED"]
    assert finished == ["t0", "t1", "t2"]  # the killed ones do not finish


def test_an_abandoned_task_says_nothing_started_or_not() -> None:
    runner, loop, reports, tasks = _runner(chunk=2)
    for task in tasks[:3]:
        runner.launch(task, {})
    loop.turn()
    runner.abandon(tasks[0])  # running
    runner.abandon(tasks[2])  # its turn had not come
    loop.turn()
    for index in range(len(loop.later)):
        loop.fire(index)
    assert [task_id for task_id, _ in reports] == ["t0", "t0", "t1", "t1", "t1"]


def test_a_kill_in_the_accepts_turn_is_said_after_the_tasks_start() -> None:
    """An ACCEPT and a KILL of one of its tasks handled in one turn of the master's loop
    (pipelined in one read): TASK_KILLING and TASK_KILLED follow the task's start."""
    settings = FrameworkSettings(name="sim", user="nobody")
    with DevMaster(MasterConfig(agents=1, simulate_s=60.0)) as dev:
        master = dev.master
        assert master is not None

        def accept_then_kill() -> None:
            stream = master.subscribe(to_call(subscribe_call(settings)))
            master.offers.allocate()
            framework = master.frameworks[stream.framework_id]
            (offer_id,) = framework.offers
            agent_id = master.offers.get(offer_id).agent_id  # type: ignore[union-attr]
            tasks = [
                task_info(task_id=f"k{n}", name="k", agent_id=agent_id, command="true",
                          cpus=0.01, mem_mb=1.0, allocation_role="*")
                for n in range(3)
            ]  # fmt: skip
            launch = [launch_operation(tasks)]
            master.handle_call(to_call(accept_call(framework.id, [offer_id], launch)), stream.id)
            master.handle_call(to_call(kill_call(framework.id, "k1")), stream.id)

        dev.call(accept_then_kill)
        (framework,) = dev.call(lambda: list(master.frameworks.values()))
        states = dev.call(lambda: [u["state"] for u in framework.tasks["k1"].pending])
    assert states == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_KILLED"]
