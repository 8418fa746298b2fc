"""When a call Mesos did not take (a 503 while it recovers, a refused connection) is
tried again: a truncated exponential backoff, as MESOS.md asks for 503s. Pure."""

from __future__ import annotations

from hippo.shared.tunables import CALL_RETRY_CAP_S, CALL_RETRY_FIRST_S


def call_retry_s(
    failures: int, first_s: float = CALL_RETRY_FIRST_S, cap_s: float = CALL_RETRY_CAP_S
) -> float:
    """Seconds before a call that failed `failures` times in a row is tried again:
    `first_s` doubling, truncated at `cap_s`; 0 when it has not failed."""
    if failures <= 0:
        return 0.0
    return min(cap_s, first_s * 2.0 ** min(failures - 1, 62))
