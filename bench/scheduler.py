"""Scheduler benchmark: launches/s, offer-round cost vs finished records, creation-to-ACCEPT
p99 with offers outstanding, leader failover (SIGKILL) and handover (SIGTERM) times, kill
latency, and the dev master's --simulate answering one ACCEPT of 3,000 tasks.

Starts its own redis-server and `hippo devmaster --simulate` (10 agents with ample
resources) on free ports; workers are `python -m hippo worker` processes, except for the
round-time and latency phases, which drive the leader's own code (LeaderSession) in this
process to time it from inside.

    python bench/scheduler.py [--write docs/benchmarks.md] [--skip-million]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import redis

from hippo.shared.records import TASK_RECORD_TEMPLATE
from hippo.shared.settings import Settings
from hippo.shared.store import connect, task_scripts
from hippo.shared.store.keys import Keys
from hippo.shared.store.leadership import LeaderStore
from hippo.worker.matching import OfferView
from hippo.worker.mesos import FrameworkSettings, MesosSchedulerClient, Offers, Update
from hippo.worker.mesos.messages import offer_role, task_info
from hippo.worker.metrics import WorkerMetrics
from hippo.worker.offer_book import HeldOffer
from hippo.worker.session import LeaderSession

PREFIX = "hippo:"
KEYS = Keys(PREFIX)
SPEC = json.dumps(
    {
        "container": {"docker": {"image": "alpine"}},
        "cpus": 0.01,
        "mem": 1,
        "cmd": "true",
        "task_retries": 0,
        "system_retries": 2,
        "max_concurrent": 1,
    }
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores (nproc), {cpu}, Python {platform.python_version()}"


class Services:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.redis_port = free_port()
        self.redis_proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp),
            ],
            stdout=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.r = redis.Redis(port=self.redis_port)
        wait(lambda: _pings(self.r), 10)
        self.devmaster: subprocess.Popen[bytes] | None = None
        self.master = ""
        self.workers: list[tuple[subprocess.Popen[bytes], int]] = []

    def start_devmaster(self, simulate_s: float) -> None:
        self.stop_devmaster()
        port = free_port()
        self.devmaster = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hippo",
                "devmaster",
                "--port",
                str(port),
                "--agents",
                "10",
                "--cpus",
                "100000",
                "--mem",
                "100000000",
                "--simulate",
                str(simulate_s),
                "--update-retry",
                "60",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        self.master = f"127.0.0.1:{port}"
        wait(lambda: _answers(f"http://{self.master}/state"), 15)

    def stop_devmaster(self) -> None:
        if self.devmaster is not None:
            self.devmaster.terminate()
            self.devmaster.wait(15)
            self.devmaster = None

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "HIPPO_REDIS_URL": self.url,
            "HIPPO_MESOS_MASTER": self.master,
            "HIPPO_LOG_LEVEL": "WARNING",
            **extra,
        }

    def start_worker(self, **extra: str) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        log = (self.tmp / f"worker{len(self.workers)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "hippo", "worker", "--metrics-port", str(port)],
            env=self.env(**extra),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append((proc, port))
        wait(lambda: _answers(f"http://127.0.0.1:{port}/metrics"), 15)
        return proc, port

    def stop_workers(self) -> None:
        for proc, _ in self.workers:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(15)
        self.workers.clear()

    def close(self) -> None:
        self.stop_workers()
        self.stop_devmaster()
        self.r.close()
        self.redis_proc.terminate()
        self.redis_proc.wait(10)


def _pings(r: redis.Redis) -> bool:
    try:
        return bool(r.ping())
    except redis.ConnectionError:
        return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def wait(cond: Any, timeout_s: float, poll_s: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = cond()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s")
        time.sleep(poll_s)


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        text = r.read().decode()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def seed_waiting(r: redis.Redis, count: int, tag: str = "job") -> None:
    script = r.register_script(task_scripts.CREATE_TASKS)
    for start in range(0, count, 5000):
        pipe = r.pipeline(transaction=False)
        now = time.time()
        for n in range(start, min(count, start + 5000)):
            task_id = f"{tag}{n}"
            mid = f"{task_id}.{uuid.uuid4()}"
            script(
                args=[PREFIX, "", 60, mid, task_id, "", SPEC, _status(task_id, mid, now)],
                client=pipe,
            )
        pipe.execute()


def _status(task_id: str, mid: str, now: float) -> str:
    return json.dumps(
        {
            **TASK_RECORD_TEMPLATE,
            "id": task_id,
            "mesos_id": mid,
            "system_retries_left": 2,
            "created_tstamp": now,
            "updated_tstamp": now,
        }
    )


SEED_FINISHED = """
local p, first, last, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
for n = first, last do
  local id = 'old' .. n
  local mid = id .. '.x'
  redis.call('HSET', p .. 'task:' .. mid, 'spec', ARGV[5], 'status',
             '{"id":"' .. id .. '","mesos_id":"' .. mid .. '","mesos_state":"TASK_FINISHED"}',
             'seq', n)
  redis.call('ZADD', p .. 'tasks:all', n, mid)
  redis.call('ZADD', p .. 'tasks:state:TASK_FINISHED', n, mid)
  redis.call('ZADD', p .. 'tasks:id:' .. id, n, mid)
  redis.call('ZADD', p .. 'tasks:finished', now, mid)
  redis.call('ZADD', p .. 'tasks:finished:id:' .. id, now, mid)
end
return last - first + 1
"""


def seed_finished(r: redis.Redis, count: int) -> None:
    script = r.register_script(SEED_FINISHED)
    for first in range(1, count + 1, 20000):
        script(args=[PREFIX, first, min(count, first + 19999), time.time(), SPEC])


# --- phase 1: launches per second by one leader (a real worker process) -----------------


def launch_rate(svc: Services, count: int) -> tuple[float, float]:
    """Launches/s (first offer to the last ACCEPT answered) and the seconds from the first
    offer until every task is TASK_RUNNING in Redis. The master sends RUNNING only once
    STARTING is acknowledged, so the second figure includes the acknowledgements."""
    svc.r.flushall()
    svc.start_devmaster(simulate_s=3600)
    seed_waiting(svc.r, count)
    _, port = svc.start_worker(HIPPO_LOCK_EXPIRE_S="3")
    wait(lambda: metric(port, "hippo_offers_received_total") > 0, 30, 0.002)
    began = time.perf_counter()
    wait(lambda: metric(port, "hippo_tasks_launched_total") >= count, 120, 0.005)
    took = time.perf_counter() - began
    running = KEYS.tasks_by_state("TASK_RUNNING")
    wait(lambda: svc.r.zcard(running) >= count, 300, 0.005)
    to_running = time.perf_counter() - began
    svc.stop_workers()
    return count / took, to_running


# --- phase 2: one offer round, in process, with few or many finished records -------------


class StubClient:
    """Answers calls at once: the round is timed without Mesos' HTTP."""

    stream_id = "bench"

    async def launch(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def decline(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def suppress(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def revive(self, *args: Any, **kwargs: Any) -> None:
        return None


def offers(n: int = 10) -> dict[str, HeldOffer]:
    now = time.monotonic()
    return {
        f"O{i}": HeldOffer(OfferView(f"O{i}", f"S{i}", f"host{i}", {}, 100000.0, 1e8), now)
        for i in range(n)
    }


async def _rounds(url: str, waiting: int, repeats: int) -> list[float]:
    client = connect(url)
    await client.set(KEYS.leader_epoch, 1)
    store = LeaderStore(client, KEYS)
    session = LeaderSession(
        Settings.from_env({"HIPPO_REDIS_URL": url}), client, store, 1, WorkerMetrics()
    )
    stub = StubClient()
    times = []
    sync = redis.Redis.from_url(url)
    for rep in range(repeats):
        await client.delete(KEYS.tasks_by_state("WAITING_ON_OFFERS"))
        seed_waiting(sync, waiting, tag=f"r{rep}-")
        session.book.held = offers()
        began = time.perf_counter()
        launched = await session.round.once(stub)  # type: ignore[arg-type]
        times.append(time.perf_counter() - began)
        assert launched == waiting, launched
    sync.close()
    await client.aclose()
    return times


def round_time(svc: Services, finished: int, waiting: int = 1000) -> float:
    svc.r.flushall()
    seed_finished(svc.r, finished)
    return statistics.median(asyncio.run(_rounds(svc.url, waiting, 5)))


# --- phase 3: creation to ACCEPT with offers outstanding (the leader's code in process) ---


async def _latency(svc: Services, count: int, rate_per_s: float) -> list[float]:
    client = connect(svc.url)
    store = LeaderStore(client, KEYS)
    settings = Settings.from_env(
        {"HIPPO_REDIS_URL": svc.url, "HIPPO_MESOS_MASTER": svc.master, "HIPPO_OFFER_HOLD_S": "30"}
    )
    accepted: dict[str, float] = {}
    original = MesosSchedulerClient.launch

    async def timed_launch(
        self: MesosSchedulerClient, offer_ids: Any, infos: Any, refuse_s: float | None = None
    ) -> None:
        await original(self, offer_ids, infos, refuse_s)
        now = time.time()
        for info in infos:
            accepted[info["task_id"]["value"]] = now

    MesosSchedulerClient.launch = timed_launch  # type: ignore[method-assign]
    await client.set(KEYS.leader_epoch, 1)
    session = LeaderSession(settings, client, store, 1, WorkerMetrics())
    runner = asyncio.create_task(session.run())
    await asyncio.to_thread(wait, lambda: len(session.book.held) >= 10, 30)
    created: dict[str, float] = {}

    def create() -> None:
        r = redis.Redis.from_url(svc.url)
        script = r.register_script(task_scripts.CREATE_TASKS)
        for n in range(count):
            mid = f"lat{n}.{uuid.uuid4()}"
            now = time.time()
            script(args=[PREFIX, "", 60, mid, f"lat{n}", "", SPEC, _status(f"lat{n}", mid, now)])
            created[mid] = now
            time.sleep(1 / rate_per_s)
        r.close()

    await asyncio.to_thread(create)
    await asyncio.to_thread(wait, lambda: len(accepted) >= count, 30)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    MesosSchedulerClient.launch = original  # type: ignore[method-assign]
    await client.aclose()
    return [accepted[m] - t for m, t in created.items()]


def creation_to_accept(svc: Services, count: int = 1000, rate_per_s: float = 100) -> list[float]:
    svc.r.flushall()
    svc.start_devmaster(simulate_s=0.5)
    latencies = asyncio.run(_latency(svc, count, rate_per_s))
    return sorted(latencies)


# --- phase 4: failover (SIGKILL of the leader to the first launch by the new one) --------
# With sig=SIGTERM: the handover, the stopping leader releasing the lock for a standby.


def failover(
    svc: Services, runs: int = 5, lock_expire_s: int = 3, sig: int = signal.SIGKILL
) -> list[float]:
    svc.r.flushall()
    svc.start_devmaster(simulate_s=1)
    extra = {"HIPPO_LOCK_EXPIRE_S": str(lock_expire_s)}
    live = [svc.start_worker(**extra), svc.start_worker(**extra)]
    stop = threading.Event()

    def feed() -> None:  # always some work waiting
        r = redis.Redis.from_url(svc.url)
        n = 0
        while not stop.is_set():
            seed_waiting(r, 20, tag=f"f{n}-")
            n += 1
            time.sleep(0.1)
        r.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    times = []
    try:
        for _ in range(runs):
            leader = wait(
                lambda live=live: next(
                    (
                        w
                        for w in live
                        if metric(w[1], "hippo_worker_leader") == 1
                        and metric(w[1], "hippo_tasks_launched_total") > 0
                    ),
                    None,
                ),
                30,
                0.05,
            )
            standby = next(w for w in live if w is not leader)
            before = metric(standby[1], "hippo_tasks_launched_total")
            leader[0].send_signal(sig)
            killed = time.perf_counter()
            wait(
                lambda standby=standby, before=before: (
                    metric(standby[1], "hippo_tasks_launched_total") > before
                ),
                60,
                0.005,
            )
            times.append(time.perf_counter() - killed)
            leader[0].wait(30)  # after the timing: a stopping leader may exit after handing over
            live = [standby, svc.start_worker(**extra)]
    finally:
        stop.set()
        feeder.join(5)
        svc.stop_workers()
    return times


# --- phase 5: kill, requested in the store as the API does, to TASK_KILLED stored --------


def kill_latency(svc: Services, count: int = 20) -> list[float]:
    svc.r.flushall()
    svc.start_devmaster(simulate_s=3600)
    seed_waiting(svc.r, count, tag="kill")
    svc.start_worker(HIPPO_LOCK_EXPIRE_S="3")
    running, killed = KEYS.tasks_by_state("TASK_RUNNING"), KEYS.tasks_by_state("TASK_KILLED")
    request_kill = svc.r.register_script(task_scripts.REQUEST_KILL)  # the API's own script
    times = []
    try:
        wait(lambda: svc.r.zcard(running) >= count, 60, 0.01)
        for raw in svc.r.zrange(running, 0, -1):  # one at a time: each kill's own latency
            mid = raw.decode()
            began = time.perf_counter()
            outcome = request_kill(args=[PREFIX, mid, time.time(), 100])[0]
            assert outcome == b"requested", outcome
            wait(lambda mid=mid: svc.r.zscore(killed, mid) is not None, 30, 0.002)
            times.append(time.perf_counter() - began)
    finally:
        svc.stop_workers()
    return times


# --- phase 6: the dev master's --simulate, one ACCEPT of 3,000 tasks to their STARTING ---


async def _simulated_accept(master: str, count: int) -> float:
    client = MesosSchedulerClient(master, FrameworkSettings(name="bench", user="nobody"))
    client.start()
    began, updates = 0.0, 0
    try:
        async for event in client.events():  # no acknowledgements: STARTING is all that comes
            if isinstance(event, Offers) and not began:
                offer = event.offers[0]
                infos = [
                    task_info(
                        task_id=f"sim.{n}",
                        name="sim",
                        agent_id=offer["agent_id"]["value"],
                        command="true",
                        cpus=0.01,
                        mem_mb=1,
                        allocation_role=offer_role(offer),
                    )
                    for n in range(count)
                ]
                began = time.perf_counter()
                await client.launch([offer["id"]["value"]], infos)
            elif isinstance(event, Update) and began:
                updates += 1
                if updates == count:
                    return time.perf_counter() - began
    finally:
        await client.close()
    raise RuntimeError("the event stream ended before every STARTING update came")


def simulated_accept(svc: Services, count: int = 3000, runs: int = 3) -> list[float]:
    times = []
    for _ in range(runs):
        svc.start_devmaster(simulate_s=0.05)  # a fresh master each run
        times.append(asyncio.run(_simulated_accept(svc.master, count)))
    svc.stop_devmaster()
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def write_section(path: Path, body: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = "## Scheduler\n\n" + body.strip() + "\n"
    found = re.search(r"^## Scheduler\n.*?(?=^## |\Z)", text, re.M | re.S)
    if found:
        text = (
            text[: found.start()]
            + section
            + ("\n" if text[found.end() :] else "")
            + text[found.end() :]
        )
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, default=None, help="update this markdown file")
    parser.add_argument(
        "--skip-million",
        action="store_true",
        help="time the round with 100,000 finished records, not 1,000,000",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        svc = Services(Path(tmp))
        try:
            launches = {n: launch_rate(svc, n) for n in (1000, 10000)}
            rates = {n: rate for n, (rate, _) in launches.items()}
            to_running = {n: t for n, (_, t) in launches.items()}
            for n, rate in rates.items():
                print(
                    f"launches/s with {n:,} waiting: {rate:,.0f}; all TASK_RUNNING after "
                    f"{to_running[n]:.2f} s",
                    flush=True,
                )
            many = 100_000 if args.skip_million else 1_000_000
            rounds = {n: round_time(svc, n) for n in (1000, many)}
            for n, t in rounds.items():
                print(
                    f"offer round (1,000 launches), {n:,} finished records: {t * 1000:.1f} ms",
                    flush=True,
                )
            latencies = creation_to_accept(svc)
            p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
            print(
                f"creation to ACCEPT: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
                f"max {max(latencies) * 1000:.1f} ms",
                flush=True,
            )
            failovers = failover(svc)
            print(
                "failover (SIGKILL -> first launch by the new leader), lock expiry 3 s: "
                + ", ".join(f"{t:.2f} s" for t in failovers),
                flush=True,
            )
            handovers = failover(svc, lock_expire_s=30, sig=signal.SIGTERM)
            print(
                "handover (SIGTERM -> first launch by the new leader), lock expiry 30 s: "
                + ", ".join(f"{t:.2f} s" for t in handovers),
                flush=True,
            )
            kills = kill_latency(svc)
            print(
                f"kill (requested -> TASK_KILLED stored), {len(kills)} kills: median "
                f"{statistics.median(kills) * 1000:.1f} ms, max {max(kills) * 1000:.1f} ms",
                flush=True,
            )
            accepts = simulated_accept(svc)
            print(
                "dev master --simulate, one ACCEPT of 3,000 tasks to their 3,000 STARTING "
                "updates: " + ", ".join(f"{t:.2f} s" for t in accepts),
                flush=True,
            )
        finally:
            svc.close()
    if args.write:
        body = f"""
Measured by `python bench/scheduler.py --write docs/benchmarks.md` on {machine()};
Redis 7 and `hippo devmaster --simulate` (10 agents with ample resources) on the same
machine. Tasks: 0.01 cpus, 1 MB, `max_concurrent` 1, one task id each.

| measure | result | goal |
|---|---|---|
| launches/s by one leader, 1,000 waiting (first offer to last ACCEPT answered) | {rates[1000]:,.0f} | ≥ 1,000 |
| launches/s by one leader, 10,000 waiting | {rates[10000]:,.0f} | ≥ 1,000 |
| first offer to every task TASK_RUNNING stored (STARTING acknowledged first), 1,000 / 10,000 waiting | {to_running[1000]:.2f} / {to_running[10000]:.2f} s | |
| one offer round launching 1,000 tasks, 1,000 finished records stored | {rounds[1000] * 1000:.1f} ms | |
| one offer round launching 1,000 tasks, {many:,} finished records stored | {rounds[many] * 1000:.1f} ms | no growth |
| creation to ACCEPT with offers outstanding (1,000 tasks at 100/s): p50 / p99 / max | {p50 * 1000:.1f} / {p99 * 1000:.1f} / {max(latencies) * 1000:.1f} ms | p99 < 50 ms |
| failover, SIGKILL of the leader to the first launch by the new leader (lock expiry 3 s), 5 runs | {", ".join(f"{t:.2f}" for t in failovers)} s | expiry + a few s |
| handover, SIGTERM of the leader to the first launch by the new leader (lock expiry 30 s), 5 runs | {", ".join(f"{t:.2f}" for t in handovers)} s | well under the expiry |
| kill, requested in the store (as by the API) to TASK_KILLED stored, {len(kills)} simulated tasks one at a time: median / max | {statistics.median(kills) * 1000:.1f} / {max(kills) * 1000:.1f} ms | < 5 s |
| dev master `--simulate`, one ACCEPT of 3,000 tasks to their 3,000 STARTING updates, 3 runs | {", ".join(f"{t:.2f}" for t in accepts)} s | < 10 s |

The launch rate is a real worker process (`python -m hippo worker`) timed through its
/metrics (`hippo_tasks_launched_total` counts tasks in ACCEPTs Mesos answered 202). The
round time is `OfferRound.once()` run in the benchmark process with 10 held
offers and Mesos calls answered at once (median of 5): three pipelined reads, the pure
matching, one claim script, the TaskInfos. The latency phase runs the leader's own
session in the benchmark process against the dev master, with tasks created by another
thread through the store's create script; it is measured from the record's creation to
the ACCEPT's answer.
"""
        write_section(args.write, body)


if __name__ == "__main__":
    main()
