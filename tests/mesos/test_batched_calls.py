"""Single calls batched on one pipelined connection (batched_calls.py), against a local
server that parses each POST and answers with its body: calls made together go in one
batch, each caller gets its own answer, nothing is sent twice when the connection
breaks; and the connection's idle expiry (pipeline.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from hippo.worker.mesos import MesosConnectionError, MesosNotSent
from hippo.worker.mesos.batched_calls import BatchedCalls
from hippo.worker.mesos.pipeline import Answer, PipelinedConnection
from tests.conftest import free_port

from .conftest import until

pytestmark = pytest.mark.anyio


@dataclass
class Server:
    """Answers each POST 202 with the body it read, `hold` POSTs at a time (it reads
    that many before answering any), on each connection; `drop_after`: closes a
    connection instead of answering once it has answered that many in all;
    `close_after`: closes a connection once it has answered that many on it."""

    hold: int = 1
    drop_after: int | None = None
    close_after: int | None = None  # answers on a connection before closing it
    port: int = 0
    bodies: list[tuple[int, bytes]] = field(default_factory=list)  # (connection, body)
    connections: int = 0
    answered: int = 0
    received: asyncio.Event = field(default_factory=asyncio.Event)  # a body was read

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        served = 0
        try:
            while True:
                held = []
                for _ in range(self.hold):
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    body = await reader.readexactly(length)
                    self.bodies.append((connection, body))
                    self.received.set()
                    held.append(body)
                for body in held:
                    if self.drop_after is not None and self.answered >= self.drop_after:
                        return
                    self.answered += 1
                    served += 1
                    head = b"HTTP/1.1 202 Accepted\r\nContent-Length: %d\r\n\r\n" % len(body)
                    writer.write(head + body)
                await writer.drain()
                if self.close_after is not None and served >= self.close_after:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Server]]:
    servers: list[asyncio.Server] = []

    async def start(**config: int) -> Server:
        found = Server(**config)
        server = await asyncio.start_server(found.serve, "127.0.0.1", 0)
        found.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return found

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()


@contextlib.asynccontextmanager
async def calls_to(server: Server) -> AsyncIterator[tuple[BatchedCalls, str]]:
    """New BatchedCalls and the server's URL; the calls are closed after."""
    calls = BatchedCalls(PipelinedConnection(answer_timeout_s=10))
    try:
        yield calls, f"http://127.0.0.1:{server.port}/api/v1/scheduler"
    finally:
        await calls.aclose()


async def post_together(
    server: Server, posts: list[tuple[bytes, dict[str, str]]]
) -> list[Answer | BaseException]:
    """Each (body, headers) posted at once through new BatchedCalls; answers or errors."""
    async with calls_to(server) as (calls, url):
        return await asyncio.gather(
            *(calls.post(url, body, headers) for body, headers in posts), return_exceptions=True
        )


async def test_calls_made_together_go_in_one_batch_each_with_its_own_answer(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    # The server answers only once it has read all five: sent one by one, each
    # waiting for its answer, they would never be answered.
    server = await serve(hold=5)
    answers = await post_together(
        server, [(b"call %d" % n, {"Mesos-Stream-Id": "s1"}) for n in range(5)]
    )
    assert answers == [Answer(202, b"call %d" % n) for n in range(5)]
    assert server.bodies == [(1, b"call %d" % n) for n in range(5)]


async def test_calls_on_another_stream_go_in_a_batch_of_their_own_in_order(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve()
    posts = [(b"a", {"Mesos-Stream-Id": "s1"}), (b"b", {"Mesos-Stream-Id": "s2"})]
    answers = await post_together(server, [*posts, (b"c", {"Mesos-Stream-Id": "s1"})])
    assert answers == [Answer(202, b"a"), Answer(202, b"b"), Answer(202, b"c")]
    assert [body for _, body in server.bodies] == [b"a", b"c", b"b"]


async def test_calls_left_unanswered_by_a_broken_connection_fail_and_are_not_sent_again(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve(hold=3, drop_after=1)
    found = await post_together(server, [(b"call %d" % n, {}) for n in range(3)])
    assert found[0] == Answer(202, b"call 0")
    # Written, then unanswered: Mesos may have taken them (not MesosNotSent).
    assert all(type(e) is MesosConnectionError for e in found[1:])
    assert [body for _, body in server.bodies] == [b"call 0", b"call 1", b"call 2"]


async def test_calls_whose_connection_cannot_be_opened_are_known_not_sent() -> None:
    port = free_port()  # nothing listens on it
    calls = BatchedCalls(PipelinedConnection(connect_timeout_s=10))
    try:
        with pytest.raises(MesosNotSent):
            await calls.post(f"http://127.0.0.1:{port}/api/v1/scheduler", b"call", {})
    finally:
        await calls.aclose()


async def test_a_call_cancelled_before_its_batch_is_not_sent(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve()
    async with calls_to(server) as (calls, url):
        posted = [
            asyncio.ensure_future(calls.post(url, body, {}))
            for body in (b"first", b"cancelled", b"second")
        ]
        await asyncio.sleep(0)  # each call is made; the batch is not sent yet
        posted[1].cancel()
        first, second = await asyncio.gather(posted[0], posted[2])
    assert (first.body, second.body) == (b"first", b"second")
    assert [body for _, body in server.bodies] == [b"first", b"second"]


async def test_a_batch_that_cannot_be_sent_fails_alone_and_later_calls_go_out(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve()
    async with calls_to(server) as (calls, url):
        with pytest.raises(MesosConnectionError, match="not sent"):
            await calls.post(url, b"bad", {"X-Note": "\u2192"})  # not Latin-1: no header
        assert await calls.post(url, b"ok", {}) == Answer(202, b"ok")
    assert server.bodies == [(1, b"ok")]


async def test_a_connection_the_server_closed_while_idle_is_not_written_on(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve(close_after=1)
    connection = PipelinedConnection()  # no idle expiry: only the server's close counts
    url = f"http://127.0.0.1:{server.port}/api"
    try:
        assert await connection.post(url, [b"one"], {}) == [Answer(202, b"one")]
        await until(lambda: connection._streams and connection._streams[0].at_eof(), 10, "EOF")
        assert await connection.post(url, [b"two"], {}) == [Answer(202, b"two")]
    finally:
        await connection.aclose()
    assert server.bodies == [(1, b"one"), (2, b"two")]


async def test_closing_fails_the_calls_still_waiting(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve(hold=2)  # never answers a lone call
    calls = BatchedCalls(PipelinedConnection(answer_timeout_s=10))
    url = f"http://127.0.0.1:{server.port}/api/v1/scheduler"
    waiting = asyncio.ensure_future(calls.post(url, b"lone", {}))
    await asyncio.wait_for(server.received.wait(), 10)  # sent, never answered
    queued = asyncio.ensure_future(calls.post(url, b"queued", {}))
    await asyncio.sleep(0)  # made: it waits for the batch on its way
    await calls.aclose()
    for call in (waiting, queued):
        with pytest.raises(MesosConnectionError):
            await call
    with pytest.raises(MesosConnectionError, match="closed"):
        await calls.post(url, b"after", {})
    assert server.bodies == [(1, b"lone")]


@pytest.mark.parametrize("expiry_s, connections", [(None, 1), (0.0, 3)])
async def test_a_connection_idle_past_its_expiry_is_replaced_before_a_batch(
    serve: Callable[..., Awaitable[Server]], expiry_s: float | None, connections: int
) -> None:
    server = await serve()
    connection = PipelinedConnection(idle_expiry_s=expiry_s)
    url = f"http://127.0.0.1:{server.port}/api"
    try:
        for n in range(3):
            assert await connection.post(url, [b"%d" % n], {}) == [Answer(202, b"%d" % n)]
    finally:
        await connection.aclose()
    assert connection.opened == connections
    assert len({c for c, _ in server.bodies}) == connections
