"""Redis time per launch of each leader script, on a private Redis with nothing else to
do: the steadier measure of the store's share (a burst's CPU figures move with the
machine's speed and with what the other processes do). Not a module of bench/run.

Each repeat seeds N waiting runs (the generous cluster's definition), then calls the
leader's own store methods as a burst does: LAUNCHABLE in steps of ROUND_READ_BATCH,
claims of ROUND_CLAIM_RUNS, TASK_STARTING then TASK_RUNNING in batches of UPDATE_BATCH.
Time is Redis' own (`INFO commandstats`, usec of EVALSHA), per run; of each, the
repeat whose claim and updates took least is printed, every step from that repeat.

The reference (*bare record*) is the least a fenced, idempotent state change per record
costs in Redis Lua: the epoch checked, the state read from and written to the record's
own hash fields (no JSON), the history appended, the runs moved between state indexes
once per batch; claim also moves the run out of its id's waiting set and into its
active set. No pending deadlines, staging index, caps, callbacks or retries: it says
what a record layout without JSON could reach, not what Hippo could drop.

    python -m bench.leader_scripts [--waiting 10000] [--repeats 3] [--queue] [--finished N]

`--queue`: the runs of one queue, each with its own item in its definition
(bench.cluster.seed_queue_waiting), instead of one-off tasks sharing one definition.
`--finished N`: each Redis holds N finished records first (bench.cluster.seed_finished),
as in the offer round's 1,000 vs 1,000,000 rows of bench/run: which script's time grows
with them, beside the bare record in the same keyspace.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

import orjson
import redis

from bench.cluster import GENEROUS, KEYS, seed_burst, seed_finished
from bench.common import RedisServer
from hippo.shared.store import connect
from hippo.shared.store.leadership import Claim, LeaderStore, StatusUpdate
from hippo.shared.tunables import ROUND_CLAIM_RUNS, ROUND_MAX_IDS, ROUND_READ_BATCH, UPDATE_BATCH

STEPS = ("launchable", "claim", "TASK_STARTING", "TASK_RUNNING")


def evalsha_usec(r: redis.Redis) -> int:
    return int(r.info("commandstats").get("cmdstat_evalsha", {}).get("usec", 0))


async def hippo_usec(url: str, waiting: int, queue: bool = False) -> dict[str, float]:
    """Redis usec per run of each leader script over one burst of `waiting` runs (a
    queue's, with `queue`)."""
    sync = redis.Redis.from_url(url)
    client = connect(url)
    try:
        await client.set(KEYS.leader_epoch, 1)
        store = LeaderStore(client, KEYS)
        seed_burst(sync, waiting, GENEROUS, queue)
        found: dict[str, float] = {}

        async def timed(step: str, work: Callable[[], Awaitable[None]]) -> None:
            before = evalsha_usec(sync)
            await work()
            found[step] = (evalsha_usec(sync) - before) / waiting

        mids: list[str] = []

        async def read() -> None:
            start: int | None = 0
            while start is not None:
                step = await store.launchable(ROUND_READ_BATCH, ROUND_MAX_IDS, start)
                mids.extend(run.mesos_id for run in step.runs)
                start = step.next_start

        async def claim() -> None:
            for i in range(0, len(mids), ROUND_CLAIM_RUNS):
                claims = [
                    Claim(m, "agent-S1", "host1", None, None)
                    for m in mids[i : i + ROUND_CLAIM_RUNS]
                ]
                await store.claim(1, time.time(), claims)

        def update(state: str) -> Callable[[], Awaitable[None]]:
            async def work() -> None:
                for i in range(0, len(mids), UPDATE_BATCH):
                    batch = [
                        StatusUpdate(m, state, "", "", "agent-S1", "", "")
                        for m in mids[i : i + UPDATE_BATCH]
                    ]
                    await store.record_updates(1, time.time(), batch)

            return work

        await timed("launchable", read)
        if len(mids) != waiting:
            raise RuntimeError(f"LAUNCHABLE found {len(mids)} of {waiting} runs")
        await timed("claim", claim)
        for state in ("TASK_STARTING", "TASK_RUNNING"):
            await timed(state, update(state))
        running = int(sync.zcard(KEYS.tasks_by_state("TASK_RUNNING")))
        if running != waiting:
            raise RuntimeError(f"{running} of {waiting} runs recorded RUNNING")
        return found
    finally:
        await client.aclose()
        sync.close()


# The reference's scripts. ARGV: epoch, now, then one JSON array (3 strings per claim:
# mesos_id, agent id, hostname; 2 per update: mesos_id, state).
_BARE_FENCE = """
if redis.call('GET', 'bare:epoch') ~= ARGV[1] then return redis.error_reply('STALE') end
local now = ARGV[2]
local function history(old, entry)
  if old then return string.sub(old, 1, -2) .. ',' .. entry .. ']' end
  return '[' .. entry .. ']'
end
"""
BARE_SEED = """
for i = 1, #ARGV do
  local mid = ARGV[i]
  local id = string.match(mid, '^[^.]+')
  redis.call('HSET', 'bare:t:' .. mid, 'state', 'WAITING_ON_OFFERS', 'id', id, 'seq', i,
             'kill', '0')
  redis.call('ZADD', 'bare:w:' .. id, i, mid)
  redis.call('ZADD', 'bare:s:WAITING_ON_OFFERS', i, mid)
end
"""
BARE_CLAIM = (
    _BARE_FENCE
    + """
local claims = cjson.decode(ARGV[3])
local out, moved, added = {}, {}, {}
for i = 1, #claims, 3 do
  local mid = claims[i]
  local f = redis.call('HMGET', 'bare:t:' .. mid, 'state', 'kill', 'id', 'seq', 'history')
  if f[1] == 'WAITING_ON_OFFERS' and f[2] == '0' then
    redis.call('ZREM', 'bare:w:' .. f[3], mid)
    redis.call('ZADD', 'bare:a:' .. f[3], f[4], mid)
    local entry = '{"state":"TASK_STAGING","tstamp":' .. now .. '}'
    redis.call('HSET', 'bare:t:' .. mid, 'state', 'TASK_STAGING', 'agent_id', claims[i + 1],
               'agent_hostname', claims[i + 2], 'updated', now, 'history', history(f[5], entry))
    moved[#moved + 1] = mid
    added[#added + 1] = f[4]; added[#added + 1] = mid
    out[#out + 1] = mid
  end
end
if #moved > 0 then
  redis.call('ZREM', 'bare:s:WAITING_ON_OFFERS', unpack(moved))
  redis.call('ZADD', 'bare:s:TASK_STAGING', unpack(added))
end
return out
"""
)
BARE_UPDATE = (
    _BARE_FENCE
    + """
local updates = cjson.decode(ARGV[3])
local RANK = {TASK_STAGING = 1, TASK_STARTING = 2, TASK_RUNNING = 3}
local out, moves = {}, {}
for i = 1, #updates, 2 do
  local mid, state = updates[i], updates[i + 1]
  local f = redis.call('HMGET', 'bare:t:' .. mid, 'state', 'seq', 'history', 'started')
  if f[1] and RANK[state] > (RANK[f[1]] or 9) then
    local entry = '{"state":"' .. state .. '","tstamp":' .. now .. '}'
    local h = history(f[3], entry)
    if state == 'TASK_RUNNING' and not f[4] then
      redis.call('HSET', 'bare:t:' .. mid, 'state', state, 'updated', now, 'started', now,
                 'history', h)
    else
      redis.call('HSET', 'bare:t:' .. mid, 'state', state, 'updated', now, 'history', h)
    end
    local m = moves[f[1]]
    if not m then m = {gone = {}, added = {}}; moves[f[1]] = m end
    m.gone[#m.gone + 1] = mid
    m.added[#m.added + 1] = f[2]; m.added[#m.added + 1] = mid
    out[#out + 1] = 'stored'
  else
    out[#out + 1] = 'same'
  end
end
for from, m in pairs(moves) do
  redis.call('ZREM', 'bare:s:' .. from, unpack(m.gone))
  redis.call('ZADD', 'bare:s:' .. updates[2], unpack(m.added))
end
return out
"""
)


def bare_usec(r: redis.Redis, waiting: int) -> dict[str, float]:
    """The reference's Redis usec per run of its claim and its two updates."""
    r.set("bare:epoch", 1)
    mids = [f"job{n}.{uuid.uuid4()}" for n in range(waiting)]
    seed, claim, update = (r.register_script(s) for s in (BARE_SEED, BARE_CLAIM, BARE_UPDATE))
    for i in range(0, waiting, 1000):
        seed(args=mids[i : i + 1000])
    found: dict[str, float] = {}
    before = evalsha_usec(r)
    for i in range(0, waiting, ROUND_CLAIM_RUNS):
        packed = [v for m in mids[i : i + ROUND_CLAIM_RUNS] for v in (m, "agent-S1", "host1")]
        if len(claim(args=[1, time.time(), orjson.dumps(packed)])) != len(packed) // 3:
            raise RuntimeError("the bare claim missed runs")
    found["claim"] = (evalsha_usec(r) - before) / waiting
    for state in ("TASK_STARTING", "TASK_RUNNING"):
        before = evalsha_usec(r)
        for i in range(0, waiting, UPDATE_BATCH):
            packed = [v for m in mids[i : i + UPDATE_BATCH] for v in (m, state)]
            update(args=[1, time.time(), orjson.dumps(packed)])
        found[state] = (evalsha_usec(r) - before) / waiting
    if int(r.zcard("bare:s:TASK_RUNNING")) != waiting:
        raise RuntimeError("the bare updates missed runs")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queue", action="store_true", help="a queue's runs, an item each")
    parser.add_argument("--finished", type=int, default=0, help="finished records held first")
    args = parser.parse_args()
    hippo: list[dict[str, float]] = []  # per repeat: usec per run of each step
    bare: list[dict[str, float]] = []
    for _ in range(args.repeats):
        for measure_bare in (False, True):  # in turn, each on a fresh Redis
            server = RedisServer()
            try:
                if args.finished:
                    seed_finished(server.client, args.finished, GENEROUS.spec())
                if measure_bare:
                    bare.append(bare_usec(server.client, args.waiting))
                else:
                    hippo.append(asyncio.run(hippo_usec(server.url, args.waiting, args.queue)))
            finally:
                server.stop()
    print(
        f"{args.waiting:,} waiting{' queue runs' if args.queue else ''}"
        f"{f', {args.finished:,} finished' if args.finished else ''}, Redis usec per run,"
        " the repeat with the least in all"
        f" of {args.repeats}: Hippo {_line(hippo)}; bare record {_line(bare)};"
        f" load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def _line(repeats: list[dict[str, float]]) -> str:
    """The steps of the repeat whose claim and updates took least, and their sum (the
    bare record has no LAUNCHABLE: it is left out of both sums)."""

    def claim_and_updates(found: dict[str, float]) -> float:
        return sum(usec for step, usec in found.items() if step != "launchable")

    best = min(repeats, key=claim_and_updates)
    steps = ", ".join(f"{step} {usec:.1f}" for step, usec in best.items())
    return f"{steps}; claim and updates {claim_and_updates(best):.1f}"


if __name__ == "__main__":
    main()
