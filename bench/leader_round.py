"""One offer round of the leader's own code (`OfferRound.once()`), timed in process with
10 held offers and Mesos calls answered at once, so only Hippo's work is timed."""

from __future__ import annotations

import time
from typing import Any

import redis

from bench.cluster import GENEROUS, KEYS, seed_waiting
from hippo.shared.settings import Settings
from hippo.shared.store import connect
from hippo.shared.store.leadership import LeaderStore
from hippo.worker.matching import OfferView
from hippo.worker.metrics import WorkerMetrics
from hippo.worker.offer_book import HeldOffer
from hippo.worker.session import LeaderSession


class StubClient:
    """Answers every Mesos call at once."""

    stream_id = "bench"

    async def launch(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def decline(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def suppress(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def revive(self, *args: Any, **kwargs: Any) -> None:
        return None


def offers(n: int = 10, cpus: float = 100000.0, mem: float = 1e8) -> dict[str, HeldOffer]:
    """`n` held offers of `cpus` and `mem` each."""
    now = time.monotonic()
    return {
        f"O{i}": HeldOffer(OfferView(f"O{i}", f"S{i}", f"host{i}", {}, cpus, mem), now)
        for i in range(n)
    }


async def rounds(url: str, waiting: int, repeats: int, tag: str = "r") -> list[float]:
    """Seconds of each of `repeats` rounds, each launching `waiting` fresh tasks (task
    ids `<tag><repeat>-<n>`: a call per round needs a tag per call, each task id being
    capped at one run)."""
    client = connect(url)
    await client.set(KEYS.leader_epoch, 1)
    store = LeaderStore(client, KEYS)
    session = LeaderSession(
        Settings.from_env({"HIPPO_REDIS_URL": url}), client, store, 1, WorkerMetrics()
    )
    stub = StubClient()
    times = []
    sync = redis.Redis.from_url(url)
    try:
        for rep in range(repeats):
            await client.delete(KEYS.tasks_by_state("WAITING_ON_OFFERS"))
            seed_waiting(sync, waiting, GENEROUS.spec(), tag=f"{tag}{rep}-")
            session.book.held = offers()
            began = time.perf_counter()
            launched = await session.round.once(stub)  # type: ignore[arg-type]
            times.append(time.perf_counter() - began)
            if launched != waiting:
                raise RuntimeError(f"the round launched {launched} of {waiting}")
    finally:
        sync.close()
        await client.aclose()
    return times
