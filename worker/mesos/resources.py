"""A task's resources carved out of an offer's, exactly as offered. Pure.

An offer may hold the same resource in pieces: reserved for the framework's role
(`role: "hippo"`, plus `reservation` when reserved dynamically: the format a framework
without RESERVATION_REFINEMENT gets) and unreserved (`role: "*"`). The master checks
that a task's resources are contained in the offer's with the same role and
reservation (src/master/validation.cpp, src/common/resources.cpp), so a task's
resources are copies of offered pieces with only the amount changed: reserved pieces
first, unreserved ones for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

JSON = dict[str, Any]

# Mesos keeps three decimals of a scalar.
EPSILON = 0.0005


class NotEnoughResources(ValueError):
    """The offer's pieces do not hold what a task asks for."""


def is_reserved(resource: Mapping[str, Any]) -> bool:
    return (
        resource.get("role", "*") != "*"
        or resource.get("reservation") is not None
        or bool(resource.get("reservations"))
    )


def _amount(resource: Mapping[str, Any]) -> float:
    return float((resource.get("scalar") or {}).get("value", 0.0))


def _piece(resource: Mapping[str, Any], value: float, allocation_role: str | None) -> JSON:
    piece = dict(resource)
    piece["scalar"] = {"value": round(value, 3)}
    if allocation_role is not None and "allocation_info" not in piece:
        piece["allocation_info"] = {"role": allocation_role}
    return piece


class Carver:
    """What is left of one offer, carved task by task: each `take` costs only the pieces
    it uses (copying the whole offer per task was a tenth of a busy leader's CPU).

    Reserved pieces are used before unreserved ones, each kind in offered order; a piece
    used in part is split. Taken pieces keep their role, reservation and
    allocation_info; `allocation_role` is added where a piece has no allocation_info.
    The offered pieces are never changed.
    """

    def __init__(
        self, offered: Sequence[Mapping[str, Any]], allocation_role: str | None = None
    ) -> None:
        self._offered = offered
        self._role = allocation_role
        # index into `offered` -> amount left, for SCALAR pieces, reserved ones first
        self._left = {i: _amount(r) for i, r in enumerate(offered) if r.get("type") == "SCALAR"}
        self._by_name: dict[str, list[int]] = {}
        for i in sorted(self._left, key=lambda i: not is_reserved(offered[i])):
            self._by_name.setdefault(offered[i].get("name", ""), []).append(i)

    def take(self, wanted: Mapping[str, float]) -> list[JSON]:
        """The pieces for `wanted` scalars by name, taken out of what is left. Raises
        NotEnoughResources, and then takes nothing."""
        left = self._left
        # Checked for every name before anything is taken. Written as plain loops: this
        # runs once per task launched (a generator and a dict comprehension here cost a
        # busy leader 6% of its CPU).
        plan: list[tuple[float, list[int]]] = []
        for name, amount in wanted.items():
            need = round(amount, 3)
            pieces = self._by_name.get(name, [])
            has = 0.0
            for i in pieces:
                has += left[i]
            if need > EPSILON and round(need - has, 3) > EPSILON:
                lacks = round(need - has, 3)
                raise NotEnoughResources(f"offer lacks {lacks:g} {name} of the {amount:g} wanted")
            plan.append((need, pieces))
        taken: list[JSON] = []
        for need, pieces in plan:
            for i in pieces:
                if need <= EPSILON:
                    break
                use = left[i] if left[i] <= need else need  # as min(): the piece's on a tie
                if use <= EPSILON:  # nothing Mesos would count (it keeps 3 decimals)
                    continue
                taken.append(_piece(self._offered[i], use, self._role))
                left[i] = round(left[i] - use, 3)
                need = round(need - use, 3)
        return taken

    def rest(self) -> list[JSON]:
        """What is left, in offered order: scalars with their amount left (used-up ones
        dropped), other pieces as offered."""
        rest = []
        for i, resource in enumerate(self._offered):
            if i not in self._left or self._left[i] == _amount(resource):
                if i not in self._left or self._left[i] > EPSILON:
                    rest.append(dict(resource))
            elif self._left[i] > EPSILON:
                rest.append({**resource, "scalar": {"value": self._left[i]}})
        return rest


def carve(
    offered: Sequence[Mapping[str, Any]],
    wanted: Mapping[str, float],
    allocation_role: str | None = None,
) -> tuple[list[JSON], list[JSON]]:
    """(the task's resources, what is left of `offered`) for `wanted` scalars by name,
    as Carver takes them. Raises NotEnoughResources."""
    carver = Carver(offered, allocation_role)
    return carver.take(wanted), carver.rest()
