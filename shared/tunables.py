"""Internal tunables: the limits and timings that are not settings.

Settings an operator sets are HIPPO_* variables (settings.py, README's table). These
are the numbers behind them, one place for all, each with its unit and why it is what
it is. Change one with a benchmark (bench/) in hand.
"""

from __future__ import annotations

# --- Redis (shared/store) ------------------------------------------------------------
# Connections one process opens to Redis; more concurrent calls wait for a free one
# instead of failing, as redis-py's default pool would.
REDIS_MAX_CONNECTIONS = 64
REDIS_POOL_WAIT_S = 5.0  # a call waits this long for a free connection
REDIS_CONNECT_TIMEOUT_S = 2.0  # fail fast while Redis is down (the API answers 503)
REDIS_SOCKET_TIMEOUT_S = 5.0  # a reply slower than this counts as Redis unreachable
REDIS_HEALTH_CHECK_S = 30.0  # an idle pooled connection is PINGed before reuse after this
REDIS_PROBE_TIMEOUT_S = 1.0  # /healthz and /readyz answer within about this
# Members a filtered task listing scans for one page before answering it short (with a
# cursor): bounds one Lua call when filters match rarely.
MAX_LIST_SCAN = 5000

# --- API -----------------------------------------------------------------------------
MAX_BODY_BYTES = 1024 * 1024  # a request body over this is refused (413)

# --- Polling (worker/polling.py) -------------------------------------------------------
MAX_ERROR_CHARS = 1000  # longest poll error kept on a queue (last_error)
POLL_STOP_GRACE_S = 1.0  # in-flight polls may finish this long after stop, then abandoned
# How often a worker adds queues missing from the due set (a queue created while
# Redis lost writes, say); cheap, so rare is enough.
RECONCILE_DUE_EVERY_S = 300.0
# Retired generations (a deleted or edited queue's in-flight items, worker/polling_drains.py)
# one worker gives back at once; they are rare, and each is one call to a source.
DRAINS_AT_ONCE = 4
# Longest wait before giving back again after failures (an unreachable source); also how
# long a worker without the retired queue's source type leaves it to others.
DRAIN_RETRY_MAX_S = 300.0

# --- Worker process (worker/main.py) -----------------------------------------------------
WORKER_STOP_WAIT_S = 15.0  # after SIGTERM, what may still run this long before it is cut
