"""Network partitions under load (issue 15): real workers in network namespaces, our Redis
and a dev master on the host, Redis-list queues fed while a link is cut and healed.

- A polling worker cut off from Redis: its queue leases lapse, another worker polls its
  queues, and once healed it rejoins without harm.
- The leader cut off from the dev master while still holding Redis: it hears nothing
  from Mesos for HIPPO_MESOS_SILENCE_S, steps down, a worker that reaches the master
  leads, and once healed everything reconciles.

Each run ends with the checker (checker.py): every item became exactly one
finished task, max_concurrent held in every sample, no run left non-terminal, and the
recovery time, reported (not asserted) to $HIPPO_CHAOS_REPORT. Needs root and iproute2.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hippo.api.app import create_app
from hippo.shared.settings import Settings
from tests.conftest import wait_until
from tests.sources.conftest import queue_body

from .checker import TERMINAL, Collected, Run, append_report, check
from .harness import assert_kept
from .netns_cluster import NetCluster, NetWorker, Sampler, net_cluster, queue_runs

pytestmark = pytest.mark.slow  # and `chaos`, from tests/chaos/conftest.py

QUEUES = 6
CAP = 3  # max_concurrent of each queue
FREQUENCY_S = 0.05  # each queue's polling period: a worker holds some lease most of the time
TASK_S = 0.2  # how long the dev master runs each task
SILENCE_S = 3  # HIPPO_MESOS_SILENCE_S of the workers


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NetCluster]:
    with net_cluster(tmp_path, simulate_s=TASK_S) as made:
        yield made


class Load:
    """Redis-list queues on our Redis and the items pushed to them, in order."""

    def __init__(self, cluster: NetCluster) -> None:
        self.cluster = cluster
        self.redis = cluster.client()
        settings = Settings.from_env({"HIPPO_REDIS_URL": cluster.redis_url})
        self.api = TestClient(create_app(settings), raise_server_exceptions=False)
        self.api.__enter__()
        self.queue_ids: list[str] = []
        self.items: list[str] = []
        for n in range(QUEUES):
            source = {"host": cluster.source_addr, "port": cluster.redis_port, "name": f"src{n}"}
            body = queue_body("redis", source, max_concurrent=CAP, frequency_seconds=FREQUENCY_S)
            response = self.api.post("/queues/", json=body)
            assert response.status_code == 201, response.text
            self.queue_ids.append(str(response.json()["id"]))

    def push(self, label: str, per_queue: int) -> None:
        for n, queue_id in enumerate(self.queue_ids):
            items = [f"{label}-{queue_id}-{i}" for i in range(per_queue)]
            self.redis.rpush(f"src{n}", *items)
            self.items += items

    def runs(self) -> list[dict[str, Any]]:
        return [run for q in self.queue_ids for run in queue_runs(self.redis, q)]

    def created_since(self, since: float) -> set[str]:
        """Queues that made a run after `since` (unix s)."""
        return {
            queue_id
            for queue_id in self.queue_ids
            if any(run["created"] > since for run in queue_runs(self.redis, queue_id))
        }

    def sampler(self) -> Sampler:
        """How many tasks of each queue run at once, sampled while the run goes on."""
        return Sampler(self.cluster.devmaster, dict.fromkeys(self.queue_ids, CAP))

    def leases(self) -> dict[str, str]:
        """{queue id: lease token} of the queues being polled right now."""
        pipe = self.redis.pipeline()
        for queue_id in self.queue_ids:
            pipe.hget(f"hippo:queue:{queue_id}", "poll_lease")
        tokens = pipe.execute()
        return {q: t.decode() for q, t in zip(self.queue_ids, tokens, strict=True) if t}

    def finished(self) -> int:
        return sum(1 for run in self.runs() if run["state"] == "TASK_FINISHED")

    def all_done(self) -> bool:
        runs = self.runs()
        done = {r["item"] for r in runs if r["state"] == "TASK_FINISHED"}
        return done >= set(self.items) and all(r["state"] in TERMINAL for r in runs)

    def describe(self) -> str:
        """What a failed wait should say: runs per state, items not done, the master's view."""
        runs = self.runs()
        states = Counter(r["state"] for r in runs)
        done = {r["item"] for r in runs if r["state"] == "TASK_FINISHED"}
        missing = [i for i in self.items if i not in done]
        state = self.cluster.devmaster.state()
        frameworks = [
            (f["id"], f.get("active"), len(f["tasks"]), len(f["completed_tasks"]))
            for f in state["frameworks"]
        ]
        return (
            f"runs by state {dict(states)}; {len(missing)} items not done {missing[:5]}; "
            f"master: {len(state['tasks'])} tasks, frameworks {frameworks}"
        )

    def close(self) -> None:
        self.api.__exit__(None, None, None)
        self.redis.close()


@contextlib.contextmanager
def load_on(cluster: NetCluster) -> Iterator[Load]:
    """The load; a failed wait inside says where the runs and the workers stood."""
    load = Load(cluster)
    try:
        yield load
    except AssertionError as e:
        logs = "\n".join(f"--- {w.name}\n{w.log[-3000:]}" for w in cluster.workers)
        raise AssertionError(f"{e}\n{load.describe()}\n{logs}") from e
    finally:
        load.close()


def verdict_of(fault: str, load: Load, sampler: Sampler, recovery_s: float) -> None:
    """The checker's verdict on the run, reported to $HIPPO_CHAOS_REPORT and asserted."""
    collected = Collected(
        fault,
        items=set(load.items),
        runs=[Run(r["mesos_id"], r["item"], r["state"]) for r in load.runs()],
        samples=sampler.samples,
        recovery_s=recovery_s,
    )
    result = check(collected)
    append_report(result)
    assert_kept(result)


def cut_while_polling(load: Load, victim: NetWorker) -> tuple[dict[str, str], float, float]:
    """Cut `victim` from Redis while it holds queue leases; returns them ({queue id: lease
    token}) and when the cut was made (time.time(), time.monotonic()).

    Its polls are made to hang first (its link to the source cut), so that it holds
    the leases of the queues it claims, extending them, while the others' polls last a
    few ms: a lease held for a second is the victim's."""
    lab = load.cluster.lab
    lab.cut(victim.source_link)
    first_seen: dict[str, float] = {}

    def held_long() -> dict[str, str]:
        now, leases = time.monotonic(), load.leases()
        for token in leases.values():
            first_seen.setdefault(token, now)
        return {q: t for q, t in leases.items() if now - first_seen[t] > 1.0}

    held = wait_until(held_long, 30, "the victim holding a lease")
    assert isinstance(held, dict)
    cut_at, started = time.time(), time.monotonic()
    lab.cut(victim.redis_link)
    return held, cut_at, started


def test_a_worker_cut_off_from_redis_loses_its_queues_to_another_and_rejoins(
    cluster: NetCluster, run: int
) -> None:
    workers = [cluster.start_worker(HIPPO_MESOS_SILENCE_S=str(SILENCE_S)) for _ in range(3)]
    leader = cluster.leader()
    victim = next(w for w in workers if w is not leader)  # a poller only
    with (
        load_on(cluster) as load,
        load.sampler() as sampler,
    ):
        load.push("before", 20)
        wait_until(lambda: load.finished() >= QUEUES * CAP, 30, "tasks from every queue")

        held, cut_at, started = cut_while_polling(load, victim)
        # Recovered once each queue the victim held made a run again: after its lease
        # lapsed, another worker claimed it (and took back what the victim had taken).
        wait_until(
            lambda: set(held) <= load.created_since(cut_at), 30, "the victim's queues polled"
        )
        recovery_s = time.monotonic() - started
        load.push("during", 10)
        wait_until(load.all_done, 60, "every item pushed so far done while cut")

        cluster.lab.heal(victim.redis_link)
        cluster.lab.heal(victim.source_link)
        load.push("after", 10)
        wait_until(load.all_done, 60, "every item done after healing")
        assert victim.alive(), victim.log
        verdict_of("worker cut off from Redis", load, sampler, recovery_s)


def test_a_leader_cut_off_from_the_master_makes_way_for_one_that_reaches_it(
    cluster: NetCluster, run: int
) -> None:
    workers = [cluster.start_worker(HIPPO_MESOS_SILENCE_S=str(SILENCE_S)) for _ in range(3)]
    old = cluster.leader()
    old_epoch = cluster.epoch()
    with (
        load_on(cluster) as load,
        load.sampler() as sampler,
    ):
        load.push("before", 20)
        wait_until(lambda: load.finished() >= QUEUES * CAP, 30, "tasks under the first leader")

        cluster.lab.cut(old.master_link)
        started = time.monotonic()
        finished_at_cut = load.finished()
        new = cluster.leader(timeout_s=30, after_epoch=old_epoch)
        assert new is not old and new in workers
        # Recovered once a task finishes again: the old leader, deaf, recorded none.
        wait_until(lambda: load.finished() > finished_at_cut, 30, "a task under the new leader")
        recovery_s = time.monotonic() - started
        load.push("during", 10)
        wait_until(load.all_done, 60, "every item pushed so far done under the new leader")
        assert "no Mesos master heard from" in old.log

        cluster.lab.heal(old.master_link)
        load.push("after", 10)
        wait_until(load.all_done, 60, "every item done after healing")
        assert old.alive(), old.log
        verdict_of("leader cut off from the master", load, sampler, recovery_s)
