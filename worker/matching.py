"""Offer matching: which waiting tasks go on which offers. Pure functions over plain data.

Tasks are taken in the order given (creation order, the FIFO). A task fits an offer when
its cpus and mem fit what is left of the offer, its task id and queue are below their
`max_concurrent`, and its Marathon constraints hold on the offer's hostname and
attributes, given where the other active runs of the same task id are placed.

What is left of each offer is counted in one place, `Rooms`: a round that matches
several batches of tasks passes the same `Rooms` to each.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hippo.shared.model import Constraint, Operator

# Mesos keeps three decimals of scalar resources; compare with a little slack.
EPSILON = 1e-6
HOSTNAME_FIELDS = ("hostname", "@hostname")


@dataclass(frozen=True)
class Rule:
    """One constraint, ready to check: `[field, OPERATOR, value?]`."""

    field: str
    operator: Operator
    value: str | None = None
    pattern: re.Pattern[str] | None = None

    @classmethod
    def from_constraint(cls, constraint: Constraint) -> Rule:
        """The model validated the operator, the value and the regular expression."""
        op, value = constraint.operator, constraint.value
        pattern = re.compile(value) if op in (Operator.LIKE, Operator.UNLIKE) and value else None
        return cls(constraint.field, op, value, pattern)

    @classmethod
    def parse(cls, raw: Sequence[Any]) -> Rule:
        """From the wire form `[field, OPERATOR, value?]`; raises pydantic's ValidationError."""
        return cls.from_constraint(Constraint.model_validate(list(raw)))

    @property
    def needs_placements(self) -> bool:
        """Whether checking it needs to know where the task id's other runs are."""
        return self.operator in (Operator.UNIQUE, Operator.GROUP_BY, Operator.MAX_PER)


@dataclass(frozen=True)
class OfferView:
    """What matching needs of one Mesos offer."""

    id: str
    agent_id: str
    hostname: str
    attributes: Mapping[str, str]
    cpus: float
    mem: float
    role: str | None = None
    # The offer's resources as sent, reserved and unreserved pieces alike: a task's
    # resources are carved out of them (mesos.resources.carve).
    resources: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_json(cls, offer: Mapping[str, Any]) -> OfferView:
        cpus = mem = 0.0
        for resource in offer.get("resources") or []:
            if resource.get("type") != "SCALAR":
                continue
            if resource.get("name") == "cpus":
                cpus += float(resource["scalar"]["value"])
            elif resource.get("name") == "mem":
                mem += float(resource["scalar"]["value"])
        info = offer.get("allocation_info")
        return cls(
            id=offer["id"]["value"],
            agent_id=offer["agent_id"]["value"],
            hostname=offer.get("hostname", ""),
            attributes=attribute_values(offer.get("attributes") or []),
            cpus=cpus,
            mem=mem,
            role=info.get("role") if isinstance(info, dict) else None,
            resources=tuple(offer.get("resources") or ()),
        )


@dataclass(frozen=True)
class Place:
    """Where something runs: an agent's hostname and attributes."""

    hostname: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """A waiting task as matching sees it."""

    mesos_id: str
    task_id: str
    queue_id: str | None
    cpus: float
    mem: float
    rules: tuple[Rule, ...] = ()
    max_concurrent: int | None = None  # per task id; None: no cap
    queue_max_concurrent: int | None = None  # None: not from a queue, or no cap

    @property
    def needs_placements(self) -> bool:
        return any(rule.needs_placements for rule in self.rules)


def _scalar_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def attribute_values(attributes: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Mesos attributes as text, the way constraints compare them (SCALAR 2.0 -> "2")."""
    values: dict[str, str] = {}
    for attribute in attributes:
        name, kind = attribute.get("name"), attribute.get("type")
        if not name:
            continue
        if kind == "TEXT":
            values[name] = str((attribute.get("text") or {}).get("value", ""))
        elif kind == "SCALAR":
            values[name] = _scalar_text(float((attribute.get("scalar") or {}).get("value", 0)))
        elif kind == "SET":
            values[name] = ",".join((attribute.get("set") or {}).get("item") or [])
        elif kind == "RANGES":
            ranges = (attribute.get("ranges") or {}).get("range") or []
            values[name] = ",".join(f"[{r.get('begin')}-{r.get('end')}]" for r in ranges)
    return values


def field_value(name: str, place: Place) -> str | None:
    if name in HOSTNAME_FIELDS:
        return place.hostname
    return place.attributes.get(name)


def _same(actual: str, wanted: str) -> bool:
    if actual == wanted:
        return True
    try:
        return float(actual) == float(wanted)
    except ValueError:
        return False


def rule_holds(
    rule: Rule, place: Place, placed: Sequence[Place], known_values: Iterable[str] = ()
) -> bool:
    """Whether `rule` allows one more run at `place`, with the task id's runs at `placed`.

    `known_values` are values of the rule's field seen elsewhere (other offers), which
    GROUP_BY balances over.
    """
    value = field_value(rule.field, place)
    op = rule.operator
    if op is Operator.UNEQUAL:
        return value is None or not _same(value, rule.value or "")
    if op is Operator.UNLIKE:
        assert rule.pattern is not None
        return value is None or rule.pattern.fullmatch(value) is None
    if value is None:
        return False
    if op in (Operator.CLUSTER, Operator.EQUAL, Operator.IS):
        return _same(value, rule.value or "")
    if op is Operator.LIKE:
        assert rule.pattern is not None
        return rule.pattern.fullmatch(value) is not None
    others = [field_value(rule.field, p) for p in placed]
    if op is Operator.UNIQUE:
        return value not in others
    if op is Operator.MAX_PER:
        return others.count(value) < int(rule.value or 1)
    if op is Operator.GROUP_BY:
        counts: dict[str, int] = {}
        for other in others:
            if other is not None:
                counts[other] = counts.get(other, 0) + 1
        groups = set(counts) | set(known_values) | {value}
        wanted_groups = int(rule.value) if rule.value else 0
        # Too few groups in use yet: only an unused value keeps the spread even.
        least = 0 if len(counts) < wanted_groups else min(counts.get(g, 0) for g in groups)
        return counts.get(value, 0) <= least
    raise ValueError(f"unknown constraint operator {op}")


@dataclass(eq=False)
class _Room:
    offer: OfferView
    cpus: float
    mem: float
    place: Place  # the offer's, made once: every run assigned to it shares it
    order: int  # its place among the offers, which breaks ties
    gone: bool = False  # used up: dropped


# Rooms the heap steps past for lacking a task's mem before that task's room is looked
# for by the scan: each step costs a pop and a push, against a comparison in the scan.
MEM_SHORT_ROOMS = 8


class _Scan:
    """Rooms._from_heap's answer when every room must be looked at."""


_SCAN = _Scan()


class Rooms:
    """What is left of each offer as tasks are assigned to it: the one place where
    resources are counted. An offer with (almost) no cpus or mem left is dropped.

    Besides the list, a heap of the rooms by most cpus left (then offer order) finds a
    task without constraints its room in O(log offers) instead of looking at every
    offer, while the rooms with the most cpus have its mem. Assigning 10,000 such runs
    (in process, best of 7, 2 cores): over 1,000 offers 351-369 ms by looking at every
    offer, 12.6 ms from the heap; over 100 offers 43 ms and 10.4 ms; over 10, 9.6-9.9
    ms and 9.1 ms. When the offers run short of mem first, a task's room is found by
    looking at every offer, as before (`_from_heap`). An entry whose room
    changed or went since it was pushed is skipped when met."""

    def __init__(self, offers: Iterable[OfferView]) -> None:
        self._rooms = [
            _Room(o, o.cpus, o.mem, Place(o.hostname, o.attributes), n)
            for n, o in enumerate(offers)
        ]
        self._by_cpus = [(-room.cpus, room.order, room) for room in self._rooms]
        heapq.heapify(self._by_cpus)

    def __bool__(self) -> bool:
        return bool(self._rooms)

    def __len__(self) -> int:
        return len(self._rooms)

    @property
    def offers(self) -> list[OfferView]:
        """The offers with room left, as received (their full resources)."""
        return [room.offer for room in self._rooms]

    def left(self, offer_id: str) -> tuple[float, float]:
        """(cpus, mem) left of an offer; (0, 0) once it is used up."""
        room = next((r for r in self._rooms if r.offer.id == offer_id), None)
        return (room.cpus, room.mem) if room is not None else (0.0, 0.0)

    def total(self) -> tuple[float, float]:
        """(cpus, mem) left in all the offers."""
        return (sum(room.cpus for room in self._rooms), sum(room.mem for room in self._rooms))

    @property
    def places(self) -> list[Place]:
        """Where the offers with room left are."""
        return [room.place for room in self._rooms]

    def best_for(
        self,
        task: Candidate,
        placed: Sequence[Place],
        known: Sequence[Place],
    ) -> _Room | None:
        """The room with the most cpus left on which the task fits and its rules hold
        (of rooms with as many, the first offer's); `known` are the offers' places
        GROUP_BY balances over."""
        cpus, mem, rules = task.cpus, task.mem, task.rules
        if not rules:
            found = self._from_heap(cpus, mem)
            if not isinstance(found, _Scan):
                return found
        best: _Room | None = None
        best_cpus = -1.0
        for room in self._rooms:
            if room.cpus + EPSILON < cpus or room.mem + EPSILON < mem or room.cpus <= best_cpus:
                continue
            if rules and not _rules_hold(rules, room.place, placed, known):
                continue
            best, best_cpus = room, room.cpus
        return best

    def _from_heap(self, cpus: float, mem: float) -> _Room | None | _Scan:
        """best_for of a task without rules from the heap, while its top rooms have the
        mem; past MEM_SHORT_ROOMS rooms lacking it (offers short of memory before cpus),
        _SCAN: looking at every room then costs no more than it did."""
        heap = self._by_cpus
        skipped: list[tuple[float, int, _Room]] = []  # rooms lacking mem, kept
        found: _Room | None | _Scan = None
        while heap:
            neg_cpus, _, room = heap[0]
            if room.gone or -neg_cpus != room.cpus:
                heapq.heappop(heap)  # stale: the room changed or went since
                continue
            if room.cpus + EPSILON < cpus:
                break  # the most cpus left is too few: no room fits
            if room.mem + EPSILON < mem:
                if len(skipped) == MEM_SHORT_ROOMS:
                    found = _SCAN
                    break
                skipped.append(heapq.heappop(heap))
                continue
            found = room
            break
        for entry in skipped:
            heapq.heappush(heap, entry)
        return found

    def take(self, room: _Room, task: Candidate) -> None:
        cpus_before = room.cpus
        room.cpus -= task.cpus
        room.mem -= task.mem
        if room.cpus < EPSILON or room.mem < EPSILON:
            room.gone = True
            self._rooms.remove(room)
        elif room.cpus != cpus_before:  # (else its entry still holds: no two alike)
            heapq.heappush(self._by_cpus, (-room.cpus, room.order, room))


@dataclass
class MatchState:
    """What a round knows besides the offers: active counts and placements, updated as
    tasks are assigned so that later tasks of the same round see the earlier ones."""

    active_by_id: dict[str, int] = field(default_factory=dict)
    active_by_queue: dict[str, int] = field(default_factory=dict)
    placements: dict[str, list[Place]] = field(default_factory=dict)


def match_offers(
    candidates: Iterable[Candidate], offers: Sequence[OfferView], state: MatchState
) -> list[tuple[Candidate, OfferView]]:
    """Assign tasks, in the order given, to the offer with the most cpus left that fits.

    Tasks that fit nowhere are skipped (a later, smaller task may still fit).
    """
    return assign(candidates, Rooms(offers), state)


def assign(
    candidates: Iterable[Candidate], rooms: Rooms, state: MatchState
) -> list[tuple[Candidate, OfferView]]:
    """`match_offers` on what is left in `rooms`, taking out what the tasks use."""
    known = rooms.places  # GROUP_BY balances over the values of the offers at hand
    assigned: list[tuple[Candidate, OfferView]] = []
    by_id, by_queue, placements = state.active_by_id, state.active_by_queue, state.placements
    for task in candidates:
        if not rooms:
            break
        task_id, queue_id = task.task_id, task.queue_id
        active = by_id.get(task_id, 0)
        if task.max_concurrent is not None and active >= task.max_concurrent:
            continue
        if (
            queue_id is not None
            and task.queue_max_concurrent is not None
            and by_queue.get(queue_id, 0) >= task.queue_max_concurrent
        ):
            continue
        placed = placements.get(task_id)
        best = rooms.best_for(task, placed or (), known)
        if best is None:
            continue
        rooms.take(best, task)
        assigned.append((task, best.offer))
        by_id[task_id] = active + 1
        if queue_id is not None:
            by_queue[queue_id] = by_queue.get(queue_id, 0) + 1
        if placed is None:
            placements[task_id] = [best.place]
        else:
            placed.append(best.place)
    return assigned


def _rules_hold(
    rules: Sequence[Rule], place: Place, placed: Sequence[Place], known: Sequence[Place]
) -> bool:
    for rule in rules:
        values: list[str] = []
        if rule.operator is Operator.GROUP_BY:
            values = [v for v in (field_value(rule.field, p) for p in known) if v is not None]
        if not rule_holds(rule, place, placed, values):
            return False
    return True
