"""Item data is data: an item reaches the task as the environment variables HIPPO_DATA
and HIPPO_DATA_BASE64, and `$HIPPO_DATA` in `cmd` is left for the task's shell to
expand from them. No shell ever parses the data, so no item runs as code.

The task runs as Mesos runs a shell command (CommandInfo.shell: `/bin/sh -c <cmd>`, in
the container, with the task's environment): here through a real /bin/sh, and end to
end through a queue, a worker and the dev master in tests/worker/test_item_data.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hippo.worker.polling_tasks import TaskTemplate

MARKER = "pwned"
# One item per family of shell metacharacters; each would create MARKER if it ran.
HOSTILE = {
    "command substitution": f"a$(touch {MARKER})b",
    "backticks": f"a`touch {MARKER}`b",
    "semicolon": f"a; touch {MARKER}; b",
    "pipe": f"a | touch {MARKER}",
    "ampersand": f"a & touch {MARKER} & b",
    "and-or": f"a && touch {MARKER} || b",
    "newline": f"a\ntouch {MARKER}\nb",
    "double quote": f'a" ; touch {MARKER}; echo "b',
    "single quote": f"a' ; touch {MARKER}; echo 'b",
    "redirection": f"a > {MARKER}",
    "variable": "a $HOME ${HOME} b",
    "glob": "* ? [ab] ~",
    "backslash": "a\\nb\\\\c",
    "placeholder": "$HIPPO_DATA_BASE64 ${HIPPO_DATA}",
}
QUEUE = {
    "container": {"docker": {"image": "busybox"}},
    "mem": 32,
    "cpus": 0.1,
    "queue": {"type": "redis", "max_concurrent": 10},
}


def run_like_mesos(spec: dict[str, Any], sandbox: Path) -> subprocess.CompletedProcess[str]:
    """The task's command as Mesos runs a shell command: `/bin/sh -c` with its env."""
    return subprocess.run(
        ["/bin/sh", "-c", spec["cmd"]],
        cwd=sandbox,
        env={"PATH": os.environ["PATH"], "HOME": str(sandbox), **spec["env"]},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


@pytest.mark.parametrize("family", sorted(HOSTILE))
@pytest.mark.parametrize(
    "cmd",
    [
        "printf '%s' \"$HIPPO_DATA\" > out",
        "printf '%s' \"${HIPPO_DATA}\" > out",
        "printf '%s' \"$HIPPO_DATA_BASE64\" | base64 -d > out",
    ],
)
def test_a_quoted_hippo_data_is_the_item_exactly_and_never_runs(
    tmp_path: Path, family: str, cmd: str
) -> None:
    data = HOSTILE[family]
    (tmp_path / "a").touch()  # something for a glob to match, were the data globbed
    spec = TaskTemplate("q", {**QUEUE, "cmd": cmd}).spec(data)
    done = run_like_mesos(spec, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out").read_bytes() == data.encode()
    assert not (tmp_path / MARKER).exists()


def test_env_values_get_the_data_as_text(tmp_path: Path) -> None:
    data = HOSTILE["command substitution"]
    queue = {**QUEUE, "cmd": "printf '%s' \"$ITEM\" > out", "env": {"ITEM": "<$HIPPO_DATA>"}}
    done = run_like_mesos(TaskTemplate("q", queue).spec(data), tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out").read_text() == f"<{data}>"
    assert not (tmp_path / MARKER).exists()
