"""TaskInfos built from parts prepared once per definition are exactly those built
straight from the definition (messages.task_info with task_env and container_info), for
every shape a definition can take, run after run; and runs decoded from one stored
definition share it, so it is prepared once. No Redis."""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest

from hippo.shared.model import TaskDefinition
from hippo.shared.tunables import SHARED_DEFINITION_MAX_CHARS
from hippo.worker import taskinfo
from hippo.worker.candidates import DecodedDefinitions, UnusableDefinition, parse_waiting
from hippo.worker.mesos import messages
from hippo.worker.taskinfo import build_task_info, straight_task_info

JSON = dict[str, Any]

TEXTS = ["", "x", "hello world", "ünïcødé ☃", 'quote " back\\slash', "$HIPPO_DATA", "a\nb\tc", "😀"]
HEADS = ["HIPPO_TASK_NAME", "HIPPO_DATA", "HIPPO_DATA_BASE64"]


def random_spec(rng: random.Random) -> JSON:
    network = rng.choice(["BRIDGE", "HOST", "NONE", "USER", None])
    docker: JSON = {"image": rng.choice(["alpine", "repo/img:tag", "ü/x"])}
    if network is not None:
        docker["network"] = network
    if network == "USER":
        docker["networkName"] = rng.choice(["blue", "net-2"])
    if rng.random() < 0.5:
        docker["forcePullImage"] = rng.random() < 0.5
    container: JSON = {"docker": docker}
    if rng.random() < 0.6:
        container["volumes"] = [
            {
                "containerPath": f"/c{n}",
                "hostPath": rng.choice(["/srv", "/h/ü", "/data"]),
                "mode": rng.choice(["RO", "RW"]),
            }
            for n in range(rng.randrange(4))
        ]
    if rng.random() < 0.3:
        container["type"] = "DOCKER"
    names = [*HEADS, "A", "B_2", "PATH", "ü", "SECRET_TOKEN"]
    env = {
        name: rng.choice([*TEXTS[1:], 7, 2.5, True])
        for name in rng.sample(names, rng.randrange(len(names) + 1))
    }
    spec: JSON = {
        "container": container,
        "cpus": rng.choice([0.01, 0.1234567, 1, 2.5, 1e-4 + 0.1]),
        "mem": rng.choice([1, 32, 64.5, 1024.0001, 0.3333333]),
        "cmd": rng.choice(
            ["true", 'echo "$HIPPO_DATA"', "echo $HIPPO_DATA_BASE64 | base64 -d", "ü ☃"]
        ),
    }
    if env or rng.random() < 0.3:
        spec["env"] = env
    if rng.random() < 0.3:
        spec["constraints"] = [["hostname", "UNIQUE"], ["rack", "LIKE", "r[0-9]"]]
    if rng.random() < 0.3:
        spec["callback_url"] = "https://example.com/cb"
        spec["callback_secret"] = "s3cret"
    for key, value in (("max_concurrent", 3), ("task_retries", 2), ("max_runtime_seconds", 60)):
        if rng.random() < 0.3:
            spec[key] = value
    return spec


def random_resources(rng: random.Random, role: str | None) -> list[JSON] | None:
    if rng.random() < 0.4:
        return None
    found: list[JSON] = [messages.scalar_resource("cpus", 0.5, role)]
    if rng.random() < 0.5:
        found.append({"name": "mem", "type": "SCALAR", "scalar": {"value": 64}, "role": "r1"})
    return found


@pytest.mark.parametrize("limit", [taskinfo.PREPARED_LIMIT, 1, 3])
def test_prepared_task_infos_are_exactly_the_straight_ones(
    limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small limit drops prepared parts often: a definition made after that may get
    # the id of one dropped, and must not get its parts.
    monkeypatch.setattr(taskinfo, "PREPARED_LIMIT", limit)
    rng = random.Random(limit)
    for n in range(400):
        spec = random_spec(rng)
        definition = TaskDefinition.model_validate(spec)
        for run in range(rng.randrange(1, 5)):
            role = rng.choice([None, "*", "r1"])
            kwargs: JSON = {
                "mesos_id": f"t{n}.{run}",
                "task_id": rng.choice([f"t{n}", "ü-task", "same"]),
                "definition": definition,
                "agent_id": f"S{run}",
                "role": role,
                "data": rng.choice(TEXTS),
                "resources": random_resources(rng, role),
            }
            fast = build_task_info(**kwargs)
            assert orjson.dumps(fast) == orjson.dumps(straight_task_info(**kwargs)), spec
            assert fast == straight_task_info(**kwargs)
        if rng.random() < 0.5:
            # One stored definition decoded again: a new object, with its own parts.
            again = TaskDefinition.model_validate_json(json.dumps(spec))
            kwargs["definition"] = again
            assert build_task_info(**kwargs) == straight_task_info(**kwargs)


def test_a_runs_fields_never_leak_into_the_next_run_of_its_definition() -> None:
    definition = TaskDefinition.model_validate(
        {"container": {"docker": {"image": "alpine"}}, "cpus": 1, "mem": 32, "cmd": "true"}
    )
    first = build_task_info(
        mesos_id="a.1", task_id="a", definition=definition, agent_id="S1", role="r1", data="x"
    )
    second = build_task_info(
        mesos_id="b.1", task_id="b", definition=definition, agent_id="S2", role=None
    )
    env = {v["name"]: v["value"] for v in second["command"]["environment"]["variables"]}
    assert env == {"HIPPO_TASK_NAME": "b", "HIPPO_DATA": "", "HIPPO_DATA_BASE64": ""}
    assert second["task_id"] == {"value": "b.1"} and second["agent_id"] == {"value": "S2"}
    assert all("allocation_info" not in r for r in second["resources"])
    assert first["resources"][0]["allocation_info"] == {"role": "r1"}


SPEC = {"container": {"docker": {"image": "alpine"}}, "cpus": 0.5, "mem": 64, "cmd": "true"}


def test_runs_of_one_stored_definition_share_it_once_decoded() -> None:
    decoded = DecodedDefinitions(limit=10)
    spec = json.dumps(SPEC).encode()
    other = json.dumps({**SPEC, "cmd": "false"}).encode()
    a = parse_waiting("a.1", spec, json.dumps({"id": "a"}), decoded)
    b = parse_waiting("b.1", spec, json.dumps({"id": "b", "queue_id": "q"}), decoded)
    c = parse_waiting("c.1", other, json.dumps({"id": "c"}), decoded)
    assert a.definition is b.definition and a.candidate.rules is b.candidate.rules
    assert c.definition is not a.definition and c.definition.cmd == "false"
    # Each run keeps its own fields: its ids, and its cap (a queue's run: none of its own).
    assert (a.candidate.task_id, b.candidate.task_id) == ("a", "b")
    assert (a.candidate.max_concurrent, b.candidate.max_concurrent) == (10, None)
    assert a == parse_waiting("a.1", spec, json.dumps({"id": "a"}))


def test_decoded_definitions_are_dropped_past_their_limit_and_failures_not_kept() -> None:
    decoded = DecodedDefinitions(limit=2)
    specs = [json.dumps({**SPEC, "cmd": f"c{n}"}) for n in range(3)]
    first = decoded.decode(specs[0]).definition
    decoded.decode(specs[1])
    decoded.decode(specs[2])  # past the limit: the first two were dropped
    assert len(decoded) == 1
    assert decoded.decode(specs[0]).definition is not first
    for _ in range(2):
        with pytest.raises(UnusableDefinition, match="cpus"):
            decoded.decode(json.dumps({**SPEC, "cpus": -1}))
    assert len(decoded) == 2


def test_item_sized_definitions_are_not_kept_after_their_run() -> None:
    """A queue's item lives in its run's definition: one longer than
    SHARED_DEFINITION_MAX_CHARS is neither kept decoded nor remembered for preparing,
    so the leader does not hold every launched item's data (a run still gets the same
    TaskInfo)."""
    big = "x" * (SHARED_DEFINITION_MAX_CHARS + 1)
    spec = {"container": {"docker": {"image": "a"}}, "cpus": 0.1, "mem": 16, "cmd": "true"}
    raw = json.dumps(spec | {"env": {"HIPPO_DATA": big}})
    small_raw = json.dumps(spec | {"env": {"HIPPO_DATA": "small"}})
    definitions = DecodedDefinitions(10)
    taskinfo._seen.clear()
    taskinfo._prepared.clear()
    for n in range(3):
        run = parse_waiting(f"q.{n}", raw, json.dumps({"id": "q"}), definitions)
        kwargs: JSON = dict(
            mesos_id=f"q.{n}",
            task_id="q",
            definition=run.definition,
            agent_id="S1",
            role=None,
            data="",
            resources=None,
        )
        assert build_task_info(**kwargs) == straight_task_info(**kwargs)
    assert len(definitions) == 0
    assert not taskinfo._seen and not taskinfo._prepared
    parse_waiting("s.1", small_raw, json.dumps({"id": "s"}), definitions)
    assert len(definitions) == 1  # a small one is kept: the cache still works
