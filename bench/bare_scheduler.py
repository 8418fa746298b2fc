"""The scheduler's physical reference: a bare Mesos framework with no Hippo logic.

On each offer it pops up to 10,000 waiting tasks (one ZPOPMIN of the waiting set), reads
their specs (one pipeline of HGETs), and launches them in one ACCEPT, each with what the
user asked to run: the command, its env (a queue's item is in it) and the Docker image
(the least any framework must send); each batch of
status updates is acknowledged in one pipelined HTTP call and each TASK_RUNNING recorded
with the fewest Redis writes (HSET of the record's `running` field and ZADD to the
RUNNING set), one Redis pipeline per batch. No matching, no limits, no retries, no
leadership. It talks to Mesos through Hippo's HTTP client (the transport, not the
leader), and prints one JSON line per milestone on stdout:
{"event": "offer"|"accepted"|"running", "t": unix s, "cpu_s": own CPU s}.

    python -m bench.bare_scheduler MASTER REDIS_URL COUNT TASK_CPUS TASK_MEM_MB

It gives up after 300 s (exit status 1), or at the first update of a task that failed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Coroutine
from typing import Any

import redis.asyncio

from hippo.worker.mesos import FrameworkSettings, MesosSchedulerClient, Offers, Update
from hippo.worker.mesos.messages import docker_container, offer_role, task_info

PREFIX = "hippo:"
WAITING = f"{PREFIX}tasks:state:WAITING_ON_OFFERS"
RUNNING = f"{PREFIX}tasks:state:TASK_RUNNING"
MAX_PER_ACCEPT = 10_000  # as HIPPO_ROUND_MAX_TASKS
FAILED = {"TASK_ERROR", "TASK_FAILED", "TASK_LOST", "TASK_DROPPED", "TASK_KILLED"}


def say(event: str) -> None:
    print(json.dumps({"event": event, "t": time.time(), "cpu_s": time.process_time()}), flush=True)


def scalar(offer: dict[str, Any], name: str) -> float:
    return sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == name)


class Bare:
    def __init__(self, master: str, url: str, count: int, cpus: float, mem_mb: float) -> None:
        self.cpus, self.mem_mb = cpus, mem_mb
        self.client = MesosSchedulerClient(master, FrameworkSettings(name="bare", user="nobody"))
        self.r = redis.asyncio.Redis.from_url(url)
        self.count = count
        self.launched = 0
        self.running = 0
        self.updates: list[Update] = []
        self.flush = asyncio.Event()
        self.done = asyncio.Event()
        self.calls: set[asyncio.Task[None]] = set()

    async def offers(self, event: Offers) -> None:
        for offer in event.offers:
            room = min(
                MAX_PER_ACCEPT,
                int(scalar(offer, "cpus") / self.cpus + 1e-9),
                int(scalar(offer, "mem") / self.mem_mb + 1e-9),
            )
            popped = await self.r.zpopmin(WAITING, room) if room else []
            mids = [m.decode() for m, _ in popped]
            if not mids:
                self.call(self.client.decline([offer["id"]["value"]]))
                continue
            pipe = self.r.pipeline(transaction=False)
            for mid in mids:
                pipe.hget(f"{PREFIX}task:{mid}", "spec")
            specs = [json.loads(s) for s in await pipe.execute()]
            infos = [
                task_info(
                    task_id=mid,
                    name=mid,
                    agent_id=offer["agent_id"]["value"],
                    command=spec["cmd"],
                    cpus=spec["cpus"],
                    mem_mb=spec["mem"],
                    env=spec.get("env"),
                    container=docker_container(
                        spec["container"]["docker"]["image"],
                        spec["container"]["docker"].get("network", "BRIDGE"),
                    ),
                    allocation_role=offer_role(offer),
                )
                for mid, spec in zip(mids, specs, strict=True)
            ]
            self.call(self.launch(offer["id"]["value"], infos))

    def call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """A Mesos call in the background: the event stream goes on meanwhile."""
        task = asyncio.create_task(coroutine)
        self.calls.add(task)
        task.add_done_callback(self.calls.discard)

    async def launch(self, offer_id: str, infos: list[dict[str, Any]]) -> None:
        await self.client.launch([offer_id], infos, stream_id=None)
        self.launched += len(infos)
        if self.launched >= self.count and self.launched - len(infos) < self.count:
            say("accepted")

    async def record(self) -> None:
        while True:
            await self.flush.wait()
            self.flush.clear()
            batch, self.updates = self.updates, []
            pipe = self.r.pipeline(transaction=False)
            now = time.time()
            for update in batch:
                if update.status.state in FAILED:
                    raise RuntimeError(f"{update.status.task_id}: {update.status.state}")
                if update.status.state == "TASK_RUNNING":
                    mid = update.status.task_id
                    pipe.hset(f"{PREFIX}task:{mid}", "running", now)
                    pipe.zadd(RUNNING, {mid: now})
                    self.running += 1
            await asyncio.gather(pipe.execute(), self.client.acknowledge_updates(batch))
            if self.running >= self.count:
                say("running")
                self.done.set()
                return

    async def consume(self) -> None:
        first = True
        async for event in self.client.events():
            if isinstance(event, Offers):
                if first:
                    say("offer")
                    first = False
                await self.offers(event)
            elif isinstance(event, Update):
                self.updates.append(event)
                self.flush.set()

    async def serve(self) -> None:
        self.client.start()
        consumer = asyncio.create_task(self.consume())
        async with asyncio.timeout(300):
            await self.record()
        consumer.cancel()
        await asyncio.gather(consumer, *self.calls, return_exceptions=True)
        await self.client.close()
        await self.r.aclose()


def main() -> None:
    master, url, count, cpus, mem_mb = sys.argv[1:6]
    asyncio.run(Bare(master, url, int(count), float(cpus), float(mem_mb)).serve())


if __name__ == "__main__":
    main()
