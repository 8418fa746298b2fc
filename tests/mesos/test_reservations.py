"""Reserved resources: the dev master reads Mesos' `--resources` syntax, offers what is
reserved for a role only to that role (pre-refinement format), and launches a task only
on resources it was offered with the same reservation; the client's `carve` takes a
task's resources out of an offer exactly as offered."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hippo.devmaster.config import agent_resources, parse_resources
from hippo.devmaster.model import allocatable_to, total_of
from hippo.devmaster.server import DevMaster
from hippo.worker.mesos import FrameworkSettings
from hippo.worker.mesos.messages import offer_role, task_info
from hippo.worker.mesos.resources import Carver, NotEnoughResources, carve

from .conftest import Connect

pytestmark = pytest.mark.anyio

HIPPO = FrameworkSettings(name="test", user="nobody", roles=["hippo"])


def scalar(name: str, value: float, role: str = "*", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}, "role": role, **extra}


# --- pure: the agent syntax and what a role may be offered -------------------


def test_agent_resources_read_mesos_syntax_with_roles() -> None:
    assert parse_resources("cpus(hippo):2;mem(hippo):2048; cpus:1 ;cpus(*):0.5") == {
        "cpus(hippo)": 2.0,
        "mem(hippo)": 2048.0,
        "cpus": 1.5,
    }


@pytest.mark.parametrize("spec", ["cpus", "cpus(hippo):x", "ports:[31000-32000]", "cpus:-1"])
def test_agent_resources_refuse_what_the_dev_master_cannot_offer(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_resources(spec)


def test_agent_gets_defaults_only_for_cpus_mem_disk_not_named() -> None:
    defaults = {"cpus": 4.0, "mem": 8192.0, "disk": 10240.0}
    assert agent_resources("cpus(hippo):2;mem(hippo):2048", defaults) == {
        "cpus(hippo)": 2.0,
        "mem(hippo)": 2048.0,
        "disk": 10240.0,
    }
    assert agent_resources("", defaults) == defaults


def test_a_role_is_offered_unreserved_and_its_own_reservations_only() -> None:
    free = {"cpus(hippo)": 2.0, "cpus(other)": 1.0, "cpus": 0.5, "mem": 64.0}
    assert allocatable_to(free, "hippo") == {"cpus(hippo)": 2.0, "cpus": 0.5, "mem": 64.0}
    assert allocatable_to(free, "*") == {"cpus": 0.5, "mem": 64.0}
    assert total_of(free, "cpus") == 3.5


# --- pure: carving a task's resources out of an offer ------------------------

ALLOCATED = {"allocation_info": {"role": "hippo"}}


def test_carve_takes_reserved_pieces_as_offered() -> None:
    offered = [scalar("cpus", 2, "hippo", **ALLOCATED), scalar("mem", 2048, "hippo", **ALLOCATED)]
    taken, rest = carve(offered, {"cpus": 0.5, "mem": 512}, "hippo")
    assert taken == [
        scalar("cpus", 0.5, "hippo", **ALLOCATED),
        scalar("mem", 512, "hippo", **ALLOCATED),
    ]
    assert rest == [
        scalar("cpus", 1.5, "hippo", **ALLOCATED),
        scalar("mem", 1536, "hippo", **ALLOCATED),
    ]


def test_carve_uses_reserved_first_then_unreserved_for_the_rest() -> None:
    offered = [scalar("cpus", 3), scalar("cpus", 1, "hippo"), scalar("mem", 100, "hippo")]
    offered.append(scalar("mem", 900))
    taken, rest = carve(offered, {"cpus": 2, "mem": 300}, "hippo")
    assert taken == [
        scalar("cpus", 1, "hippo", **ALLOCATED),
        scalar("cpus", 1, **ALLOCATED),
        scalar("mem", 100, "hippo", **ALLOCATED),
        scalar("mem", 200, **ALLOCATED),
    ]
    assert rest == [scalar("cpus", 2), scalar("mem", 700)]


def test_carve_keeps_a_dynamic_reservation_and_labels() -> None:
    reservation = {"principal": "ops", "labels": {"labels": [{"key": "k", "value": "v"}]}}
    offered = [scalar("cpus", 1, "hippo", reservation=reservation), scalar("mem", 64)]
    taken, _ = carve(offered, {"cpus": 1, "mem": 32})
    assert taken[0] == scalar("cpus", 1, "hippo", reservation=reservation)
    assert taken[1] == scalar("mem", 32)


def test_carve_from_what_is_left_for_a_second_task() -> None:
    offered = [scalar("cpus", 1, "hippo"), scalar("cpus", 1), scalar("mem", 64)]
    _, rest = carve(offered, {"cpus": 1.5, "mem": 32})
    taken, rest = carve(rest, {"cpus": 0.5, "mem": 32})
    assert taken == [scalar("cpus", 0.5), scalar("mem", 32)]
    assert rest == []


def test_a_piece_too_small_for_mesos_to_count_is_never_taken() -> None:
    """Mesos keeps three decimals: a piece of 0.0004 is nothing, on the first task and
    on any later one from the same offer (resources.Carver)."""
    offered = [scalar("cpus", 4), scalar("mem", 0.0004, "hippo"), scalar("mem", 100)]
    carver = Carver(offered)
    assert carver.take({"cpus": 1}) == [scalar("cpus", 1.0)]
    assert carver.take({"mem": 10}) == [scalar("mem", 10.0)]


def test_carve_refuses_more_than_offered() -> None:
    with pytest.raises(NotEnoughResources, match="cpus"):
        carve([scalar("cpus", 1, "hippo"), scalar("mem", 64)], {"cpus": 1.5, "mem": 32})


# --- the dev master ----------------------------------------------------------


async def test_reserved_resources_are_offered_in_the_pre_refinement_format(
    make_devmaster: Any, connect: Connect
) -> None:
    dev: DevMaster = make_devmaster(agents=1, resources="cpus(hippo):2;mem(hippo):2048")
    _, rec = await connect(dev.address, HIPPO)
    offer = await rec.take_offer()
    by_name = {r["name"]: r for r in offer["resources"]}
    assert by_name["cpus"]["role"] == "hippo" and by_name["cpus"]["scalar"]["value"] == 2
    assert by_name["mem"]["role"] == "hippo" and "reservation" not in by_name["mem"]
    assert by_name["disk"]["role"] == "*"
    assert all(r["allocation_info"] == {"role": "hippo"} for r in offer["resources"])
    assert offer["allocation_info"] == {"role": "hippo"}


async def test_another_role_is_not_offered_what_is_reserved(
    make_devmaster: Any, connect: Connect
) -> None:
    dev: DevMaster = make_devmaster(agents=1, resources="cpus(hippo):2;cpus:1;mem:512")
    _, rec = await connect(dev.address)
    offer = await rec.take_offer()
    assert {(r["name"], r["role"]) for r in offer["resources"]} == {
        ("cpus", "*"),
        ("mem", "*"),
        ("disk", "*"),
    }
    assert offer_role(offer) == "*"


async def test_unreserved_task_resources_on_a_reserved_offer_get_task_error(
    make_devmaster: Any, connect: Connect
) -> None:
    dev: DevMaster = make_devmaster(agents=1, resources="cpus(hippo):2;mem(hippo):2048")
    _, rec = await connect(dev.address, HIPPO)
    offer = await rec.take_offer()
    info = task_info(
        task_id="unreserved.1",
        name="unreserved",
        agent_id=offer["agent_id"]["value"],
        command="true",
        cpus=1,
        mem_mb=32,
        allocation_role=offer_role(offer),
    )
    await rec.client.launch([offer["id"]["value"]], [info])
    error = await rec.wait_update("unreserved.1", "TASK_ERROR")
    assert "more than available" in (error.message or "")
    assert "cpus(hippo):2" in (error.message or "")
    assert error.reason == "REASON_TASK_INVALID"


@pytest.mark.parametrize(
    "resources",
    ["cpus(hippo):2;mem(hippo):2048", "cpus(hippo):0.5;mem(hippo):16;cpus:2;mem:1024"],
)
async def test_a_task_on_resources_carved_as_offered_finishes(
    make_devmaster: Any, connect: Connect, resources: str
) -> None:
    dev: DevMaster = make_devmaster(agents=1, resources=resources)
    _, rec = await connect(dev.address, HIPPO)
    offer = await rec.take_offer()
    carved, _ = carve(offer["resources"], {"cpus": 1, "mem": 32}, offer_role(offer))
    info = task_info(
        task_id="carved.1",
        name="carved",
        agent_id=offer["agent_id"]["value"],
        command="true",
        cpus=1,
        mem_mb=32,
        resources=carved,
    )
    await rec.client.launch([offer["id"]["value"]], [info])
    await rec.wait_update("carved.1", "TASK_FINISHED")


def test_carve_leaves_the_offered_pieces_as_they_were() -> None:
    offered = [scalar("cpus", 2, "hippo", **ALLOCATED), scalar("mem", 64)]
    before = copy.deepcopy(offered)
    taken, rest = carve(offered, {"cpus": 0.5, "mem": 32}, "hippo")
    carve(rest, {"cpus": 1, "mem": 16}, "hippo")
    assert offered == before
    assert taken[0]["scalar"] is not offered[0]["scalar"]
