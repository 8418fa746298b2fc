"""When a periodic chore of the leader is due. Pure: times are passed in (monotonic s)."""

from __future__ import annotations

import math


class Cadence:
    """Due every `interval_s`; at the first check when `at_once`, else one interval after
    `start`. A check that finds it due counts as its run."""

    def __init__(self, interval_s: float, start: float, *, at_once: bool = False) -> None:
        self.interval_s = interval_s
        self._last = -math.inf if at_once else start

    def due(self, now: float) -> bool:
        if now - self._last < self.interval_s:
            return False
        self._last = now
        return True
