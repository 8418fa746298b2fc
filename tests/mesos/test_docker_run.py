"""The `docker run` the dev master builds for a DOCKER task is the one Mesos' Docker
containerizer builds (src/docker/docker.cpp): a shell command replaces the image's
entrypoint with /bin/sh and passes `-c <command>`, the sandbox is mounted at
/mnt/mesos/sandbox and MESOS_SANDBOX says so inside the container."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hippo.devmaster.model import Task
from hippo.devmaster.runner import ProcessRunner


def _task(command: dict[str, Any], volumes: list[dict[str, Any]] | None = None) -> Task:
    info = {
        "command": command,
        "container": {
            "type": "DOCKER",
            "docker": {"image": "alpine:3", "network": "BRIDGE"},
            "volumes": volumes or [],
        },
    }
    task = Task("t.1", "F1", "S1", "t", {"cpus": 0.1}, info)
    task.sandbox = Path("/work/sandboxes/t.1.7")
    return task


def _docker_argv(task: Task) -> list[str]:
    env = {"MESOS_SANDBOX": str(task.sandbox), "HIPPO_DATA": "x"}
    return ProcessRunner._docker_argv(task, env, task.info["container"])


def test_a_shell_command_runs_with_entrypoint_bin_sh_and_the_sandbox_mounted() -> None:
    argv = _docker_argv(_task({"value": "echo $HIPPO_DATA", "shell": True}))
    assert argv[-5:] == ["--entrypoint", "/bin/sh", "alpine:3", "-c", "echo $HIPPO_DATA"]
    assert "/work/sandboxes/t.1.7:/mnt/mesos/sandbox" in argv
    env = [argv[i + 1] for i, a in enumerate(argv) if a == "-e"]
    assert "MESOS_SANDBOX=/mnt/mesos/sandbox" in env and "HIPPO_DATA=x" in env
    assert "MESOS_SANDBOX=/work/sandboxes/t.1.7" not in env


def test_a_command_without_shell_keeps_the_images_entrypoint() -> None:
    argv = _docker_argv(_task({"value": "run", "shell": False, "arguments": ["--fast"]}))
    assert "--entrypoint" not in argv
    assert argv[-3:] == ["alpine:3", "run", "--fast"]


def test_a_relative_container_path_is_under_the_mounted_sandbox() -> None:
    volume = {"container_path": "data", "host_path": "/srv/data", "mode": "RO"}
    argv = _docker_argv(_task({"value": "true"}, [volume]))
    assert "/srv/data:/mnt/mesos/sandbox/data:ro" in argv
