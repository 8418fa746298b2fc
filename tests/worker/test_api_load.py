"""The API under load (issue 15): 64 concurrent clients against a real `hippo api` while a
worker polls a Redis-list queue and launches on a dev master. No timing is asserted
(bench/load.py measures that): only that every answer is a success and nothing is lost."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import redis
import redis.asyncio as aioredis

from tests.conftest import start_hippo_api, stop_process, wait_until
from tests.worker.conftest import Cluster

CLIENTS = 64
# Each client: a POST, then ROUNDS x (GET its task, GET a page, POST, GET /queues/, and an
# item pushed to the queue's list, so the worker polls and launches throughout).
ROUNDS = 7
ITEMS = CLIENTS * ROUNDS
TASK = {
    "container": {"docker": {"image": "alpine"}},
    "cpus": 0.01,
    "mem": 1,
    "cmd": "echo load",
}


async def _client(
    url: str, source: aioredis.Redis, items: str, statuses: Counter[str], posted: list[str]
) -> None:
    """One client on one keep-alive connection, its requests in turn; answers counted by
    status, lost connections as 'connection error'. (One httpx client per connection:
    httpx's pool looks at every connection it holds for each request.)"""
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
        await _requests(http, source, items, statuses, posted)


async def _requests(
    http: httpx.AsyncClient,
    source: aioredis.Redis,
    items: str,
    statuses: Counter[str],
    posted: list[str],
) -> None:

    async def call(method: str, path: str, **kwargs: object) -> httpx.Response | None:
        try:
            response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as e:
            statuses[f"connection error: {type(e).__name__}"] += 1
            return None
        statuses[str(response.status_code)] += 1
        return response

    async def post() -> None:
        # No id: each task its own, so that no retention per task id trims one.
        answer = await call("POST", "/tasks/", json=TASK)
        if answer is not None and answer.status_code == 201:
            posted.append(answer.json()["mesos_id"])

    await post()
    for _ in range(ROUNDS):
        if posted:
            await call("GET", f"/tasks/{posted[-1]}/")
        await call("GET", "/tasks/?limit=100")
        await post()
        await call("GET", "/queues/")
        await source.lpush(items, uuid.uuid4().hex)


async def _load(url: str, source_url: str, items: str) -> tuple[Counter[str], list[str]]:
    statuses: Counter[str] = Counter()
    posted: list[str] = []
    source = aioredis.Redis.from_url(source_url)
    try:
        await asyncio.gather(
            *(_client(url, source, items, statuses, posted) for _ in range(CLIENTS))
        )
    finally:
        await source.aclose()
    return statuses, posted


def test_64_clients_get_only_successes_while_a_worker_polls_and_launches(
    make_cluster: Callable[..., Cluster], redis_url: str, raw_redis: redis.Redis
) -> None:
    cluster = make_cluster(agents=2, cpus=100, mem_mb=100_000, simulate_s=0.05)
    cluster.start_worker()
    process, url = start_hippo_api(redis_url)
    try:
        parts = urlsplit(redis_url)
        items = f"load-{uuid.uuid4().hex[:8]}"
        queue = {
            **TASK,
            "id": "fed",
            "queue": {
                "type": "redis",
                "frequency_seconds": 0.2,
                "redis": {"host": parts.hostname, "port": parts.port, "db": 1, "name": items},
            },
        }
        assert httpx.post(f"{url}/queues/", json=queue).status_code == 201
        cluster.leader()

        source_url = f"redis://{parts.hostname}:{parts.port}/1"
        statuses, posted = asyncio.run(_load(url, source_url, items))

        assert set(statuses) <= {"200", "201"}, statuses
        assert len(posted) == CLIENTS * (ROUNDS + 1)
        with httpx.Client(base_url=url) as http:
            for mesos_id in posted:
                answer = http.get(f"/tasks/{mesos_id}/")
                assert answer.status_code == 200, answer.text
                assert answer.json()["mesos_id"] == mesos_id

        # The worker was at work throughout: every item became a task, and tasks launched.
        wait_until(
            lambda: raw_redis.zcard("hippo:tasks:queue:fed") == ITEMS, 30, "the items' tasks"
        )
        wait_until(lambda: len(cluster.launched_task_ids()) >= ITEMS, 30, "launches")
    finally:
        stop_process(process)
