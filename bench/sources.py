"""Ingest: Redis-list items turned into stored tasks per second by 1, 2 and 4 polling
workers, Redis commands per item, and the CPU idle queues cost; beside a bare mover
(LMOVE -> HSET with a minimal script) as the physical reference."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import redis

from bench.common import HIPPO_LOG_ENV, RedisServer, cpu_seconds, measure, step
from hippo.shared.model import parse_queue
from hippo.shared.queues import seal_queue
from hippo.shared.records import TASK_RECORD_TEMPLATE
from hippo.shared.secrets import SecretBox
from hippo.shared.settings import Settings
from hippo.shared.sources import load_sources
from hippo.shared.store import Store, connect
from hippo.shared.store.keys import Keys

ORDER = 20


class Bench:
    def __init__(self) -> None:
        self.server = RedisServer()
        self.port = self.server.port
        self.url = self.server.url
        self.redis = self.server.client
        self.workers: list[subprocess.Popen[bytes]] = []

    def close(self) -> None:
        self.stop_workers()
        self.server.stop()

    def start_workers(self, count: int, **env: str) -> None:
        for _ in range(count):
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "hippo.worker.polling"],
                    env={
                        **os.environ,
                        "HIPPO_REDIS_URL": self.url,
                        **HIPPO_LOG_ENV,
                        **env,
                    },
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.workers = []

    def create_queues(self, bodies: list[dict[str, Any]]) -> None:
        settings = Settings.from_env({"HIPPO_REDIS_URL": self.url})
        sources = load_sources()
        box = SecretBox(settings.cipher_keys)

        async def create() -> None:
            client = connect(self.url)
            store = Store(client, Keys(settings.redis_prefix))
            for body in bodies:
                definition, source_settings = parse_queue(body, sources)
                spec, status = seal_queue(
                    definition, source_settings, sources[definition.queue.type], box
                )
                await store.create_queue(body["id"], spec, status, now=time.time())
            await client.aclose()

        asyncio.run(create())

    def queue_body(self, queue_id: str, list_name: str, frequency_s: float) -> dict[str, Any]:
        return {
            "id": queue_id,
            "container": {"docker": {"image": "busybox"}},
            "mem": 32,
            "cpus": 0.1,
            "cmd": "echo $HIPPO_DATA",
            "queue": {
                "type": "redis",
                "max_concurrent": 10_000_000,
                "batch_size": 1,
                "frequency_seconds": frequency_s,
                "redis": {"host": "127.0.0.1", "port": self.port, "db": 1, "name": list_name},
            },
        }

    def stored(self, queue_ids: list[str]) -> int:
        pipe = self.redis.pipeline()
        for queue_id in queue_ids:
            pipe.zcard(f"hippo:tasks:queue:{queue_id}")
        return sum(pipe.execute())


def throughput(queues: int, items_per_queue: int, workers: int) -> dict[str, float]:
    """Items/s turned into stored tasks, from the first stored task to the last, and
    Redis commands per item (INFO commandstats, Lua's own calls included, without the
    benchmark's own ZCARDs); the bare mover's items/s with as many processes."""
    bench = Bench()
    try:
        source = redis.Redis(port=bench.port, db=1)
        ids = [f"bench-{n}" for n in range(queues)]
        fill(source, queues, items_per_queue)
        bench.create_queues([bench.queue_body(i, f"list-{n}", 1.0) for n, i in enumerate(ids)])
        total = queues * items_per_queue
        before = commands(bench.redis)
        bench.start_workers(workers)
        own = 0
        first = 0
        while (first := bench.stored(ids)) == 0:
            own += queues
            time.sleep(0.005)
        started = time.monotonic()
        deadline = started + 300
        while (done := bench.stored(ids)) < total:
            own += queues
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {total} stored after 300 s")
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        used = sum(commands(bench.redis).values()) - sum(before.values()) - own - queues
        bench.stop_workers()
        source.flushdb()
        fill(source, queues, items_per_queue)
        before = commands(bench.redis)
        bare = bare_ingest(bench.port, [f"list-{n}" for n in range(queues)], workers, total)
        bare_used = sum(commands(bench.redis).values()) - sum(before.values())
        source.close()
        return {
            "rate": (total - first) / elapsed,
            "commands_per_item": used / total,
            "bare": bare,
            "bare_commands_per_item": bare_used / total,
        }
    finally:
        bench.close()


def fill(source: redis.Redis, queues: int, items_per_queue: int) -> None:
    for n in range(queues):
        for start in range(0, items_per_queue, 10_000):
            source.lpush(
                f"list-{n}",
                *[f"item-{i}" for i in range(start, min(start + 10_000, items_per_queue))],
            )


def commands(r: redis.Redis) -> dict[str, int]:
    stats = r.info("commandstats")
    return {k: int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info"}


# The bare mover: up to 1,000 items from the list to a processing list (LMOVE), one
# call; their records (HSET spec + status of Hippo's size, ZADD to the queue's index) in
# one pipeline; the processing list dropped. Three round trips per 1,000 items.
BARE_TAKE = """
local moved = {}
for i = 1, 1000 do
  local item = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not item then break end
  moved[#moved + 1] = item
end
return moved
"""


def _bare_mover(port: int, lists: list[str]) -> None:
    source, store = redis.Redis(port=port, db=1), redis.Redis(port=port, db=0)
    take = source.register_script(BARE_TAKE)
    spec = json.dumps({"container": {"docker": {"image": "busybox"}}, "cmd": "echo $HIPPO_DATA"})
    for name in lists:
        processing = f"{name}:processing"
        while items := take(keys=[name, processing]):
            pipe = store.pipeline(transaction=False)
            now = time.time()
            for item in items:
                mid = f"bare.{uuid.uuid4()}"
                status = {
                    **TASK_RECORD_TEMPLATE,
                    "id": "bare",
                    "mesos_id": mid,
                    "data": item.decode(),
                }
                status["created_tstamp"] = now
                pipe.hset(f"hippo:task:{mid}", mapping={"spec": spec, "status": json.dumps(status)})
                pipe.zadd(f"hippo:tasks:queue:{name}", {mid: now})
            pipe.execute()
            source.delete(processing)
    source.close()
    store.close()


def bare_ingest(port: int, lists: list[str], processes: int, total: int) -> float:
    """Items/s of `processes` bare movers sharing the lists."""
    context = multiprocessing.get_context("fork")
    shares = [lists[k::processes] for k in range(processes)]
    movers = [context.Process(target=_bare_mover, args=(port, share)) for share in shares if share]
    began = time.perf_counter()
    for mover in movers:
        mover.start()
    for mover in movers:
        mover.join(300)
    return total / (time.perf_counter() - began)


def idle_cpu(queues: int, frequency_s: float, window_s: float) -> tuple[float, float, int]:
    """(worker CPU % of one core, redis-server CPU %, queues polled in the window)."""
    bench = Bench()
    try:
        ids = [f"idle-{n}" for n in range(queues)]
        bench.create_queues(
            [bench.queue_body(i, f"empty-{n}", frequency_s) for n, i in enumerate(ids)]
        )
        bench.start_workers(1)
        worker = bench.workers[0]
        time.sleep(frequency_s + 3)  # warm-up: every queue polled once
        polls_before = _last_runs(bench, ids)
        cpu_before, redis_before = cpu_seconds(worker.pid), cpu_seconds(bench.server.pid)
        time.sleep(window_s)
        cpu = cpu_seconds(worker.pid) - cpu_before
        redis_cpu = cpu_seconds(bench.server.pid) - redis_before
        polls = sum(a != b for a, b in zip(polls_before, _last_runs(bench, ids), strict=True))
        return 100 * cpu / window_s, 100 * redis_cpu / window_s, polls
    finally:
        bench.close()


def _bare_poller(port: int, queues: int, frequency_s: float) -> None:
    """Every `frequency_s`, one LMOVE per (empty) list, pipelined: the least an idle poll
    asks of Redis."""
    source = redis.Redis(port=port, db=1)
    while True:
        began = time.monotonic()
        pipe = source.pipeline(transaction=False)
        for n in range(queues):
            pipe.lmove(f"empty-{n}", f"empty-{n}:processing", "RIGHT", "LEFT")
        pipe.execute()
        time.sleep(max(0.0, frequency_s - (time.monotonic() - began)))


def bare_idle(queues: int, frequency_s: float, window_s: float) -> tuple[float, float]:
    """(bare poller CPU % of one core, redis-server CPU %) over the window."""
    bench = Bench()
    poller = multiprocessing.get_context("fork").Process(
        target=_bare_poller, args=(bench.port, queues, frequency_s), daemon=True
    )
    try:
        poller.start()
        time.sleep(frequency_s)
        assert poller.pid is not None
        cpu_before, redis_before = cpu_seconds(poller.pid), cpu_seconds(bench.server.pid)
        time.sleep(window_s)
        cpu = cpu_seconds(poller.pid) - cpu_before
        redis_cpu = cpu_seconds(bench.server.pid) - redis_before
        return 100 * cpu / window_s, 100 * redis_cpu / window_s
    finally:
        poller.terminate()
        poller.join(10)
        bench.close()


def _last_runs(bench: Bench, ids: list[str]) -> list[bytes | None]:
    pipe = bench.redis.pipeline()
    for queue_id in ids:
        pipe.hget(f"hippo:queue:{queue_id}", "last_run_tstamp")
    return pipe.execute()  # type: ignore[no-any-return]


def run(quick: bool) -> dict[str, Any]:
    per_queue = 1_500 if quick else 12_500
    queues, frequency_s, window_s = (200, 1.0, 3.0) if quick else (1000, 10.0, 20.0)
    figures: dict[str, Any] = {}
    for workers in (1, 2, 4):
        with step(f"ingest 8 x {per_queue:,}, {workers} worker(s)"):
            figures[str(workers)] = throughput(8, per_queue, workers)
    with step(f"idle {queues} queues"):
        worker_cpu, redis_cpu, polls = idle_cpu(queues, frequency_s, window_s)
        bare_cpu, bare_redis_cpu = bare_idle(queues, frequency_s, window_s)
    measures = []
    for workers in ("1", "2", "4"):
        f = figures[workers]
        measures.append(
            measure(
                f"items/s stored, 8 Redis-list queues x {per_queue:,}, {workers} worker(s)",
                f["rate"],
                "items/s",
                reference=f["bare"],
                reference_name=f"bare mover, {workers} process(es)",
                goal="≥ 5,000" if workers == "1" else "",
            )
        )
    for workers in ("1", "2", "4"):
        f = figures[workers]
        measures.append(
            measure(
                f"Redis commands per item, {workers} worker(s)",
                f["commands_per_item"],
                "",
                reference=f["bare_commands_per_item"],
                reference_name="bare mover",
                better="lower",
            )
        )
    per_queue_poll_ms = worker_cpu / 100 * window_s * 1000 / max(polls, 1)
    measures += [
        measure(
            f"idle queues: worker CPU, {queues:,} empty queues polled every {frequency_s:g} s",
            worker_cpu,
            "% of a core",
            reference=bare_cpu,
            reference_name="bare poller",
            goal="< 10% (1,000 every 10 s)",
            better="lower",
        ),
        measure(
            "idle queues: redis-server CPU, same",
            redis_cpu,
            "% of a core",
            reference=bare_redis_cpu,
            reference_name="bare poller",
            better="lower",
        ),
        measure("idle queues: worker CPU per idle poll", per_queue_poll_ms, "ms", better="lower"),
    ]
    return {
        "title": "Ingest (queue polling)",
        "measures": measures,
        "charts": [
            {
                "file": "bench-ingest-rate.png",
                "title": "Items stored per second by polling workers",
                "x_label": "workers (processes)",
                "y_label": "items/s",
                "series": [
                    {"label": "Hippo", "points": [[int(w), f["rate"]] for w, f in figures.items()]},
                    {
                        "label": "bare mover",
                        "points": [[int(w), f["bare"]] for w, f in figures.items()],
                        "reference": True,
                    },
                ],
            }
        ],
        "figures": figures,
        "idle": {
            "queues": queues,
            "frequency_s": frequency_s,
            "window_s": window_s,
            "polls": polls,
        },
        "notes": NOTES,
    }


NOTES = """
**How.** A private redis-server (source lists in its db 1); polling-only worker
processes (`python -m hippo.worker.polling`, default settings: `HIPPO_POLL_MAX_ITEMS`
1000, `HIPPO_POLL_CONCURRENCY` 16); queues with `batch_size` 1 and `max_concurrent`
10,000,000 (no backpressure: no leader runs tasks). Rate: stored task records per second
from the first to the last. Commands per item: `INFO commandstats` deltas over the run
(commands inside Lua scripts included) over the items. Idle queues: CPU of one worker and
of redis-server from /proc over the window, after every queue was polled once.

**Reference (bare mover).** The same items moved by as many processes with no Hippo
logic: one Lua call LMOVEs up to 1,000 items to a processing list, one pipeline writes
each item's record (HSET spec + a status of Hippo's record size, ZADD to the queue's
index), then the processing list is dropped: the least an at-least-once mover does.
The idle queues' reference (bare poller) sends one LMOVE per
empty list every period, pipelined. On 2 cores, workers and redis-server share the CPUs, so more than 2 processes add little.
"""
