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
# A poll waits this long for HIPPO_REDIS_WAIT_REPLICAS replicas to have its writes; short
# of them, its items stay in the source and come again at a later poll (worker/polling.py).
REDIS_WAIT_TIMEOUT_S = 2.0
REDIS_PROBE_TIMEOUT_S = 1.0  # /healthz and /readyz answer within about this
# Members a filtered task listing scans for one page before answering it short (with a
# cursor): bounds one Lua call when filters match rarely.
MAX_LIST_SCAN = 5000
MAX_CHAIN_RUNS = 1000  # runs a history read follows each way along a chain of retries

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

# --- The leader (worker/session.py and its parts) ------------------------------------------
# Offer rounds read waiting runs a step at a time, so a round reads about what its offers
# can take (docs/benchmarks.md has the figures behind these).
ROUND_READ_BATCH = 1000  # waiting runs read per step of a round
ROUND_MAX_IDS = 10_000  # task ids one round looks at (ids at their cap are stepped past)
ROUND_IDS_PER_STEP = 1000  # task ids one LAUNCHABLE call looks at
# Runs one claim script of a round takes at least (offer_round.claim_groups): an offer
# with this many is claimed and ACCEPTed alone, while the next offers' runs are claimed;
# smaller offers share a claim.
ROUND_CLAIM_RUNS = 500
WAITING_CACHE_LIMIT = 100_000  # decoded waiting runs kept; all dropped at once past it
# A definition longer than this (its JSON, or its command and env in characters) is not
# kept decoded or prepared beyond its run: a queue's item lives in its definition, and
# item-sized definitions are seldom shared (the leader would hold every item's data).
SHARED_DEFINITION_MAX_CHARS = 16 * 1024
QUEUE_CAP_TTL_S = 5.0  # a queue's max_concurrent is read again after this
REVIVE_MIN_INTERVAL_S = 0.5  # REVIVE at most this often (Mesos re-offers on each one)
# Filter of offers no waiting run fits (a task bigger than any agent): Mesos re-offers
# them after this at the latest; a REVIVE for new work or freed resources lifts it.
UNFIT_REFUSE_S = 300.0
CALL_RETRY_FIRST_S = 0.5  # a failed REVIVE/SUPPRESS/DECLINE is tried again after this,
CALL_RETRY_CAP_S = 30.0  # doubling per failure up to this (503 means retry with backoff)
MESOS_ERROR_FIRST_S = 1.0  # after an ERROR event the master will repeat, SUBSCRIBE again
MESOS_ERROR_CAP_S = 60.0  # after this, doubling per refusal up to this
UPDATE_BATCH = 500  # status updates stored per script call
KILL_RESEND_S = 5.0  # a KILL with no end seen is sent again after this
KILL_SWEEP_S = 1.0  # the kill set is read at least this often, hint or not
RECONCILE_CHUNK = 1000  # tasks per explicit RECONCILE call
RECONCILE_TICK_S = 0.5  # how often the reconciliation loop looks at its cadences
RECONCILED_CACHE_LIMIT = 100_000  # reconciliation times kept; all dropped at once past it
DEADLINES_TICK_S = 0.5  # delayed retries and run time limits are looked at this often, at least
# Tasks an explicit reconciliation got no answer for are asked again after this, doubling
# up to the cap (docs/reconciliation.md: "use truncated exponential backoff"; the master
# answers nothing for an agent that has not re-registered since it failed over).
RECONCILE_RETRY_FIRST_S = 1.0
RECONCILE_RETRY_CAP_S = 60.0
HOUSEKEEPING_TICK_S = 0.5  # how often retention and gauges look at their cadences
WAITING_GAUGE_S = 2.0  # how often hippo_waiting_tasks is read
# A leadership term ends within this even if a call is stuck in a library: a standby
# must not wait on the lock for it.
LEADER_SHUTDOWN_WAIT_S = 3.0

# --- Worker process (worker/main.py) -----------------------------------------------------
WORKER_STOP_WAIT_S = 15.0  # after SIGTERM, what may still run this long before it is cut

# --- The leader's report (shared/leader_status.py, GET /status/) ----------------------
LEADER_STATUS_EVERY_S = 2.0  # how often the leader writes its report
# The report's expiry: several missed writes, so a slow Redis call does not read as
# "no leader"; a dead leader's report is gone after this.
LEADER_STATUS_TTL_S = 15.0
# A run waiting this long while no offer at all came (seconds) is told so: with work
# waiting the leader has revived offers, so Mesos has nothing free to offer it.
NO_OFFERS_S = 60.0
# How long an API process reuses the report it read, for task answers (seconds).
LEADER_STATUS_CACHE_S = 1.0

# --- Dead letters (shared/deadletters.py) ---------------------------------------------
# Newest dead letters kept per queue; older ones are dropped as new ones arrive, so a
# queue whose every item fails cannot fill Redis. Each holds its item's data.
DEAD_LETTERS_PER_QUEUE = 10_000
# Runs of one item a dead letter lists (the chain of retries, newest kept).
DEAD_LETTER_RUNS = 100
# Pushes of one dead letter to its queue's deadletter_target before it is given up
# (1 s between the first two, doubling up to 300 s, as callbacks).
DEAD_LETTER_PUSH_ATTEMPTS = 10

# --- Callbacks (worker/callbacks.py) --------------------------------------------------
CALLBACK_RETRY_FIRST_S = 1.0  # wait after a callback's first failed send, doubling
CALLBACK_RETRY_MAX_S = 300.0  # the longest wait between two sends of one callback
CALLBACKS_AT_ONCE = 32  # sends one worker has in flight at most
CALLBACK_IDLE_S = 0.5  # longest wait between two looks at an outbox (worker/outbox.py)
