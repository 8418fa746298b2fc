"""The dev master's process runner: a kill that arrives while the task's process is
being spawned still ends with SIGKILL after the grace period, as a kill of a running
process does (a command that ignores SIGTERM must not outlive its kill)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from hippo.devmaster.model import Task
from hippo.devmaster.runner import ProcessRunner


def ignore_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def test_a_kill_during_the_spawn_still_escalates_to_sigkill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports: list[tuple[str, str | None]] = []
    done = asyncio.Event()

    def report(task: Task, state: str, message: str | None, reason: str | None) -> None:
        reports.append((state, message))
        if state in ("TASK_KILLED", "TASK_FINISHED", "TASK_FAILED"):
            done.set()

    runner = ProcessRunner(report)
    task = Task(
        task_id="stubborn.1",
        framework_id="F",
        agent_id="S1",
        name="stubborn",
        resources=[],  # type: ignore[arg-type]
        info={"command": {"shell": True, "value": "sleep 60"}},
        sandbox=tmp_path / "sandbox",
    )
    spawn = asyncio.create_subprocess_exec

    async def spawn_while_killed(*args: Any, **kwargs: Any) -> Any:
        runner.kill(task, grace_s=0.2)  # the kill lands while the process is spawned
        # Born ignoring SIGTERM (inherited through exec), so no shell `trap` can race it.
        return await spawn(*args, **kwargs, preexec_fn=ignore_sigterm)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spawn_while_killed)

    async def scenario() -> None:
        runner.launch(task, {"PATH": "/usr/bin:/bin"})
        await asyncio.wait_for(done.wait(), 30)  # a bound: SIGKILL comes after 0.2 s
        await runner.shutdown()

    asyncio.run(scenario())
    assert reports[-1] == ("TASK_KILLED", "Command terminated with signal Killed")
