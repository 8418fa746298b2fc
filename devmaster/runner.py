"""How the simulated agents run tasks: local processes, `docker run`, or virtually.

A runner reports each state change through `report(task, state, message, reason)`,
the way Mesos' command executor reports to its agent (src/launcher/executor.cpp):
TASK_STARTING, TASK_RUNNING, then TASK_FINISHED, TASK_FAILED or TASK_KILLED.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import signal
import subprocess
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .model import Task

log = logging.getLogger(__name__)

# Where a Docker task sees its sandbox (the Mesos agent's --docker_sandbox_directory
# default, src/slave/flags.cpp).
DOCKER_SANDBOX = "/mnt/mesos/sandbox"

Report = Callable[[Task, str, "str | None", "str | None"], None]


def docker_engine_answers(timeout_s: float = 5.0) -> bool:
    """True when a `docker` CLI is installed and its engine answers `docker info`."""
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "info"], capture_output=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _signal_name(number: int) -> str:
    try:
        return signal.strsignal(number) or f"signal {number}"
    except ValueError:
        return f"signal {number}"


class ProcessRunner:
    """Runs each task's command with `sh -c` (or `docker run`) in its sandbox folder."""

    def __init__(self, report: Report, use_docker: bool = False) -> None:
        self._report = report
        self._use_docker = use_docker
        self._processes: dict[int, asyncio.subprocess.Process] = {}  # by id(task)
        self._kill_grace_s: dict[int, float] = {}  # kills that came before the process
        self._jobs: set[asyncio.Task[None]] = set()

    def launch(self, task: Task, env: dict[str, str]) -> None:
        job = asyncio.create_task(self._run(task, env), name=f"task {task.task_id}")
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    def _argv(self, task: Task, env: dict[str, str]) -> list[str]:
        command = task.info["command"]
        value = command.get("value", "")
        shell = command.get("shell", True)
        container = task.info.get("container") or {}
        if container.get("type") != "DOCKER" or not self._use_docker:
            return ["/bin/sh", "-c", value] if shell else [value, *command.get("arguments", [])[1:]]
        return self._docker_argv(task, env, container)

    @staticmethod
    def _docker_argv(task: Task, env: dict[str, str], container: dict[str, Any]) -> list[str]:
        """`docker run` as Mesos' Docker containerizer builds it (src/docker/docker.cpp,
        `Docker::RunOptions::create` and `Docker::run`): a shell command overrides the
        image's entrypoint with `--entrypoint /bin/sh` and passes `-c <value>`; otherwise
        the value and arguments follow the image. The sandbox is mounted at
        /mnt/mesos/sandbox (the agent's --docker_sandbox_directory), which MESOS_SANDBOX
        names inside the container; relative container paths of volumes are under it."""
        command = task.info["command"]
        docker = container["docker"]
        run = ["docker", "run", "--rm", "--name", f"devmaster-{task.task_id}"]
        run += [
            "--network",
            {"HOST": "host", "BRIDGE": "bridge", "NONE": "none"}.get(
                docker.get("network", "HOST"), "bridge"
            ),
        ]
        for name, val in {**env, "MESOS_SANDBOX": DOCKER_SANDBOX}.items():
            run += ["-e", f"{name}={val}"]
        run += ["-v", f"{task.sandbox}:{DOCKER_SANDBOX}"]
        for volume in container.get("volumes") or []:
            if volume.get("host_path"):
                mode = "ro" if volume["mode"] == "RO" else "rw"
                path = volume["container_path"]
                if not path.startswith("/"):
                    path = f"{DOCKER_SANDBOX}/{path}"
                run += ["-v", f"{volume['host_path']}:{path}:{mode}"]
        if docker.get("force_pull_image"):
            run += ["--pull", "always"]
        if command.get("shell", True):
            return [
                *run,
                "--entrypoint",
                "/bin/sh",
                docker["image"],
                "-c",
                command.get("value", ""),
            ]
        arguments = [command["value"]] if command.get("value") else []
        return [*run, docker["image"], *arguments, *command.get("arguments", [])]

    async def _run(self, task: Task, env: dict[str, str]) -> None:
        assert task.sandbox is not None
        task.sandbox.mkdir(parents=True, exist_ok=True)
        self._report(task, "TASK_STARTING", None, None)
        if task.kill_requested:
            self._kill_grace_s.pop(id(task), None)
            self._report(task, "TASK_KILLED", "Task killed before it started", None)
            return
        container = task.info.get("container") or {}
        # The sandbox is on local disk: opening its files does not block the loop for long.
        with (
            open(task.sandbox / "stdout", "wb") as out,  # noqa: ASYNC230
            open(task.sandbox / "stderr", "wb") as err,  # noqa: ASYNC230
        ):
            if container.get("type") == "DOCKER" and not self._use_docker:
                err.write(b"devmaster: no Docker engine answers; running the command locally\n")
                err.flush()
            try:
                process = await asyncio.create_subprocess_exec(
                    *self._argv(task, env),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    cwd=task.sandbox,
                    env=env,
                    start_new_session=True,  # its own process group, killed as a whole
                )
            except OSError as e:
                self._kill_grace_s.pop(id(task), None)
                self._report(
                    task, "TASK_FAILED", f"Failed to launch: {e}", "REASON_CONTAINER_LAUNCH_FAILED"
                )
                return
            self._processes[id(task)] = process
            if task.kill_requested:  # killed (or its agent lost) while it was spawned
                self._terminate(process, self._kill_grace_s.pop(id(task), 0.0))
            self._report(task, "TASK_RUNNING", None, None)
            try:
                code = await process.wait()
            finally:
                self._processes.pop(id(task), None)
        if task.kill_requested:
            self._report(
                task,
                "TASK_KILLED",
                f"Command terminated with signal {_signal_name(-code)}"
                if code < 0
                else "Command exited after kill",
                None,
            )
        elif code == 0:
            self._report(task, "TASK_FINISHED", "Command exited with status 0", None)
        elif code < 0:
            self._report(
                task,
                "TASK_FAILED",
                f"Command terminated with signal {_signal_name(-code)}",
                "REASON_COMMAND_EXECUTOR_FAILED",
            )
        else:
            self._report(
                task,
                "TASK_FAILED",
                f"Command exited with status {code}",
                "REASON_COMMAND_EXECUTOR_FAILED",
            )

    def start_waiting(self, task: Task) -> None:
        """Nothing: a process starts as soon as it can (`_run` says when a kill came first)."""

    def kill(self, task: Task, grace_s: float) -> None:
        """SIGTERM the task's process group, then SIGKILL after the grace period."""
        task.kill_requested = True
        process = self._processes.get(id(task))
        if process is None:
            # Not started yet: _run reports TASK_KILLED instead of starting it, or, if the
            # process is being spawned right now, kills it with this grace once it exists.
            self._kill_grace_s[id(task)] = grace_s
            return
        self._terminate(process, grace_s)

    def _terminate(self, process: asyncio.subprocess.Process, grace_s: float) -> None:
        """SIGTERM now, SIGKILL after the grace period (a process ignoring TERM dies too)."""
        self._signal(process, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        loop.call_later(grace_s, self._signal, process, signal.SIGKILL)

    def abandon(self, task: Task) -> None:
        """The agent is gone: stop the process and report nothing more."""
        task.kill_requested = True
        process = self._processes.get(id(task))
        if process is not None:
            self._signal(process, signal.SIGKILL)

    @staticmethod
    def _signal(process: asyncio.subprocess.Process, sig: int) -> None:
        if process.returncode is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def shutdown(self) -> None:
        for process in list(self._processes.values()):
            self._signal(process, signal.SIGKILL)
        jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)


class SimulatedRunner:
    """Runs no process: each task reports STARTING and RUNNING, then FINISHED after
    `duration_s`. For benchmarks of the scheduler, not of `fork`.

    Launched tasks start `chunk` at a time, a chunk per turn of the loop, as agents
    start them while the master goes on: the first tasks of a 10,000-task ACCEPT are
    RUNNING, their updates on the wire, while the others start. (The ACCEPT itself is
    validated and its tasks launched as a whole before; only their runs interleave.)
    The tasks of a chunk share one timer, as they share their start time."""

    def __init__(
        self,
        report: Report,
        duration_s: float,
        chunk: int = 100,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._report = report
        self._duration_s = duration_s
        self._chunk = chunk
        self._loop = loop  # None: the running loop
        self._starting: OrderedDict[int, Task] = OrderedDict()  # by id(task), in order
        self._start_scheduled = False
        # Running tasks by id(task), with their start's number: a chunk's timer finishes
        # the tasks it started, not a later task that has the id of one killed meanwhile.
        self._running: dict[int, tuple[int, Task]] = {}
        self._starts = itertools.count()
        self._timers: dict[int, asyncio.TimerHandle] = {}  # by id of the chunk's list

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop or asyncio.get_running_loop()

    def launch(self, task: Task, env: dict[str, Any]) -> None:
        self._starting[id(task)] = task
        if not self._start_scheduled:
            self._start_scheduled = True
            self._get_loop().call_soon(self._start_chunk)

    def _start_chunk(self) -> None:
        self._start_scheduled = False
        started: list[tuple[int, int]] = []
        while self._starting and len(started) < self._chunk:
            _, task = self._starting.popitem(last=False)
            started.append(self._start(task))
        if started:
            loop = self._get_loop()
            self._timers[id(started)] = loop.call_later(self._duration_s, self._finish, started)
        if self._starting:
            self._start_scheduled = True
            self._get_loop().call_soon(self._start_chunk)

    def _start(self, task: Task) -> tuple[int, int]:
        start = next(self._starts)
        self._running[id(task)] = (start, task)
        self._report(task, "TASK_STARTING", None, None)
        self._report(task, "TASK_RUNNING", None, None)
        return id(task), start

    def _finish(self, started: list[tuple[int, int]]) -> None:
        self._timers.pop(id(started), None)
        for key, start in started:
            running = self._running.get(key)
            if running is not None and running[0] == start:
                del self._running[key]
                task = running[1]
                self._report(
                    task, "TASK_FINISHED", "Command exited with status 0 (simulated)", None
                )

    def start_waiting(self, task: Task) -> None:
        """Start the task now if its turn has not come: what is said of its kill
        (TASK_KILLING, TASK_KILLED) follows its start, as when tasks started at once."""
        if self._starting.pop(id(task), None) is not None:
            self._start(task)

    def kill(self, task: Task, grace_s: float) -> None:
        self.start_waiting(task)
        if self._running.pop(id(task), None) is not None:
            self._report(task, "TASK_KILLED", "Command terminated with signal Terminated", None)

    def abandon(self, task: Task) -> None:
        self._starting.pop(id(task), None)
        self._running.pop(id(task), None)

    async def shutdown(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._starting.clear()
        self._running.clear()
