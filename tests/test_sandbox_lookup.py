"""Finding a task's sandbox on a real Mesos cluster, from the JSON its master and agent
answer (shapes of master/http.cpp's and slave/http.cpp's `/state`), and cutting a
piece of output at a whole UTF-8 character. Pure: no Mesos here."""

from __future__ import annotations

import pytest

from hippo.api.logs import complete_utf8
from hippo.api.sandbox import TaskPlace, agent_url, executor_directory, find_task, is_dev_master

MASTER_STATE = {
    "frameworks": [
        {
            "id": "fw-1",
            "tasks": [
                {"id": "a.1", "framework_id": "fw-1", "executor_id": "", "slave_id": "S1"},
            ],
            "completed_tasks": [
                {"id": "b.1", "framework_id": "fw-1", "executor_id": "ex-b", "slave_id": "S2"},
            ],
        }
    ],
    "completed_frameworks": [],
    "slaves": [
        {"id": "S1", "pid": "slave(1)@10.0.0.5:5051", "hostname": "a1"},
        {"id": "S2", "pid": "slave(1)@10.0.0.6:5052", "hostname": "a2"},
    ],
}
AGENT_STATE = {
    "frameworks": [
        {
            "id": "fw-1",
            "executors": [{"id": "a.1", "directory": "/var/lib/mesos/slaves/S1/x/runs/r1"}],
            "completed_executors": [{"id": "old", "directory": "/var/lib/mesos/old"}],
        }
    ],
    "completed_frameworks": [],
}


def test_the_master_s_state_gives_the_task_s_agent_and_executor() -> None:
    # The command executor has no executor_id in the task: its id is the task's.
    assert find_task(MASTER_STATE, "a.1") == TaskPlace("fw-1", "a.1", "S1")
    assert find_task(MASTER_STATE, "b.1") == TaskPlace("fw-1", "ex-b", "S2")
    assert find_task(MASTER_STATE, "gone.1") is None
    assert not is_dev_master(MASTER_STATE)


def test_an_agent_s_url_comes_from_its_pid() -> None:
    assert agent_url(MASTER_STATE, "S2") == "http://10.0.0.6:5052"
    assert agent_url(MASTER_STATE, "S2", scheme="https") == "https://10.0.0.6:5052"
    assert agent_url(MASTER_STATE, "S9") is None


def test_the_agent_s_state_gives_the_sandbox_directory() -> None:
    assert executor_directory(AGENT_STATE, "fw-1", "a.1") == "/var/lib/mesos/slaves/S1/x/runs/r1"
    assert executor_directory(AGENT_STATE, "fw-1", "old") == "/var/lib/mesos/old"
    assert executor_directory(AGENT_STATE, "fw-2", "a.1") is None


@pytest.mark.parametrize(
    ("data", "kept"),
    [
        (b"abc", b"abc"),
        ("wö".encode(), "wö".encode()),
        ("wö".encode()[:-1], b"w"),  # ö cut after its first byte
        ("w€".encode()[:-1], b"w"),  # € cut after two of its three bytes
        ("😀".encode(), "😀".encode()),
        (b"", b""),
    ],
)
def test_a_piece_of_output_never_ends_inside_a_character(data: bytes, kept: bytes) -> None:
    assert complete_utf8(data) == kept
