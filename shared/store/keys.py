"""Every Redis key Hippo uses, built from one prefix (HIPPO_REDIS_PREFIX).

The one definition of key names: the Lua scripts get them from here too, through the
prelude shared/lua.py generates from these builders (`K.tasks_active_by_id(id)` in Lua
is `Keys.tasks_active_by_id` here; tests/test_data_layout.py holds the two together).
Scripts compute keys from the records they read, so Hippo needs a standalone Redis (or
Sentinel), not Redis Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str

    def task(self, mesos_id: str) -> str:
        """HASH spec (definition JSON), status (record JSON, flat), seq (creation order)."""
        return f"{self.prefix}task:{mesos_id}"

    @property
    def tasks_seq(self) -> str:
        """Counter giving each task its creation order (the score of every task index)."""
        return f"{self.prefix}tasks:seq"

    @property
    def tasks_all(self) -> str:
        """ZSET mesos_id by creation order: every task record."""
        return f"{self.prefix}tasks:all"

    def tasks_by_state(self, state: str) -> str:
        """ZSET mesos_id by creation order, one per state; WAITING_ON_OFFERS is the FIFO."""
        return f"{self.prefix}tasks:state:{state}"

    def tasks_by_id(self, task_id: str) -> str:
        """ZSET mesos_id by creation order, the runs of one task id."""
        return f"{self.prefix}tasks:id:{task_id}"

    def tasks_by_queue(self, queue_id: str) -> str:
        """ZSET mesos_id by creation order, the tasks a queue made."""
        return f"{self.prefix}tasks:queue:{queue_id}"

    def tasks_open_by_queue(self, queue_id: str) -> str:
        """ZSET mesos_id by creation order: a queue's tasks not yet finished (waiting or
        active); its size is the queue's backpressure."""
        return f"{self.prefix}tasks:open:queue:{queue_id}"

    def tasks_active_by_id(self, task_id: str) -> str:
        """ZSET mesos_id: launched, unfinished runs of a task id (its max_concurrent)."""
        return f"{self.prefix}tasks:active:id:{task_id}"

    def tasks_active_by_queue(self, queue_id: str) -> str:
        """ZSET mesos_id: launched, unfinished tasks of a queue (the queue's max_concurrent)."""
        return f"{self.prefix}tasks:active:queue:{queue_id}"

    def tasks_waiting_by_id(self, task_id: str) -> str:
        """ZSET mesos_id by creation order: the waiting runs of one task id."""
        return f"{self.prefix}tasks:waiting:id:{task_id}"

    @property
    def tasks_waiting_ids(self) -> str:
        """ZSET task id -> seq of its oldest waiting run: the order offer rounds take ids in."""
        return f"{self.prefix}tasks:waiting:ids"

    @property
    def task_caps(self) -> str:
        """HASH task id -> max_concurrent, while runs of the id wait (rounds pre-filter)."""
        return f"{self.prefix}tasks:caps"

    @property
    def tasks_finished(self) -> str:
        """ZSET mesos_id by finish time: what retention trims by age."""
        return f"{self.prefix}tasks:finished"

    def tasks_finished_by_id(self, task_id: str) -> str:
        """ZSET mesos_id by finish time per task id: what retention trims by count."""
        return f"{self.prefix}tasks:finished:id:{task_id}"

    @property
    def tasks_delayed(self) -> str:
        """ZSET mesos_id -> when it may launch (unix s): delayed retries, waiting but not
        yet launchable (not in the waiting-by-id indexes, not counted as waiting)."""
        return f"{self.prefix}tasks:delayed"

    @property
    def tasks_staging_since(self) -> str:
        """ZSET mesos_id -> when it entered TASK_STAGING (unix s): the runs staging now,
        so the leader reads only those staging too long (worker/reconciliation.py)."""
        return f"{self.prefix}tasks:staging:since"

    @property
    def tasks_pending_deadlines(self) -> str:
        """ZSET mesos_id -> by when an offer must be taken for it (max_pending_seconds)."""
        return f"{self.prefix}tasks:deadline:pending"

    @property
    def tasks_runtime_deadlines(self) -> str:
        """ZSET mesos_id -> by when it must have ended (max_runtime_seconds), unix s."""
        return f"{self.prefix}tasks:deadline:runtime"

    @property
    def kills(self) -> str:
        """SET of mesos_ids whose kill was requested and not yet sent to Mesos."""
        return f"{self.prefix}kills"

    def task_dedupe(self, digest: str) -> str:
        """STRING mesos_id of the last one-off task posted with this digest of its cmd and
        image (HIPPO_DEDUPE_ONE_OFF_TASKS); deleted with that task's record."""
        return f"{self.prefix}tasks:dedupe:{digest}"

    def idempotency(self, key: str) -> str:
        """STRING mesos_id of the task a POST with this Idempotency-Key created (with TTL)."""
        return f"{self.prefix}idem:task:{key}"

    @property
    def events(self) -> str:
        """Pub/sub channel: `waiting` when tasks are created, `kill` when a kill is requested."""
        return f"{self.prefix}events"

    def queue(self, queue_id: str) -> str:
        """HASH spec (definition JSON, secrets encrypted), status, created_tstamp, the
        poll fields (last_run_tstamp, last_error, last_error_tstamp, items_taken,
        tasks_created) and the poller's own (poll_lease, poll_watermark, poll_failures,
        poll_generation, and poll_spec: the spec that generation polls under)."""
        return f"{self.prefix}queue:{queue_id}"

    @property
    def queues(self) -> str:
        """ZSET queue id by creation time."""
        return f"{self.prefix}queues"

    # --- dead letters (a queue's items that will not run again by themselves) ---

    def deadletters(self, queue_id: str) -> str:
        """HASH dead letter id -> its record JSON (shared/deadletters.py), one per queue."""
        return f"{self.prefix}deadletters:{queue_id}"

    def deadletters_order(self, queue_id: str) -> str:
        """ZSET dead letter id -> seq (deadletters:seq): a queue's dead letters in order."""
        return f"{self.prefix}deadletters:order:{queue_id}"

    @property
    def deadletters_push_due(self) -> str:
        """ZSET `<queue id> <dead letter id>` -> when its push to the queue's
        deadletter_target is due (or its pusher's lease ends)."""
        return f"{self.prefix}deadletters:push:due"

    @property
    def deadletters_push_attempts(self) -> str:
        """HASH `<queue id> <dead letter id>` -> pushes of it that failed."""
        return f"{self.prefix}deadletters:push:attempts"

    @property
    def deadletters_seq(self) -> str:
        """Counter ordering dead letters (their score, and the cursor of a listing)."""
        return f"{self.prefix}deadletters:seq"

    # --- callbacks (worker/callbacks.py) ---

    def callback(self, delivery_id: str) -> str:
        """HASH url, secret (encrypted, '' for none), body (the JSON POSTed, fixed when the
        run ended), attempts: one callback waiting to be delivered (its id: the run's
        mesos_id)."""
        return f"{self.prefix}callback:{delivery_id}"

    @property
    def callbacks_due(self) -> str:
        """ZSET delivery id -> when it is next due (or its sender's lease expires)."""
        return f"{self.prefix}callbacks:due"

    # --- polling ---

    @property
    def queues_due(self) -> str:
        """ZSET queue id -> when it is next due to be polled (or its lease expires)."""
        return f"{self.prefix}queues:due"

    def queue_item(self, queue_id: str, item_key: str) -> str:
        """STRING marking a source item's idempotency key as seen by a queue (with TTL)."""
        return f"{self.prefix}idem:item:{queue_id}:{item_key}"

    @property
    def queue_generations(self) -> str:
        """Counter numbering the generations of queues: the settings a queue is polled
        under, new at its first poll and when an edit moves its in-flight items."""
        return f"{self.prefix}queues:generations"

    @property
    def queues_drain(self) -> str:
        """ZSET generation -> when to drain it next: retired generations (a deleted queue,
        settings an edit replaced) whose in-flight items go back to their source."""
        return f"{self.prefix}queues:drain"

    def queue_drain(self, generation: str) -> str:
        """HASH queue_id, spec (the retired settings, secrets encrypted), created_tstamp,
        failures, lease (the token of the worker draining it)."""
        return f"{self.prefix}queues:drain:{generation}"

    # --- leader (worker) ---

    @property
    def leader_lock_name(self) -> str:
        """Name of the python-redis-lock leader lock (it keeps `lock:<name>`, the holder's
        id with the lock's expiry, and `lock-signal:<name>`)."""
        return f"{self.prefix}leader"

    @property
    def leader_lock(self) -> str:
        """STRING id of the worker holding the leader lock (python-redis-lock's key)."""
        return f"lock:{self.leader_lock_name}"

    @property
    def leader_epoch(self) -> str:
        """Counter: the current leader's fencing number; every leader write checks it."""
        return f"{self.prefix}leader:epoch"

    @property
    def framework_id(self) -> str:
        """STRING the Mesos framework id, saved at the first SUBSCRIBED and reused."""
        return f"{self.prefix}framework_id"

    @property
    def leader_status(self) -> str:
        """STRING JSON: what the leader knows of Mesos (worker/leader_status.py), written
        every few seconds with an expiry, so its absence means no leader."""
        return f"{self.prefix}leader:status"
