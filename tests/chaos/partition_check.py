"""What a partition run must show, as pure functions over what the run observed, and the
report row it writes (one JSON line to $HIPPO_CHAOS_REPORT, when set).

A minimal checker of the network-partition runs (netns tests); the general fault-run
harness may replace it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

TERMINAL = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED",
     "TASK_GONE", "TASK_GONE_BY_OPERATOR"}
)  # fmt: skip


@dataclass
class Verdict:
    fault: str
    items: int
    lost: list[str] = field(default_factory=list)  # items with no finished run
    duplicates: list[str] = field(default_factory=list)  # items run more than once
    cap_violations: dict[str, int] = field(default_factory=dict)  # queue -> highest seen
    stuck: list[str] = field(default_factory=list)  # runs left non-terminal
    recovery_s: float | None = None
    samples: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicates or self.cap_violations or self.stuck)


def check(
    fault: str,
    items: Iterable[str],
    runs: Iterable[Mapping[str, str]],
    launched: Mapping[str, int],
    highest: Mapping[str, int],
    cap: int,
    *,
    recovery_s: float | None,
    samples: int,
) -> Verdict:
    """`runs`: every run stored ({mesos_id, item, state}); `launched`: Mesos task id ->
    times the master ran it; `highest`: queue -> most of its tasks seen running at once."""
    runs = list(runs)
    finished = Counter(r["item"] for r in runs if r["state"] == "TASK_FINISHED")
    ran = Counter(r["item"] for r in runs for _ in range(launched.get(r["mesos_id"], 0)))
    wanted = list(items)
    return Verdict(
        fault=fault,
        items=len(wanted),
        lost=sorted(i for i in wanted if finished[i] == 0),
        duplicates=sorted(i for i in wanted if finished[i] > 1 or ran[i] > 1),
        cap_violations={q: n for q, n in highest.items() if n > cap},
        stuck=sorted(r["mesos_id"] for r in runs if r["state"] not in TERMINAL),
        recovery_s=recovery_s,
        samples=samples,
    )


def report(verdict: Verdict) -> None:
    """Append the verdict as one JSON line to $HIPPO_CHAOS_REPORT, if set."""
    path = os.environ.get("HIPPO_CHAOS_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({**asdict(verdict), "ok": verdict.ok}) + "\n")


def runs_wanted() -> int:
    """How many times each fault runs ($HIPPO_CHAOS_RUNS, default 1)."""
    return max(1, int(os.environ.get("HIPPO_CHAOS_RUNS", "1")))
