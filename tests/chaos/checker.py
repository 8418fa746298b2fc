"""The verdict of one fault run: pure functions over what the harness collected.

`check(collected) -> RunResult` needs no Redis, no process and no clock; the harness
(tests/chaos/harness.py) fills a `Collected` while the run goes on, and a test asserts
on the result (`result.failures()` is empty when every promise held). `append_report`
writes the result as one JSON line to the file named by HIPPO_CHAOS_REPORT, and
`python -m tests.chaos.report FILE` turns those lines into the markdown table.

What counts:
- an *item* is one thing Hippo was given: a source item (`source:<queue>:<data>`) or a
  one-off task the API accepted (`task:<task id>`). Every item must end as exactly one
  successful run (TASK_FINISHED): none is a loss, two or more a duplicate. A one-off
  task whose POST got no answer (the connection dropped) is `maybe`: it may have been
  stored, so it is never a loss, but two successful runs of it are still a duplicate.
- a *cap violation* is a concurrency sample (taken from the dev master, the ground
  truth of what runs) in which more runs of a task id or queue were live at Mesos than
  its `max_concurrent`.
- a *stuck* run is a Hippo task record not in a terminal state once the run settled
  (after reconciliation had its chance).
- every API answer while Redis was away must be 503 (never 500), and once it is back
  the API must answer 2xx again by itself.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from hippo.shared.records import TERMINAL_STATES

TERMINAL = TERMINAL_STATES  # the end of a run for Hippo (shared/records.py)
SUCCESS = "TASK_FINISHED"
REPORT_ENV = "HIPPO_CHAOS_REPORT"


@dataclass(frozen=True)
class Run:
    """One Hippo task record: `item` is the item key it was made for (see module doc)."""

    mesos_id: str
    item: str
    state: str


@dataclass(frozen=True)
class Sample:
    """Live runs of one task id (or queue) at Mesos at `at_s` (seconds since the run's
    start), and its `max_concurrent`."""

    at_s: float
    key: str
    live: int
    cap: int


@dataclass(frozen=True)
class Answer:
    """One API answer during the run: `status` 0 when no answer came (connection refused
    or dropped); `redis_away` when Redis was stopped at the time of the request."""

    at_s: float
    status: int
    redis_away: bool


@dataclass
class Collected:
    """Everything a run gathered; the harness appends to it, the checker reads it."""

    fault: str
    items: set[str] = field(default_factory=set)
    maybe_items: set[str] = field(default_factory=set)
    runs: list[Run] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    recovery_s: float | None = None  # from the end of the fault until new work completed
    redis_restarted: bool = False


@dataclass(frozen=True)
class RunResult:
    """The verdict; the fields are the report's columns (one JSON line per run)."""

    fault: str
    items: int
    lost: list[str]
    duplicates: list[str]
    cap_violations: list[str]
    stuck: list[str]
    api_500s: int
    api_answers_while_redis_away: dict[str, int]
    api_recovered: bool
    recovery_s: float | None
    samples: int
    samples_at_cap: int  # samples with a key exactly at its cap: the cap was exercised

    def failures(self) -> list[str]:
        """What broke a promise, in words (empty when the run kept them all)."""
        found = []
        for name in ("lost", "duplicates", "cap_violations", "stuck"):
            values = getattr(self, name)
            if values:
                found.append(f"{len(values)} {name}: {values[:10]}")
        if self.api_500s:
            found.append(f"the API answered 500 {self.api_500s} times")
        if not self.api_recovered:
            found.append("the API did not answer 2xx again after Redis came back")
        if self.recovery_s is None:
            found.append("no recovery time: new work never completed after the fault")
        return found


def item_outcomes(
    items: Iterable[str], maybe_items: Iterable[str], runs: Iterable[Run]
) -> tuple[list[str], list[str]]:
    """(lost, duplicates): items with no successful run (`maybe_items` excused), and items
    with more than one, each sorted."""
    successes = Counter(run.item for run in runs if run.state == SUCCESS)
    expected = set(items)
    lost = sorted(item for item in expected if successes[item] == 0)
    candidates = expected | set(maybe_items)
    duplicates = sorted(item for item, n in successes.items() if n > 1 and item in candidates)
    return lost, duplicates


def cap_violations(samples: Iterable[Sample]) -> list[str]:
    """`key live>cap at t` for each sample above its cap."""
    return [f"{s.key} {s.live}>{s.cap} at {s.at_s:.2f}s" for s in samples if s.live > s.cap]


def stuck_runs(runs: Iterable[Run]) -> list[str]:
    return sorted(f"{run.mesos_id} {run.state}" for run in runs if run.state not in TERMINAL)


def api_verdict(answers: list[Answer], redis_restarted: bool) -> tuple[int, dict[str, int], bool]:
    """(number of 500s, status counts while Redis was away, recovered): recovered when,
    if Redis was restarted, some answer after the last one it was away for is a 2xx."""
    fives = sum(1 for a in answers if a.status >= 500 and a.status != 503)
    away = Counter(str(a.status) for a in answers if a.redis_away)
    recovered = True
    if redis_restarted:
        last_away = max((a.at_s for a in answers if a.redis_away), default=0.0)
        recovered = any(200 <= a.status < 300 and a.at_s > last_away for a in answers)
    return fives, dict(sorted(away.items())), recovered


def check(collected: Collected) -> RunResult:
    lost, duplicates = item_outcomes(collected.items, collected.maybe_items, collected.runs)
    fives, away, recovered = api_verdict(collected.answers, collected.redis_restarted)
    return RunResult(
        fault=collected.fault,
        items=len(collected.items),
        lost=lost,
        duplicates=duplicates,
        cap_violations=cap_violations(collected.samples),
        stuck=stuck_runs(collected.runs),
        api_500s=fives,
        api_answers_while_redis_away=away,
        api_recovered=recovered,
        recovery_s=collected.recovery_s,
        samples=len(collected.samples),
        samples_at_cap=sum(1 for s in collected.samples if s.live == s.cap),
    )


def append_report(result: RunResult, env: Mapping[str, str] = os.environ) -> None:
    """One JSON line per run to the file HIPPO_CHAOS_REPORT names; nothing when unset."""
    path = env.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(result), sort_keys=True) + "\n")
