"""Request bodies the tests share: SPEC.md's examples."""

from __future__ import annotations

import copy
from typing import Any

SPEC_QUEUE: dict[str, Any] = {
    "container": {
        "docker": {"image": "myrepo/myimage:mytag", "network": "BRIDGE"},
        "volumes": [
            {"hostPath": "/some/host/path", "containerPath": "/some/container/path", "mode": "RW"}
        ],
    },
    "mem": 32,
    "cpus": 0.1,
    "cmd": "mycommand --with --my --args",
    "env": {"MYVARNAME": "MYVARVALUE"},
    "constraints": [["rack", "EQUAL", "rack1"]],
    "task_retries": 0,
    "system_retries": 2,
    "queue": {
        "type": "sqs",
        "name": "myQueueName",
        "max_concurrent": 10,
        "batch_size": 1,
        "batch_separator": "|",
        "frequency_seconds": 60,
        "last_run_tstamp": 0,
        "status": "ENABLED",
        "sqs": {
            "awskey": "someKey",
            "awssecret": "someSecret",
            "awsregion": "someRegion",
            "queuename": "someSqsQueueName",
        },
    },
}

SPEC_TASK: dict[str, Any] = {
    "id": "myId",
    "container": copy.deepcopy(SPEC_QUEUE["container"]),
    "mem": 32,
    "cpus": 0.1,
    "cmd": "mycommand --with --my --args",
    "env": {"MYVARNAME": "MYVARVALUE"},
    "constraints": [["rack", "EQUAL", "rack1"]],
    "task_retries": 0,
    "system_retries": 2,
    "max_concurrent": 10,
}


def queue(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(SPEC_QUEUE)
    body.update(changes)
    return body


def task(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(SPEC_TASK)
    body.update(changes)
    return body
