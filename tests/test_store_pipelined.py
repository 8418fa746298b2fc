"""The API's shared pipelined connection (hippo.shared.store.pipelined): replies in the
order of the commands, redis-py's errors, its login, and recovery from a lost server."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hippo.shared.store import PipelinedConnection, connect
from tests.conftest import RedisServer


def _pipelined(url: str) -> PipelinedConnection:
    found = PipelinedConnection.for_client(connect(url))
    assert found is not None
    return found


def test_concurrent_commands_each_get_their_own_reply(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    raw_redis.mset({f"k{i}": f"v{i}" for i in range(300)})
    raw_redis.hset("h", mapping={"spec": b"{}", "status": b"[]"})

    async def scenario() -> tuple[list[object], object, object]:
        connection = _pipelined(redis_url)
        try:
            values = await asyncio.gather(*(connection.execute("GET", f"k{i}") for i in range(300)))
            found = await connection.execute("HMGET", "h", "spec", "status")
            missing = await connection.execute("HMGET", "nothing", "spec", "status")
            return values, found, missing
        finally:
            await connection.aclose()

    values, found, missing = asyncio.run(scenario())
    assert values == [f"v{i}".encode() for i in range(300)]
    assert found == [b"{}", b"[]"]
    assert missing == [None, None]


def test_an_error_reply_raises_redis_pys_class_and_the_connection_carries_on(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    raw_redis.set("text", "x")

    async def scenario() -> object:
        connection = _pipelined(redis_url)
        try:
            with pytest.raises(ResponseError, match="WRONGTYPE"):
                await connection.execute("HMGET", "text", "spec")
            with pytest.raises(NoScriptError):
                await connection.execute("EVALSHA", "0" * 40, 0)
            return await connection.execute("GET", "text")
        finally:
            await connection.aclose()

    assert asyncio.run(scenario()) == b"x"


def test_a_script_runs_by_its_sha_once_the_server_has_its_text(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    raw_redis.script_flush()
    client = connect(redis_url)
    script = client.register_script("return {ARGV[1], #ARGV}")

    async def scenario() -> list[object]:
        connection = _pipelined(redis_url)
        try:
            first = await connection.run_script(script, ["a", 2])
            known = await connection.execute("SCRIPT", "EXISTS", script.sha)
            again = await connection.run_script(script, [b"b"])
            return [first, known, again]
        finally:
            await connection.aclose()
            await client.aclose()

    assert asyncio.run(scenario()) == [[b"a", 2], [1], [b"b", 1]]


# The first loop's connection cannot be closed once that loop is: its socket is freed
# with it, warned of here (gc.collect), not in a later test.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_connection_used_again_under_a_new_event_loop_connects_again(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """One PipelinedConnection, two asyncio.run calls: the second one's command gets its
    reply over a new connection (the first loop is closed), not an error (which the
    API would answer with 500)."""
    raw_redis.set("k", "v")
    connection = _pipelined(redis_url)
    assert asyncio.run(connection.execute("GET", "k")) == b"v"

    async def again() -> object:
        try:
            return await connection.execute("GET", "k")
        finally:
            await connection.aclose()

    assert asyncio.run(again()) == b"v"
    gc.collect()


def test_the_urls_password_and_database_are_used(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:
        admin = redis.Redis(port=server.port)
        admin.config_set("requirepass", "s3cret")
        admin.close()

        async def scenario() -> None:
            connection = _pipelined(f"redis://:s3cret@127.0.0.1:{server.port}/3")
            try:
                await connection.execute("SET", "where", "db 3")
            finally:
                await connection.aclose()
            refused = _pipelined(f"redis://:wrong@127.0.0.1:{server.port}/3")
            with pytest.raises(RedisConnectionError):
                await refused.execute("GET", "where")

        asyncio.run(scenario())
        client = redis.Redis(port=server.port, password="s3cret", db=3)
        assert client.get("where") == b"db 3"
        client.close()
    finally:
        server.stop()


def test_a_lost_server_fails_the_command_and_the_next_one_connects_again(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:

        async def scenario() -> object:
            connection = _pipelined(server.url)
            try:
                await connection.execute("SET", "k", "before")
                server.stop()
                with pytest.raises(RedisConnectionError):
                    await connection.execute("GET", "k")
                server.start()
                await connection.execute("SET", "k", "after")
                return await connection.execute("GET", "k")
            finally:
                await connection.aclose()

        assert asyncio.run(scenario()) == b"after"
    finally:
        server.stop()


def test_no_reply_within_the_socket_timeout_fails_every_command_in_flight() -> None:
    async def scenario() -> list[BaseException | object]:
        async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # until the client gives up and closes
            writer.close()

        silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        connection = PipelinedConnection(
            "127.0.0.1", port, connect_timeout_s=5, reply_timeout_s=0.2
        )
        try:
            return await asyncio.gather(
                connection.execute("GET", "a"),
                connection.execute("GET", "b"),
                return_exceptions=True,
            )
        finally:
            await connection.aclose()
            silent.close()
            await silent.wait_closed()

    found = asyncio.run(scenario())
    assert [type(e) for e in found] == [RedisTimeoutError, RedisTimeoutError]


def test_requests_waiting_for_a_connection_share_one_attempt_and_the_next_tries_again() -> None:
    async def scenario() -> tuple[list[type], int, type, int]:
        accepted = 0

        async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            await reader.read()
            writer.close()

        silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        # The login never answered: each attempt lasts the connect timeout.
        connection = PipelinedConnection(
            "127.0.0.1", port, password="x", connect_timeout_s=0.2, reply_timeout_s=5
        )
        try:
            first = await asyncio.gather(
                *(connection.execute("GET", "k") for _ in range(20)), return_exceptions=True
            )
            first_attempts = accepted
            with pytest.raises(RedisTimeoutError) as again:
                await connection.execute("GET", "k")
            return [type(e) for e in first], first_attempts, again.type, accepted
        finally:
            await connection.aclose()
            silent.close()
            await silent.wait_closed()

    first, first_attempts, again, attempts = asyncio.run(scenario())
    assert first == [RedisTimeoutError] * 20
    assert first_attempts == 1
    assert again is RedisTimeoutError
    assert attempts == 2


@pytest.mark.parametrize(
    "url",
    [
        "rediss://127.0.0.1:6379/0",
        "unix:///tmp/redis.sock",
        "redis+sentinel://127.0.0.1:26379/mymaster/0",
        "redis://127.0.0.1:6379/0?protocol=3",
    ],
)
def test_only_a_plain_tcp_server_in_resp2_is_shared(url: str) -> None:
    assert PipelinedConnection.for_client(connect(url)) is None
