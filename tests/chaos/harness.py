"""The fault-run harness: a whole Hippo of real processes under steady load, and what a
run collects for tests/chaos/checker.py.

A `Rig` (the `make_rig` fixture of tests/chaos/conftest.py builds one per run) holds:
- its own redis-server (AOF on, fsync always), which `restart_redis` stops and starts
  again on the same port and directory;
- a dev master on a background thread of the test process (`rig.devmaster`, a
  devmaster.server.DevMaster; its HTTP routes are at `rig.devmaster.url`);
- `workers` `python -m hippo worker` processes (2 by default, with RIG_ENV and
  `worker_env`) in `rig.cluster`, a tests.worker.conftest.Cluster (`rig.leader()`;
  more with `rig.cluster.start_worker(**env)`), with short timings (FAST, RIG_ENV);
- a `python -m hippo api` process (`rig.api_url`);
- after `rig.start_load()`: a thread that every LOAD_PERIOD_S pushes one item to a
  Redis-list queue (`rig.load_queue`, capped at LOAD_QUEUE_CAP) and POSTs one one-off
  task on average (every third tick ONE_OFF_CAP + 1 at once for one of the ids
  `oneoff-0..2`, capped at ONE_OFF_CAP), recording every API answer, and a
  thread sampling the runs live at the dev master per task id against `rig.caps`.

A fault test: build the rig, start workers and load, inject the fault inside
`with rig.fault():` (its start and end are the recovery clock's marks), then
`result = rig.finish()`: stops the load, sends a probe (one item, one task) whose
completion is the recovery time, waits (bounded) until every item ran and every run
ended, collects the task records, and returns the checker's verdict (appended to
HIPPO_CHAOS_REPORT). `assert_kept(result)` fails the test on any broken promise.

Items a test puts into a source itself: `rig.expect(queue_id, data)` for each. Keys
are as in checker.py (`source:<queue>:<data>`, `task:<CHAOS_ITEM or task id>`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from hippo.devmaster.config import MasterConfig
from hippo.devmaster.server import DevMaster
from hippo.shared.store.keys import Keys
from tests.chaos.checker import (
    SUCCESS,
    TERMINAL,
    Answer,
    Collected,
    Run,
    RunResult,
    Sample,
    append_report,
    check,
)
from tests.conftest import DEADLINE_SCALE, RedisServer, start_hippo_api, stop_process, wait_until
from tests.worker.conftest import Cluster, WorkerProcess

PREFIX = "hippo:"
KEYS = Keys(PREFIX)
SOURCE_DB = 1  # the Redis-list sources live beside Hippo's keys, in database 1
LOAD_PERIOD_S = 0.1
LOAD_QUEUE_CAP = 5
ONE_OFF_IDS = 3
ONE_OFF_CAP = 2
SAMPLE_PERIOD_S = 0.05
RECOVERY_WAIT_S = 30  # times DEADLINE_SCALE
# What every process of a rig runs with (the API too): no record trimmed by the per-id
# retention (keep 100 runs per id by default: a one-off id of the load makes hundreds in
# a long run on a loaded machine, and a trimmed success would read as a lost item), and
# fast failover and leases, so a run takes seconds.
RETENTION_ENV = {"HIPPO_TASK_RETENTION_PER_ID": "1000000"}
RIG_ENV = {
    **RETENTION_ENV,
    "HIPPO_QUEUE_LEASE_S": "2",
    "HIPPO_POLL_IDLE_S": "0.05",
    "HIPPO_POLL_RETRY_S": "0.5",
    "HIPPO_RECONCILE_INTERVAL_S": "5",
}
JOB = {"container": {"docker": {"image": "alpine"}}, "cpus": 0.01, "mem": 1, "cmd": "true"}
LIVE = frozenset({"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING"})


def assert_kept(result: RunResult) -> None:
    """Fail with every broken promise of the run, in words."""
    assert not result.failures(), f"{result.fault}: " + "; ".join(result.failures())


def item_of(spec: dict[str, Any], status: dict[str, Any]) -> str:
    """The checker's item key of a task record (see checker.py)."""
    env = spec.get("env") or {}
    if "CHAOS_ITEM" in env:
        return f"task:{env['CHAOS_ITEM']}"
    if status.get("queue_id"):
        return f"source:{status['queue_id']}:{env.get('HIPPO_DATA', '')}"
    return f"task:{status['id']}"


def read_runs(client: redis.Redis) -> list[tuple[Run, dict[str, Any], dict[str, Any]]]:
    """Every task record in Redis as (Run, spec, status)."""
    keys = list(client.scan_iter(f"{PREFIX}task:*", count=1000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, "spec", "status")
    found = []
    for spec_raw, status_raw in pipe.execute():
        if not spec_raw or not status_raw:
            continue
        spec, status = json.loads(spec_raw), json.loads(status_raw)
        run = Run(status["mesos_id"], item_of(spec, status), status["mesos_state"])
        found.append((run, spec, status))
    return found


class Rig:
    """One fault run's Hippo; see the module docstring. Stop it with `stop()`."""

    def __init__(
        self,
        fault: str,
        tmp: Path,
        workers: int = 2,
        worker_env: dict[str, str] | None = None,
        **master: Any,
    ) -> None:
        self.collected = Collected(fault=fault)
        self.started_at = time.monotonic()
        (tmp / "redis").mkdir(parents=True)
        self.redis_server = RedisServer(tmp / "redis", appendonly=True)
        self.redis_server.start()
        self.redis_url = self.redis_server.url
        options: dict[str, Any] = {
            "agents": 2,
            "cpus": 64,
            "mem_mb": 100_000,
            "simulate_s": 0.2,
            "allocation_interval_s": 0.2,
            "update_retry_s": 1.0,
            "remove_work_dir_on_stop": True,
            **master,
        }
        self.devmaster = DevMaster(MasterConfig(**options)).start()
        self.cluster = Cluster(self.redis_url, self.devmaster, tmp)
        # The workers start (and import) while the API does: a rig is ready sooner.
        for _ in range(workers):
            self.cluster.start_worker(**{**RIG_ENV, **(worker_env or {})})
        self._api_process, self.api_url = start_hippo_api(self.redis_url, **RETENTION_ENV)
        self.http = httpx.Client(base_url=self.api_url, timeout=10)
        self.caps: dict[str, int] = {f"oneoff-{k}": ONE_OFF_CAP for k in range(ONE_OFF_IDS)}
        self.redis_away = False
        self.fault_started_at: float | None = None
        self.fault_ended_at: float | None = None
        self._clock_from: float | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        # No retries: a push while Redis is away fails at once (redis-py would retry for
        # about 4 s by default, stalling the load).
        self.source = redis.Redis(
            port=self.redis_server.port, db=SOURCE_DB, retry=Retry(NoBackoff(), 0)
        )
        self.load_queue = self.create_queue(
            "redis", self.redis_list("load"), max_concurrent=LOAD_QUEUE_CAP
        )
        self.probe_queue = self.create_queue("redis", self.redis_list("probe"))

    # --- what a test uses -------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self.started_at

    def redis_list(self, name: str) -> dict[str, Any]:
        """Settings of a Redis-list source on the rig's Redis (database SOURCE_DB)."""
        return {"host": "127.0.0.1", "port": self.redis_server.port, "db": SOURCE_DB, "name": name}

    def create_queue(
        self,
        queue_type: str,
        settings: dict[str, Any],
        max_concurrent: int = 10,
        queue_id: str = "",
        **block: Any,
    ) -> str:
        """A queue through the API (frequency 0.1 s unless given); its id is capped."""
        queue_id = queue_id or f"{queue_type}-{uuid.uuid4().hex[:6]}"
        body = {
            **JOB,
            "id": queue_id,
            "queue": {
                "type": queue_type,
                "frequency_seconds": 0.1,
                "max_concurrent": max_concurrent,
                **block,
                queue_type: settings,
            },
        }
        response = self.http.post("/queues/", json=body)
        assert response.status_code == 201, response.text
        self.caps[queue_id] = max_concurrent
        return queue_id

    def expect(self, queue_id: str, data: str) -> None:
        """A source item the test put in itself: it must become one successful task."""
        with self._lock:
            self.collected.items.add(f"source:{queue_id}:{data}")

    def leader(self) -> WorkerProcess:
        """The worker leading now, once one leads."""
        return self.cluster.leader(timeout_s=30)

    def start_load(self) -> None:
        for target in (self._load, self._sample):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        # The load is steady before any fault: something ran end to end.
        wait_until(self._some_finished, 30, "the load's first runs to finish")

    @contextlib.contextmanager
    def fault(self, clock_from_end: bool = False) -> Iterator[None]:
        """Marks the fault's start and end. The recovery clock runs from its start
        (a SIGKILL, a SIGSTOP: Hippo must recover while it lasts), or from its end when
        `clock_from_end` (Redis away: nothing can recover before it is back)."""
        self.fault_started_at = self.now()
        try:
            yield
        finally:
            self.fault_ended_at = self.now()
            self._clock_from = self.fault_ended_at if clock_from_end else self.fault_started_at

    def restart_redis(self, while_away: Callable[[], object] | None = None) -> None:
        """Stop Hippo's Redis, call `while_away` (e.g. wait for 503s), start it again on
        the same port and directory (its AOF brings every write back)."""
        self.collected.redis_restarted = True
        with self._lock:
            self.redis_away = True
        self.redis_server.stop()
        try:
            if while_away is not None:
                while_away()
        finally:
            self.redis_server.start()
            with self._lock:
                self.redis_away = False

    def answers(self, status: int) -> int:
        with self._lock:
            return sum(1 for a in self.collected.answers if a.status == status)

    def finish(
        self, recovered: Callable[[], object] | None = None, settle_s: float = 30
    ) -> RunResult:
        """Measure recovery (see `_probe`; `recovered` is the fault's own sign of it),
        stop the load, let every item run and every run end (bounded by `settle_s` times
        DEADLINE_SCALE: what is left then is reported, not waited for), collect, check,
        report."""
        self._probe(recovered)
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        deadline = time.monotonic() + settle_s * DEADLINE_SCALE
        while not self._settled() and time.monotonic() < deadline:
            time.sleep(0.2)
        with self._lock:
            self.collected.runs = [run for run, _, _ in read_runs(self.cluster.redis)]
        result = check(self.collected)
        append_report(result)
        return result

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        self.http.close()
        stop_process(self._api_process)
        self.cluster.stop()
        self.devmaster.stop()
        self.source.close()
        self.redis_server.stop()

    # --- the load, the sampler, the probe -------------------------------------------

    def post_task(self, task_id: str, max_concurrent: int = 1) -> str:
        """POST one one-off task; records the answer and the item; returns its key."""
        key = uuid.uuid4().hex
        body = {**JOB, "id": task_id, "max_concurrent": max_concurrent, "env": {"CHAOS_ITEM": key}}
        with self._lock:
            away = self.redis_away
        at = self.now()
        try:
            status = self.http.post("/tasks/", json=body).status_code
        except httpx.TransportError:
            status = 0
        with self._lock:
            self.collected.answers.append(Answer(at, status, away or self.redis_away))
            if status == 201:
                self.collected.items.add(f"task:{key}")
            elif status == 0 or status >= 500:
                self.collected.maybe_items.add(f"task:{key}")
        return f"task:{key}" if status == 201 else ""

    def push_item(self, queue_id: str, name: str, data: str) -> bool:
        """LPUSH one item to a Redis-list source; an item whose push may or may not have
        happened (the connection dropped) is `maybe`."""
        try:
            self.source.lpush(name, data)
        except redis.RedisError:
            with self._lock:
                self.collected.maybe_items.add(f"source:{queue_id}:{data}")
            return False
        self.expect(queue_id, data)
        return True

    def _load(self) -> None:
        n = 0
        while not self._stop.wait(LOAD_PERIOD_S):
            self.push_item(self.load_queue, "load", f"item-{n}")
            # Every third tick, one more than the cap of one id at once: without the
            # cap, they would launch in the same offer round and run together.
            if n % (ONE_OFF_CAP + 1) == 0:
                task_id = f"oneoff-{n // (ONE_OFF_CAP + 1) % ONE_OFF_IDS}"
                for _ in range(ONE_OFF_CAP + 1):
                    self.post_task(task_id, ONE_OFF_CAP)
            n += 1

    def _live_runs(self) -> list[str]:
        master = self.devmaster.master
        assert master is not None
        return [
            task.task_id
            for framework in master.frameworks.values()
            for task in framework.tasks.values()
            if task.state in LIVE
        ]

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_PERIOD_S):
            try:
                live = self.devmaster.call(self._live_runs)
            except Exception:  # the dev master stopping under us ends the sampling
                return
            counts: dict[str, int] = {}
            for mesos_id in live:
                task_id = mesos_id.rsplit(".", 1)[0]
                counts[task_id] = counts.get(task_id, 0) + 1
            at = self.now()
            with self._lock:
                self.collected.samples += [
                    Sample(at, key, n, self.caps[key])
                    for key, n in counts.items()
                    if key in self.caps
                ]

    def _some_finished(self) -> bool:
        return bool(self.cluster.redis.zcard(KEYS.tasks_by_state(SUCCESS)))

    def _finished_runs(self) -> int | None:
        """Runs recorded TASK_FINISHED so far (None while Redis does not answer)."""
        try:
            return int(self.cluster.redis.zcard(KEYS.tasks_by_state(SUCCESS)))
        except redis.RedisError:
            return None

    def _probe(self, recovered: Callable[[], object] | None) -> None:
        """After the fault: the recovery time runs from its start (or end, see `fault`)
        until Hippo records a run finished again (only a leader records) and `recovered`
        holds (waited for RECOVERY_WAIT_S at most: never recovering is reported, as
        None, not raised). Then a probe, one task and one item of a queue of its own,
        items like any other: they must run end to end by the time the run settles."""
        start = self._clock_from if self._clock_from is not None else self.now()
        deadline = time.monotonic() + RECOVERY_WAIT_S * DEADLINE_SCALE
        before = None
        while before is None and time.monotonic() < deadline:
            before = self._finished_runs()
        while time.monotonic() < deadline:
            count = self._finished_runs()
            if count is not None and count > (before or 0) and (recovered is None or recovered()):
                self.collected.recovery_s = round(self.now() - start, 3)
                break
            time.sleep(0.02)
        while not self.post_task("probe") and time.monotonic() < deadline:
            time.sleep(0.05)
        data = f"probe-{uuid.uuid4().hex[:6]}"
        while not self.push_item(self.probe_queue, "probe", data) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _settled(self) -> bool:
        r = self.cluster.redis
        for key in r.scan_iter(f"{PREFIX}tasks:state:*"):
            if key.decode().rsplit(":", 1)[1] not in TERMINAL and r.zcard(key):
                return False
        runs = [run for run, _, _ in read_runs(r)]
        done = {run.item for run in runs if run.state == SUCCESS}
        with self._lock:
            return self.collected.items <= done
