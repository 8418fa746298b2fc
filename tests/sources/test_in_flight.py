"""No item is stranded in a source's in-flight state (a Redis list's processing list) by
deleting a queue or editing where it reads from, even after a worker was killed mid-poll:
the retired generation's items go back to their list, and its polls can take no more."""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from starlette.testclient import TestClient

from hippo.shared.sources.base import Fetched, PollRequest, SourceError
from hippo.shared.sources.redislist import RedisListSettings, RedisListSource
from hippo.shared.store import connect
from hippo.shared.store.keys import Keys
from hippo.shared.store.leases import PollStore
from tests.conftest import RedisServer, wait_until
from tests.sources.conftest import PollerThread, create_queue, queue_body, task_data

ROOT = Path(__file__).parent.parent.parent
T = TypeVar("T")


def _list_client(settings: dict[str, Any]) -> redis.Redis:
    return redis.Redis(host=settings["host"], port=settings["port"], db=settings["db"])


def _processing(settings: dict[str, Any], queue_id: str) -> str:
    return RedisListSource.processing_list(settings["name"], queue_id)


def _poll_killed_before_its_store(redis_url: str, queue_id: str) -> None:
    """A worker process moves the queue's items into its processing list and is killed
    (SIGKILL) just before storing them, its lease still held."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sources.polling_worker"],
        cwd=ROOT,
        env={
            **os.environ,
            "HIPPO_REDIS_URL": redis_url,
            "OBSERVE_REDIS_URL": redis_url,
            "HIPPO_QUEUE_LEASE_S": "2",  # the queue is due again 2 s after the kill
            "HIPPO_POLL_IDLE_S": "0.05",
            "STORE_DELAY_S": "60",
            "PYTHONPATH": str(ROOT),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    observe = redis.Redis.from_url(redis_url)
    try:

        def in_store() -> bool:
            assert process.poll() is None, f"the worker exited with {process.returncode}"
            return observe.get(f"observe:in-store:{process.pid}") == queue_id.encode()

        wait_until(in_store, 60, what="the worker about to store its poll")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        observe.close()


def _queue_killed_mid_poll(
    api: TestClient, redis_url: str, settings: dict[str, Any]
) -> tuple[redis.Redis, str]:
    """A queue on a list of a, b, c (a oldest) whose poll took all three and died."""
    source = _list_client(settings)
    source.lpush(settings["name"], "a", "b", "c")
    queue_id = create_queue(api, "redis", settings)
    _poll_killed_before_its_store(redis_url, queue_id)
    assert source.lrange(_processing(settings, queue_id), 0, -1) == [b"c", b"b", b"a"]
    assert source.llen(settings["name"]) == 0
    return source, queue_id


def _given_back(source: redis.Redis, settings: dict[str, Any], queue_id: str) -> bool:
    return (
        source.llen(_processing(settings, queue_id)) == 0
        and source.lrange(settings["name"], 0, -1) == [b"c", b"b", b"a"]  # a next, as before
    )


@pytest.mark.slow
def test_items_of_a_killed_poll_go_back_to_the_list_when_the_queue_is_deleted(
    api: TestClient,
    redis_url: str,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    source, queue_id = _queue_killed_mid_poll(api, redis_url, redis_source)
    assert api.delete(f"/queues/{queue_id}/").status_code == 200
    start_poller()
    wait_until(lambda: _given_back(source, redis_source, queue_id), what="the items given back")
    wait_until(lambda: raw_redis.zcard("hippo:queues:drain") == 0, what="the drain done")
    assert task_data(raw_redis, queue_id) == []
    # What stays is the fence against the retired generation, nothing else.
    assert set(source.hgetall(_processing(redis_source, queue_id) + ":seq")) == {b"fence"}


@pytest.fixture
def other_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("edit", ["name", "db", "port"])
def test_items_of_a_killed_poll_go_back_to_the_list_when_an_edit_moves_the_queue(
    edit: str,
    api: TestClient,
    redis_url: str,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
    request: pytest.FixtureRequest,
) -> None:
    source, queue_id = _queue_killed_mid_poll(api, redis_url, redis_source)
    moved = dict(redis_source)
    if edit == "name":
        moved["name"] = redis_source["name"] + "-renamed"
    elif edit == "db":
        moved["db"] = 2
    else:
        moved["port"] = request.getfixturevalue("other_redis").port
    body = queue_body("redis", moved, id=queue_id)
    assert api.put(f"/queues/{queue_id}/", json=body).status_code == 200
    _list_client(moved).lpush(moved["name"], "new")
    start_poller()
    wait_until(lambda: _given_back(source, redis_source, queue_id), what="the items given back")
    wait_until(lambda: task_data(raw_redis, queue_id) == ["new"], what="the moved queue's task")
    wait_until(lambda: raw_redis.zcard("hippo:queues:drain") == 0, what="the drain done")
    assert task_data(raw_redis, queue_id) == ["new"]  # a, b and c are the list's again


@pytest.mark.slow
def test_an_edit_naming_the_same_list_otherwise_takes_the_killed_polls_items_once(
    api: TestClient,
    redis_url: str,
    raw_redis: redis.Redis,
    redis_source: dict[str, Any],
    start_poller: Callable[..., PollerThread],
) -> None:
    # 127.0.0.1 -> localhost: the generation changes, the list does not; whichever of the
    # drain and the new generation's first poll comes first, each item makes one task.
    source, queue_id = _queue_killed_mid_poll(api, redis_url, redis_source)
    alias = {**redis_source, "host": "localhost"}
    body = queue_body("redis", alias, id=queue_id)
    assert api.put(f"/queues/{queue_id}/", json=body).status_code == 200
    source.lpush(redis_source["name"], "new")
    start_poller()
    wait_until(lambda: len(task_data(raw_redis, queue_id)) >= 4, what="4 tasks")
    wait_until(lambda: raw_redis.zcard("hippo:queues:drain") == 0, what="the drain done")
    wait_until(
        lambda: source.llen(_processing(redis_source, queue_id)) == 0,
        what="the processing list emptied",
    )
    assert sorted(task_data(raw_redis, queue_id)) == ["a", "b", "c", "new"]
    assert source.llen(redis_source["name"]) == 0


def _settings(redis_url: str, name: str = "jobs") -> RedisListSettings:
    client = redis.Redis.from_url(redis_url)
    port = client.connection_pool.connection_kwargs["port"]
    client.close()
    return RedisListSettings(host="127.0.0.1", port=port, db=3, name=name)


def _request(settings: RedisListSettings, generation: int, limit: int = 10) -> PollRequest[Any]:
    return PollRequest("q", settings, limit, None, 0.0, 0.0, generation)


async def _nothing_stored(keys: Any) -> set[str]:
    return set()


def _with_source(action: Callable[[RedisListSource], Awaitable[T]]) -> T:
    async def main() -> T:
        source = RedisListSource()
        try:
            return await action(source)
        finally:
            await source.close()

    return asyncio.run(main())


@pytest.fixture
def jobs(redis_url: str) -> Iterator[tuple[RedisListSettings, redis.Redis]]:
    """A list `jobs` (database 3 of our Redis) holding a, b, c, d (a oldest)."""
    settings = _settings(redis_url)
    client = redis.Redis(port=settings.port, db=3)
    client.lpush("jobs", "a", "b", "c", "d")
    yield settings, client
    client.close()


def test_a_retired_generation_can_take_no_more_and_a_newer_one_can(
    jobs: tuple[RedisListSettings, redis.Redis],
) -> None:
    settings, client = jobs

    async def scenario(source: RedisListSource) -> tuple[Fetched, Fetched]:
        await source.fetch(_request(settings, 5, limit=2))  # a worker took a, b and died
        await source.give_back(_request(settings, 5), _nothing_stored)
        with pytest.raises(SourceError, match="generation 5 of the queue is retired"):
            await source.fetch(_request(settings, 5))  # the worker was only paused
        with pytest.raises(SourceError, match="retired"):
            await source.fetch(_request(settings, 4))
        newer = await source.fetch(_request(settings, 7, limit=3))
        return newer, await source.fetch(_request(settings, 7, limit=3))

    newer, again = _with_source(scenario)
    assert [i.data for i in newer.items] == ["a", "b", "c"]  # given back in order
    assert [i.key for i in again.items] == [i.key for i in newer.items]
    assert client.lrange("jobs", 0, -1) == [b"d"]


def test_give_back_drops_the_items_the_queue_stored(
    jobs: tuple[RedisListSettings, redis.Redis],
) -> None:
    settings, client = jobs

    async def scenario(source: RedisListSource) -> list[Any]:
        fetched = await source.fetch(_request(settings, 1, limit=3))
        stored_key = fetched.items[1].key  # b made a task; its removal never happened
        asked: list[Any] = []

        async def stored(keys: Any) -> set[str]:
            asked.append(list(keys))
            return {stored_key}

        await source.give_back(_request(settings, 1), stored)
        return [asked, [i.key for i in fetched.items]]

    asked, keys = _with_source(scenario)
    assert asked == [keys]
    assert client.lrange("jobs", 0, -1) == [b"d", b"c", b"a"]  # a next; b is gone
    assert client.llen(RedisListSource.processing_list("jobs", "q")) == 0


def test_give_back_of_an_older_generation_leaves_a_newer_ones_items(
    jobs: tuple[RedisListSettings, redis.Redis],
) -> None:
    settings, client = jobs

    async def scenario(source: RedisListSource) -> list[str]:
        await source.fetch(_request(settings, 1, limit=2))
        # The queue was re-created on the same list, and its first poll took over.
        newer = await source.fetch(_request(settings, 2, limit=3))
        await source.give_back(_request(settings, 1), _nothing_stored)  # late, or twice
        await source.acknowledge(_request(settings, 2), newer)
        return [i.data for i in newer.items]

    assert _with_source(scenario) == ["a", "b", "c"]
    assert client.lrange("jobs", 0, -1) == [b"d"]
    assert client.llen(RedisListSource.processing_list("jobs", "q")) == 0


def test_giving_back_twice_gives_back_once(jobs: tuple[RedisListSettings, redis.Redis]) -> None:
    settings, client = jobs

    async def scenario(source: RedisListSource) -> None:
        await source.fetch(_request(settings, 3, limit=2))
        await source.give_back(_request(settings, 3), _nothing_stored)
        await source.give_back(_request(settings, 3), _nothing_stored)

    _with_source(scenario)
    assert client.lrange("jobs", 0, -1) == [b"d", b"c", b"b", b"a"]


def _store_run(redis_url: str, action: Callable[[PollStore], Awaitable[T]]) -> T:
    async def main() -> T:
        client = connect(redis_url)
        location = {"redis": RedisListSource.in_flight_location, "cron": ()}
        try:
            store = PollStore(
                client, Keys("hippo:"), idempotency_ttl_s=60, in_flight_location=location
            )
            return await action(store)
        finally:
            await client.aclose()

    return asyncio.run(main())


def _claimed_generation(redis_url: str, queue_id: str) -> int:
    async def claim(store: PollStore) -> int:
        [claimed] = (await store.claim_due_queues(10, 0)).queues  # lease 0: due again at once
        assert claimed.queue_id == queue_id
        return claimed.generation

    return _store_run(redis_url, claim)


def _edit(api: TestClient, queue_id: str, body: dict[str, Any], **settings: Any) -> None:
    body = copy.deepcopy(body)
    body["queue"]["redis"].update(settings)
    assert api.put(f"/queues/{queue_id}/", json=body).status_code == 200


def _retired(raw_redis: redis.Redis) -> dict[int, dict[str, str]]:
    return {
        int(gen): {
            k.decode(): v.decode()
            for k, v in raw_redis.hgetall(f"hippo:queues:drain:{gen.decode()}").items()
        }
        for gen in raw_redis.zrange("hippo:queues:drain", 0, -1)
    }


def test_an_edit_moving_the_list_retires_the_generation_and_others_keep_it(
    api: TestClient, redis_url: str, raw_redis: redis.Redis, redis_source: dict[str, Any]
) -> None:
    body = queue_body("redis", redis_source)
    queue_id = create_queue(api, "redis", redis_source, id=body["id"])
    first = _claimed_generation(redis_url, queue_id)
    _edit(api, queue_id, body, password="rotated", ssl=False)
    body["cmd"] = "echo other $HIPPO_DATA"
    _edit(api, queue_id, body, password="rotated")
    assert _claimed_generation(redis_url, queue_id) == first  # same list: same generation
    assert _retired(raw_redis) == {}
    _edit(api, queue_id, body, name="elsewhere")
    moved = _claimed_generation(redis_url, queue_id)
    assert moved > first
    retired = _retired(raw_redis)
    assert list(retired) == [first] and retired[first]["queue_id"] == queue_id
    assert f'"name":"{redis_source["name"]}"' in retired[first]["spec"]  # the old settings
    assert _claimed_generation(redis_url, queue_id) == moved


def test_deleting_a_queue_retires_the_generation_its_polls_ran_under(
    api: TestClient, redis_url: str, raw_redis: redis.Redis, redis_source: dict[str, Any]
) -> None:
    body = queue_body("redis", redis_source)
    queue_id = create_queue(api, "redis", redis_source, id=body["id"])
    generation = _claimed_generation(redis_url, queue_id)
    _edit(api, queue_id, body, name="never-polled")  # edited, then deleted before a poll
    assert api.delete(f"/queues/{queue_id}/").status_code == 200
    retired = _retired(raw_redis)
    assert list(retired) == [generation]
    assert f'"name":"{redis_source["name"]}"' in retired[generation]["spec"]
