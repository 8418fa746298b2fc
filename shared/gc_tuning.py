"""The cyclic garbage collector's settings for Hippo's long-running processes.

A busy leader allocates a few hundred objects per task it launches (TaskInfos, events,
decoded definitions), nearly all freed by reference counting; with CPython's default
thresholds (700 allocations for a young collection) it still ran a collection every few
tasks, and each older collection walked every object made at start-up (modules,
settings, compiled models). Measured with `python -m bench.leader_burst` on 2 cores:
0.21-0.23 ms of leader CPU per launch with the defaults, 0.18-0.19 ms with these.
"""

from __future__ import annotations

import gc

# Allocations (net) between young collections: CPython's default is 700.
YOUNG_THRESHOLD = 10_000


def tune_for_service() -> None:
    """Call once start-up is done: what exists now (imports, settings) is moved out of
    the collector's reach for good (gc.freeze), and young collections run every
    YOUNG_THRESHOLD allocations. Cycles are still collected, only less often; the
    memory held meanwhile is a few MB at most."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
