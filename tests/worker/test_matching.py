"""Offer matching, constraints and retry decisions: pure functions, no Redis."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hippo.shared.model import TaskDefinition
from hippo.worker import matching
from hippo.worker.candidates import parse_waiting
from hippo.worker.matching import (
    EPSILON,
    Candidate,
    MatchState,
    OfferView,
    Place,
    Rooms,
    Rule,
    assign,
    attribute_values,
    match_offers,
    rule_holds,
)
from hippo.worker.retries import retry_budget
from hippo.worker.taskinfo import build_task_info


def offer(n: int, cpus: float = 4, mem: float = 4096, **attributes: str) -> OfferView:
    return OfferView(f"O{n}", f"S{n}", f"host{n}", attributes, cpus, mem)


def task(
    n: int,
    cpus: float = 1,
    mem: float = 128,
    task_id: str | None = None,
    rules: tuple[list[str], ...] = (),
    cap: int | None = 10,
    queue: str | None = None,
    queue_cap: int | None = None,
) -> Candidate:
    return Candidate(
        f"t{n}",
        task_id or f"id{n}",
        queue,
        cpus,
        mem,
        tuple(Rule.parse(r) for r in rules),
        cap,
        queue_cap,
    )


RACK1 = Place("host1", {"rack": "r1", "size": "2"})


@pytest.mark.parametrize(
    "rule, place, placed, holds",
    [
        (["hostname", "CLUSTER", "host1"], RACK1, [], True),
        (["hostname", "CLUSTER", "host2"], RACK1, [], False),
        (["rack", "EQUAL", "r1"], RACK1, [], True),
        (["rack", "EQUAL", "r2"], RACK1, [], False),
        (["rack", "UNEQUAL", "r1"], RACK1, [], False),
        (["rack", "UNEQUAL", "r2"], RACK1, [], True),
        (["zone", "UNEQUAL", "a"], RACK1, [], True),  # no such attribute: not equal
        (["zone", "EQUAL", "a"], RACK1, [], False),
        (["size", "IS", "2"], RACK1, [], True),
        (["size", "IS", "2.0"], RACK1, [], True),  # scalars compare as numbers
        (["size", "IS", "3"], RACK1, [], False),
        (["rack", "LIKE", "r[0-9]"], RACK1, [], True),
        (["rack", "LIKE", "r"], RACK1, [], False),  # the whole value must match
        (["rack", "UNLIKE", "r[0-9]"], RACK1, [], False),
        (["zone", "UNLIKE", "a"], RACK1, [], True),
        (["hostname", "UNIQUE"], RACK1, [], True),
        (["hostname", "UNIQUE"], RACK1, [Place("host1")], False),
        (["hostname", "UNIQUE"], RACK1, [Place("host2")], True),
        (["@hostname", "UNIQUE"], RACK1, [Place("host1")], False),
        (["rack", "MAX_PER", "2"], RACK1, [Place("h", {"rack": "r1"})], True),
        (["rack", "MAX_PER", "2"], RACK1, [Place("h", {"rack": "r1"})] * 2, False),
        (["rack", "GROUP_BY"], RACK1, [Place("h", {"rack": "r1"})], False),  # r1 used, r2 known
        (["rack", "GROUP_BY"], RACK1, [Place("h", {"rack": "r2"})], True),
        (
            ["rack", "GROUP_BY", "3"],
            RACK1,
            [Place("h", {"rack": "r2"}), Place("h", {"rack": "r1"})],
            False,
        ),  # a third group first
    ],
)
def test_constraint_semantics(
    rule: list[str], place: Place, placed: list[Place], holds: bool
) -> None:
    assert rule_holds(Rule.parse(rule), place, placed, known_values=["r1", "r2"]) is holds


def test_attributes_are_compared_as_text() -> None:
    assert attribute_values(
        [
            {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
            {"name": "n", "type": "SCALAR", "scalar": {"value": 2.0}},
            {"name": "f", "type": "SCALAR", "scalar": {"value": 2.5}},
        ]
    ) == {"rack": "r1", "n": "2", "f": "2.5"}


def test_tasks_are_taken_in_order_and_skipped_when_too_big() -> None:
    pairs = match_offers(
        [task(1, cpus=3), task(2, cpus=3), task(3, cpus=1)], [offer(1, cpus=4)], MatchState()
    )
    assert [(t.mesos_id, o.id) for t, o in pairs] == [("t1", "O1"), ("t3", "O1")]


def test_memory_must_fit_too() -> None:
    assert match_offers([task(1, mem=5000)], [offer(1)], MatchState()) == []


def test_tasks_spread_to_the_offer_with_most_cpus_left() -> None:
    pairs = match_offers([task(n) for n in range(4)], [offer(1), offer(2)], MatchState())
    assert [o.id for _, o in pairs] == ["O1", "O2", "O1", "O2"]


def test_max_concurrent_per_task_id_counts_active_and_this_round() -> None:
    state = MatchState(active_by_id={"same": 1})
    pairs = match_offers(
        [task(n, task_id="same", cap=3) for n in range(5)], [offer(1, cpus=100)], state
    )
    assert len(pairs) == 2


def test_queue_max_concurrent_holds() -> None:
    state = MatchState(active_by_queue={"q": 9})
    pairs = match_offers(
        [task(n, queue="q", queue_cap=10, cap=None) for n in range(5)], [offer(1, cpus=100)], state
    )
    assert len(pairs) == 1


def test_unique_hostname_within_one_round() -> None:
    tasks = [task(n, task_id="u", rules=(["hostname", "UNIQUE"],)) for n in range(3)]
    pairs = match_offers(tasks, [offer(1), offer(2)], MatchState())
    assert sorted(o.hostname for _, o in pairs) == ["host1", "host2"]


def test_cluster_constraint_picks_the_right_host() -> None:
    pairs = match_offers(
        [task(1, rules=(["rack", "EQUAL", "b"],))],
        [offer(1, rack="a"), offer(2, rack="b")],
        MatchState(),
    )
    assert [o.id for _, o in pairs] == ["O2"]


def test_group_by_balances_over_racks() -> None:
    tasks = [task(n, task_id="g", rules=(["rack", "GROUP_BY"],), cap=None) for n in range(4)]
    pairs = match_offers(
        tasks,
        [offer(1, cpus=100, rack="a"), offer(2, cpus=1, rack="b"), offer(3, cpus=100, rack="b")],
        MatchState(),
    )
    racks = [o.attributes["rack"] for _, o in pairs]
    assert racks.count("a") == 2 and racks.count("b") == 2


@pytest.mark.parametrize(
    "state, reason, budget",
    [
        ("TASK_FINISHED", None, None),
        ("TASK_KILLED", None, None),
        ("TASK_FAILED", None, "task"),
        ("TASK_FAILED", "REASON_COMMAND_EXECUTOR_FAILED", "task"),
        ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", "system"),
        ("TASK_LOST", "REASON_RECONCILIATION", "system"),
        ("TASK_DROPPED", None, "system"),
        ("TASK_ERROR", "REASON_TASK_INVALID", None),
        ("TASK_GONE", None, "system"),
        ("TASK_GONE_BY_OPERATOR", None, "system"),
        ("TASK_RUNNING", None, None),
        ("TASK_UNREACHABLE", None, None),  # not terminal: it may come back
    ],
)
def test_retry_budget(state: str, reason: str | None, budget: str | None) -> None:
    assert retry_budget(state, reason) == budget


SPEC = {
    "container": {
        "docker": {"image": "alpine", "network": "USER", "networkName": "blue"},
        "volumes": [{"containerPath": "/data", "hostPath": "/srv", "mode": "RO"}],
    },
    "cpus": 0.5,
    "mem": 64,
    "cmd": "echo $HIPPO_DATA",
    "env": {"A": "1"},
}


def test_task_info_has_docker_resources_command_and_env() -> None:
    info = build_task_info(
        mesos_id="x.1",
        task_id="x",
        definition=TaskDefinition.model_validate(SPEC),
        agent_id="S1",
        role="*",
        data="hi",
    )
    assert info["task_id"] == {"value": "x.1"} and info["agent_id"] == {"value": "S1"}
    assert info["container"]["docker"]["network"] == "USER"
    assert info["container"]["network_infos"] == [{"name": "blue"}]
    assert info["container"]["volumes"] == [
        {"container_path": "/data", "mode": "RO", "host_path": "/srv"}
    ]
    assert {r["name"]: r["scalar"]["value"] for r in info["resources"]} == {"cpus": 0.5, "mem": 64}
    assert info["command"]["shell"] is True and info["command"]["value"] == "echo $HIPPO_DATA"
    env = {v["name"]: v["value"] for v in info["command"]["environment"]["variables"]}
    assert env == {
        "HIPPO_TASK_NAME": "x",
        "HIPPO_DATA": "hi",
        "HIPPO_DATA_BASE64": base64.b64encode(b"hi").decode(),
        "A": "1",
    }


def test_task_env_data_is_empty_without_data_and_env_wins() -> None:
    info = build_task_info(
        mesos_id="x.1",
        task_id="x",
        definition=TaskDefinition.model_validate({**SPEC, "env": {"HIPPO_DATA": "from-queue"}}),
        agent_id="S1",
        role=None,
    )
    env = {v["name"]: v["value"] for v in info["command"]["environment"]["variables"]}
    assert env["HIPPO_DATA"] == "from-queue" and env["HIPPO_DATA_BASE64"] == ""


@pytest.mark.parametrize(
    "spec_extra, queue_id, cap",
    [
        ({}, None, 10),
        ({"max_concurrent": 3}, None, 3),
        ({}, "q", None),
        ({"max_concurrent": 2}, "q", 2),
    ],
)
def test_waiting_task_caps(
    spec_extra: dict[str, int], queue_id: str | None, cap: int | None
) -> None:
    import json

    w = parse_waiting(
        "x.1", json.dumps({**SPEC, **spec_extra}), json.dumps({"id": "x", "queue_id": queue_id})
    )
    assert w.candidate.max_concurrent == cap and w.candidate.queue_id == queue_id


def test_rooms_carry_what_earlier_batches_took_to_the_next() -> None:
    rooms = Rooms([offer(1, cpus=2, mem=256), offer(2, cpus=1, mem=4096)])
    first = assign([task(1), task(2)], rooms, MatchState())
    assert [o.id for _, o in first] == ["O1", "O1"]  # O1 had the most cpus both times
    assert rooms.left("O1") == (0.0, 0.0) and [o.id for o in rooms.offers] == ["O2"]
    second = assign([task(3, mem=512), task(4)], rooms, MatchState())
    assert [(t.mesos_id, o.id) for t, o in second] == [("t3", "O2")]
    assert not rooms


def scan_for(rooms: list[list[float]], cpus: float, mem: float) -> int | None:
    """The rule in plain words: of the offers both cpus and mem fit on (within Mesos'
    EPSILON), the one with the most cpus left; of those with as many, the first."""
    fitting = [n for n, (c, m) in enumerate(rooms) if c + EPSILON >= cpus and m + EPSILON >= mem]
    return max(fitting, key=lambda n: (rooms[n][0], -n)) if fitting else None


amounts = st.sampled_from([0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 4.0])


@pytest.mark.parametrize("mem_short_rooms", [0, 2, matching.MEM_SHORT_ROOMS])
@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    offers=st.lists(st.tuples(amounts, amounts), min_size=1, max_size=12),
    tasks=st.lists(st.tuples(amounts, amounts), max_size=40),
)
def test_tasks_without_constraints_go_where_a_scan_of_every_offer_would_put_them(
    mem_short_rooms: int, offers: list[tuple[float, float]], tasks: list[tuple[float, float]]
) -> None:
    """Rooms finds such a task its offer from a heap by cpus left, and by looking at
    every offer past `mem_short_rooms` offers lacking its mem: the same choice, task
    after task, as looking at every offer (ties, offers lacking mem, used-up ones)."""
    kept = matching.MEM_SHORT_ROOMS
    matching.MEM_SHORT_ROOMS = mem_short_rooms
    try:
        assert_as_a_scan(offers, tasks)
    finally:
        matching.MEM_SHORT_ROOMS = kept


def assert_as_a_scan(offers: list[tuple[float, float]], tasks: list[tuple[float, float]]) -> None:
    left = [[cpus * 4, mem * 4] for cpus, mem in offers]
    views = [offer(n, cpus=c, mem=m) for n, (c, m) in enumerate(left)]
    candidates = [task(n, cpus=c, mem=m, cap=None) for n, (c, m) in enumerate(tasks)]
    expected = []
    for t in candidates:
        chosen = scan_for(left, t.cpus, t.mem)
        if chosen is not None:
            expected.append((t.mesos_id, f"O{chosen}"))
            left[chosen][0] -= t.cpus
            left[chosen][1] -= t.mem
            if left[chosen][0] < EPSILON or left[chosen][1] < EPSILON:
                left[chosen] = [-1.0, -1.0]  # used up: dropped
    pairs = match_offers(candidates, views, MatchState())
    assert [(t.mesos_id, o.id) for t, o in pairs] == expected
