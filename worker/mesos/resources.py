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


def carve(
    offered: Sequence[Mapping[str, Any]],
    wanted: Mapping[str, float],
    allocation_role: str | None = None,
) -> tuple[list[JSON], list[JSON]]:
    """(the task's resources, what is left of `offered`) for `wanted` scalars by name.

    Reserved pieces are used before unreserved ones; a piece used in part is split.
    Pieces keep their role, reservation and allocation_info; `allocation_role` is added
    where a piece has no allocation_info. Raises NotEnoughResources.
    """
    # Shallow copies: a piece's nested values (role, reservation, allocation_info) are
    # shared, never changed; only its `scalar` is replaced, by a new dict. (A deep copy
    # of the offer per task was a tenth of a busy leader's CPU.)
    left = [dict(r) for r in offered]
    taken: list[JSON] = []
    for name, amount in wanted.items():
        need = round(amount, 3)
        if need <= 0:
            continue
        pieces = [r for r in left if r.get("name") == name and r.get("type") == "SCALAR"]
        for resource in sorted(pieces, key=lambda r: not is_reserved(r)):
            if need <= EPSILON:
                break
            use = min(_amount(resource), need)
            if use <= 0:
                continue
            taken.append(_piece(resource, use, allocation_role))
            resource["scalar"] = {"value": round(_amount(resource) - use, 3)}
            need = round(need - use, 3)
        if need > EPSILON:
            raise NotEnoughResources(f"offer lacks {need:g} {name} of the {amount:g} wanted")
    rest = [r for r in left if r.get("type") != "SCALAR" or _amount(r) > EPSILON]
    return taken, rest
