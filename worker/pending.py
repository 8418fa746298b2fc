"""Why a waiting run did not launch in an offer round, in words for an operator. Pure.

The leader explains each run a round looked at and did not launch (`explain`), and each
task id the round stepped past at its cap (`capped_reason`), and writes a reason only
when it differs from the one it last wrote (`ReasonBook`). The reasons that hold for
every waiting run at once (no leader, the master unreachable, no offers lately) are not
written per run: the API derives them when it answers (hippo.shared.leader_status).

The checks follow matching.assign's order, so the reason names the first thing that
kept the run back: its task id's cap, its queue's cap, resources, constraints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from hippo.worker.matching import (
    EPSILON,
    Candidate,
    MatchState,
    OfferView,
    Place,
    Rule,
    field_value,
    rule_holds,
)

# Cached reasons: past this many runs the book starts afresh (a run then gets its
# reason written once more, which the store skips when unchanged).
REASON_BOOK_LIMIT = 100_000
# A capped task id's reason is written again this often even when unchanged: runs of
# the id created since then get it too (the store skips the runs that have it).
ID_REASON_REFRESH_S = 10.0


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def rule_text(rule: Rule) -> str:
    """`["hostname", "LIKE", "gpu.*"]`, as the task definition spells it."""
    parts = [rule.field, rule.operator.value] + ([rule.value] if rule.value is not None else [])
    return json.dumps(parts)


def capped_reason(task_id: str, cap: int, active: int) -> str:
    return f"task id {task_id} is at its max_concurrent: {active} of {cap} running"


def queue_capped_reason(queue_id: str, cap: int, active: int) -> str:
    return f"queue {queue_id} is at its max_concurrent: {active} of {cap} running"


def _rule_holds_on(rule: Rule, offer: OfferView, placed: Sequence[Place], known: list[str]) -> bool:
    return rule_holds(rule, Place(offer.hostname, offer.attributes), placed, known)


def _known_values(rule: Rule, offers: Sequence[OfferView]) -> list[str]:
    values = (field_value(rule.field, Place(o.hostname, o.attributes)) for o in offers)
    return [v for v in values if v is not None]


def explain(task: Candidate, offers: Sequence[OfferView], state: MatchState) -> str:
    """Why `task` was not launched on any of `offers` (the round's offers, whole), with
    `state` as the round left it (this round's launches counted)."""
    active = state.active_by_id.get(task.task_id, 0)
    if task.max_concurrent is not None and active >= task.max_concurrent:
        return capped_reason(task.task_id, task.max_concurrent, active)
    if task.queue_id is not None and task.queue_max_concurrent is not None:
        in_queue = state.active_by_queue.get(task.queue_id, 0)
        if in_queue >= task.queue_max_concurrent:
            return queue_capped_reason(task.queue_id, task.queue_max_concurrent, in_queue)
    if not offers:
        return "no offers at hand in the last offer round"
    big = [o for o in offers if o.cpus + EPSILON >= task.cpus and o.mem + EPSILON >= task.mem]
    if not big:
        most_cpus = max(o.cpus for o in offers)
        most_mem = max(o.mem for o in offers)
        return (
            f"no offer has enough cpus and mem: it needs {_number(task.cpus)} cpus and "
            f"{_number(task.mem)} MiB; the largest offers seen had {_number(most_cpus)} cpus "
            f"and {_number(most_mem)} MiB"
        )
    if task.rules:
        placed = state.placements.get(task.task_id, [])
        failing = []
        for rule in task.rules:
            known = _known_values(rule, offers)
            if not any(_rule_holds_on(rule, o, placed, known) for o in big):
                failing.append(rule_text(rule))
        hosts = sorted({o.hostname for o in big})
        agents = f"{len(hosts)} agent(s) with enough cpus and mem ({', '.join(hosts[:5])}"
        agents += ", ...)" if len(hosts) > 5 else ")"
        if failing:
            return f"constraints match no agent: {', '.join(failing)} holds on none of {agents}"
        whole = [
            o
            for o in big
            if all(_rule_holds_on(r, o, placed, _known_values(r, offers)) for r in task.rules)
        ]
        if not whole:
            return f"constraints match no agent: no one agent meets them all, of {agents}"
    return "the offers that fit were used by older tasks; waiting for the next offers"


def reasons_for(
    unlaunched: Iterable[Candidate], offers: Sequence[OfferView], state: MatchState
) -> dict[str, str]:
    """mesos_id -> reason, for each run a round looked at and did not launch."""
    return {task.mesos_id: explain(task, offers, state) for task in unlaunched}


class ReasonBook:
    """The reasons last written, so a round writes only the ones that changed."""

    def __init__(self, limit: int = REASON_BOOK_LIMIT) -> None:
        self.limit = limit
        self._runs: dict[str, str] = {}
        self._ids: dict[str, tuple[str, float]] = {}  # task id -> (reason, written at)

    def changed(
        self, runs: Mapping[str, str], ids: Mapping[str, str], now: float
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The runs' reasons that differ from the last ones noted, and the ids' that
        differ or were written more than ID_REASON_REFRESH_S before `now` (seconds)."""
        stale_ids = {}
        for task_id, reason in ids.items():
            last = self._ids.get(task_id)
            if last is None or last[0] != reason or now - last[1] > ID_REASON_REFRESH_S:
                stale_ids[task_id] = reason
        return {m: r for m, r in runs.items() if self._runs.get(m) != r}, stale_ids

    def note(self, runs: Mapping[str, str], ids: Mapping[str, str], now: float) -> None:
        """The reasons were written at `now`."""
        if len(self._runs) + len(runs) > self.limit:
            self._runs.clear()
        if len(self._ids) + len(ids) > self.limit:
            self._ids.clear()
        self._runs.update(runs)
        self._ids.update((task_id, (reason, now)) for task_id, reason in ids.items())

    def forget(self, mesos_id: str) -> None:
        """The run was claimed: the store cleared its reason."""
        self._runs.pop(mesos_id, None)
