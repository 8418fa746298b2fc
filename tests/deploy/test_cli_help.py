"""The `hippo` command as a newcomer meets it: flags before the command, a group alone
listing its actions, every command with a description, queue types in full, and the
development key warned about by each command that uses it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from hippo.cli import build_parser
from tests.conftest import wait_until

from .conftest import Hippo


def test_url_token_and_json_may_come_before_the_command(hippo: Hippo, hippo_url: str) -> None:
    listed = hippo("--url", hippo_url, "--json", "tasks", "list", HIPPO_URL="http://127.0.0.1:1")
    assert (listed.code, listed.json()) == (0, [])
    table = hippo("--url", hippo_url, "queues", "list", HIPPO_URL="http://127.0.0.1:1")
    assert table.lines() == ["ID  NAME  TYPE  STATUS  LAST RUN (UTC)  LAST ERROR"]
    # Given in two places, the one nearer the action wins.
    nearer = hippo("--url", "http://127.0.0.1:1", "tasks", "--url", hippo_url, "list", "--json")
    assert nearer.json() == []


@pytest.mark.parametrize(
    ("argv", "actions"),
    [
        (["tasks"], ["list", "show", "history", "run", "logs", "kill", "delete"]),
        (["queues"], ["list", "show", "create", "update", "toggle", "delete"]),
        ([], ["api", "worker", "dev", "tasks", "queues", "status", "queuetypes"]),
    ],
)
def test_a_command_without_its_action_lists_the_actions(
    hippo: Hippo, argv: list[str], actions: list[str]
) -> None:
    found = hippo(*argv)
    assert found.code == 2 and found.out == ""
    listed = [line.split()[0] for line in found.err.splitlines() if line.startswith("    ")]
    assert set(actions) <= set(listed)


def _commands(parser: argparse.ArgumentParser, prefix: str = "hippo") -> list[tuple[str, str]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((f"{prefix} {name}", sub.description or ""))
                found += _commands(sub, f"{prefix} {name}")
    return found


def test_every_command_and_action_says_what_it_does() -> None:
    commands = _commands(build_parser())
    assert len(commands) > 20
    missing = [name for name, description in commands if len(description) < 10]
    assert missing == []


def test_queuetypes_shows_each_parameter_s_type_default_and_label(hippo: Hippo) -> None:
    text = hippo("queuetypes").out
    block = text.split("\n\n")
    redis = next(b for b in block if b.startswith("redis: "))
    lines = redis.splitlines()
    assert lines[1].split() == ["PARAMETER", "TYPE", "DEFAULT", "REQUIRED", "SECRET", "LABEL"]
    rows = {line.split()[0]: line.split(None, 5) for line in lines[2:]}
    assert rows["port"][1:5] == ["int", "6379", "no", "no"]
    assert rows["host"][1:5] == ["str", "-", "yes", "no"]
    assert rows["password"][4] == "yes"  # secret
    assert rows["name"][5] == "Name of the list"


def test_rotate_secrets_warns_about_the_development_key(redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPO_")}
    done = subprocess.run(
        [sys.executable, "-m", "hippo", "rotate-secrets"],
        env={**env, "HIPPO_REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "HIPPO_SECRET_KEYS is not set" in done.stderr
    keyed = subprocess.run(
        [sys.executable, "-m", "hippo", "rotate-secrets"],
        env={
            **env,
            "HIPPO_REDIS_URL": redis_url,
            "HIPPO_SECRET_KEYS": "x7nUkFmC5y-JX2PXkfPbUb0Wv2o8TwP5mQ4rRw9LQ0k=",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert keyed.returncode == 0 and "HIPPO_SECRET_KEYS is not set" not in keyed.stderr


def test_a_worker_warns_about_the_development_key(redis_url: str, tmp_path: object) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPO_")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "hippo", "worker", "--metrics-port", "0"],
        env={**env, "HIPPO_REDIS_URL": redis_url, "HIPPO_MESOS_MASTER": "http://127.0.0.1:1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        assert worker.stdout is not None

        def warned() -> bool:
            line = worker.stdout.readline()  # type: ignore[union-attr]
            seen.append(line)
            return "HIPPO_SECRET_KEYS is not set" in line

        wait_until(warned, 30, "the worker's warning")
    finally:
        worker.terminate()
        worker.communicate(timeout=30)
