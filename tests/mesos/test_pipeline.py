"""The pipelined transport's encoding and answer parsing, on bytes; its answer deadline
against a local server that stops answering."""

from __future__ import annotations

import asyncio

import pytest

from hippo.worker.mesos.http1 import encode_posts
from hippo.worker.mesos.pipeline import (
    HEADS_KEPT,
    Answer,
    KeptHeads,
    PipelineBroken,
    PipelinedConnection,
    read_answer,
)

pytestmark = pytest.mark.anyio


def reader_of(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_each_body_becomes_one_post_with_its_length() -> None:
    encoded = encode_posts(
        "/api/v1/scheduler", "m:5050", {"Authorization": "Basic x"}, [b"{}", b"[1]"]
    )
    head = "POST /api/v1/scheduler HTTP/1.1\r\nHost: m:5050\r\nAuthorization: Basic x\r\n"
    assert encoded == (
        f"{head}Content-Length: 2\r\n\r\n{{}}{head}Content-Length: 3\r\n\r\n[1]".encode()
    )


async def test_answers_written_back_to_back_are_read_in_order() -> None:
    reader = reader_of(
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 8\r\n\r\nbad uuid"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n"
        b"Trailer: t\r\n\r\n"
    )
    assert await read_answer(reader) == (Answer(202, b""), True)
    assert await read_answer(reader) == (Answer(400, b"bad uuid"), True)
    assert await read_answer(reader) == (Answer(200, b"abcde"), True)


@pytest.mark.parametrize(
    "raw, answer",
    [
        (b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", b""),
        (b"HTTP/1.0 202 Accepted\r\nContent-Length: 0\r\n\r\n", b""),
        (b"HTTP/1.1 500 Oops\r\n\r\nuntil the end", b"until the end"),
    ],
)
async def test_an_answer_that_ends_the_connection_says_so(raw: bytes, answer: bytes) -> None:
    found, keep_alive = await read_answer(reader_of(raw))
    assert found.body == answer and keep_alive is False


@pytest.mark.parametrize(
    "raw, error",
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", ValueError),
        (b"HTTP/1.1 abc OK\r\n\r\n", ValueError),
        (b"HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n\r\nshort", EOFError),
        (b"HTTP/1.1 202 Acc", EOFError),
    ],
)
@pytest.mark.parametrize("keep_heads", [False, True])
async def test_a_malformed_or_cut_answer_raises(
    raw: bytes, error: type[Exception], keep_heads: bool
) -> None:
    """With heads kept, twice: a bad head is not kept and raises again."""
    heads: KeptHeads | None = {} if keep_heads else None
    for _ in range(2 if keep_heads else 1):
        with pytest.raises(error):
            await read_answer(reader_of(raw), heads)


async def test_a_batch_whose_answers_stop_coming_fails_with_those_read() -> None:
    served = asyncio.Event()

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        await reader.read()  # the second POST is never answered
        writer.close()
        await writer.wait_closed()
        served.set()

    server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connection = PipelinedConnection(answer_timeout_s=0.2)
    try:
        with pytest.raises(PipelineBroken) as broken:
            await connection.post(f"http://127.0.0.1:{port}/api", [b"", b""], {})
        assert broken.value.answers == [Answer(202, b"")]
    finally:
        await connection.aclose()
        await asyncio.wait_for(served.wait(), 10)
        server.close()
        await server.wait_closed()


ANSWERS = [
    b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 8\r\n\r\nbad uuid",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 202 Accepted\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 202 Accepted\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 500 Oops\r\n\r\nuntil the end",
    # chunked wins over a Content-Length (http1.read_body)
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"2\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
]


@pytest.mark.parametrize("raw", ANSWERS)
async def test_answers_read_with_heads_kept_are_the_same_each_time(raw: bytes) -> None:
    heads: KeptHeads = {}
    expected = await read_answer(reader_of(raw))
    assert await read_answer(reader_of(raw), heads) == expected  # parsed
    assert await read_answer(reader_of(raw), heads) == expected  # kept
    assert list(heads) == [raw[: raw.index(b"\r\n\r\n") + 4]]


async def test_kept_heads_are_reused_by_their_bytes_and_dropped_past_the_limit() -> None:
    heads: KeptHeads = {}
    reader = reader_of(b"".join(ANSWERS[:3]) + ANSWERS[0])
    found = [await read_answer(reader, heads) for _ in range(4)]
    assert [a.status for a, _ in found] == [202, 400, 200, 202]
    assert len(heads) == 3
    for n in range(HEADS_KEPT):
        await read_answer(reader_of(f"HTTP/1.1 202 A{n}\r\n\r\n".encode()), heads)
    assert len(heads) <= HEADS_KEPT
