"""An offer round's read and match on its own, for profiling changes quickly: N runs
waiting (the generous cluster's definition), 10 held offers (`--offers`: one per agent),
`OfferRound._match()` of the leader's own code in this process (LAUNCHABLE steps,
decoding, matching; no claim, no ACCEPT), each repeat with a fresh leader so nothing is
cached. `--room 0.5`: the offers
hold half the runs (the round stops when they are full, as a busy cluster's do). Not a
module of bench/run.

    python -m bench.leader_match [--waiting 10000] [--repeats 7] [--room 1.0] [--offers 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import redis

from bench.cluster import GENEROUS, KEYS, seed_waiting
from bench.common import RedisServer
from bench.leader_round import offers
from hippo.shared.settings import Settings
from hippo.shared.store import connect
from hippo.shared.store.leadership import LeaderStore
from hippo.worker.metrics import WorkerMetrics
from hippo.worker.session import LeaderSession


async def match_times(
    url: str, waiting: int, repeats: int, room: float = 1.0, count: int = 10
) -> list[float]:
    """Seconds of each `_match()` over the same `waiting` runs (a match writes nothing),
    with `count` offers holding `room` of them."""
    client = connect(url)
    await client.set(KEYS.leader_epoch, 1)
    store = LeaderStore(client, KEYS)
    sync = redis.Redis.from_url(url)
    seed_waiting(sync, waiting, GENEROUS.spec())
    sync.close()
    settings = Settings.from_env({"HIPPO_REDIS_URL": url})
    times = []
    try:
        for _ in range(repeats):
            session = LeaderSession(settings, client, store, 1, WorkerMetrics())
            runs = waiting * room  # what the 10 offers hold in all
            session.book.held = offers(
                count, runs * GENEROUS.task_cpus / count, runs * GENEROUS.task_mem_mb / count
            )
            began = time.perf_counter()
            assigned, *_ = await session.round._match()
            times.append(time.perf_counter() - began)
            if abs(len(assigned) - waiting * room) > 10:
                raise RuntimeError(f"the round matched {len(assigned)} of {waiting * room:.0f}")
    finally:
        await client.aclose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--room", type=float, default=1.0, help="share of the runs offers hold")
    parser.add_argument("--offers", type=int, default=10, help="held offers (one per agent)")
    args = parser.parse_args()
    server = RedisServer()
    try:
        times = asyncio.run(
            match_times(server.url, args.waiting, args.repeats, args.room, args.offers)
        )
    finally:
        server.stop()
    print(
        f"{args.waiting:,} waiting, {args.offers:,} offers for {args.room:.0%}: read and"
        f" matched in {statistics.median(times) * 1000:.0f} ms"
        f" (median of {len(times)}: {', '.join(f'{t * 1000:.0f}' for t in times)});"
        f" load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
