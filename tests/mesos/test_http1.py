"""HTTP/1.1 framing of the client's own connections (worker/mesos/http1.py): the event
stream's chunked body decoded however the bytes are cut, and a master that takes the
SUBSCRIBE connection but never answers."""

from __future__ import annotations

import asyncio

import pytest

from hippo.worker.mesos import FrameworkSettings, MesosSchedulerClient
from hippo.worker.mesos.http1 import ChunkedDecoder

pytestmark = pytest.mark.anyio

BODY = b"12\n" + b'{"type":"HEARTBEAT"}' + b"300\n" + b"x" * 300
# The body in chunks of 7, 1 and the rest, with an extension and a trailer field.
WIRE = (
    b"7;name=value\r\n" + BODY[:7] + b"\r\n"
    b"1\r\n" + BODY[7:8] + b"\r\n" + f"{len(BODY) - 8:x}".encode() + b"\r\n" + BODY[8:] + b"\r\n"
    b"0\r\nExpires: never\r\n\r\n"
)


def decode(pieces: list[bytes]) -> tuple[bytes, bool]:
    decoder = ChunkedDecoder()
    return b"".join(decoder.feed(p) for p in pieces), decoder.done


def test_a_chunked_body_fed_whole_is_the_body() -> None:
    assert decode([WIRE]) == (BODY, True)


@pytest.mark.parametrize("cut", range(1, len(WIRE)))
def test_a_chunked_body_cut_anywhere_is_the_same_body(cut: int) -> None:
    assert decode([WIRE[:cut], WIRE[cut:]]) == (BODY, True)


def test_a_chunked_body_fed_a_byte_at_a_time_is_the_same_body() -> None:
    assert decode([WIRE[i : i + 1] for i in range(len(WIRE))]) == (BODY, True)


def test_bytes_after_the_last_chunk_are_not_the_body() -> None:
    assert decode([WIRE + b"HTTP/1.1 200 OK\r\n"]) == (BODY, True)


def test_an_open_stream_is_not_done() -> None:
    assert decode([WIRE[: WIRE.index(b"0\r\nExpires")]]) == (BODY, False)


@pytest.mark.parametrize(
    "wire",
    [b"zz\r\nab\r\n", b"2\r\nabXY", b"-2\r\nab\r\n", b"2" * 2000],
    ids=["size not hex", "no CRLF after data", "negative size", "endless size line"],
)
def test_a_malformed_chunked_body_raises(wire: bytes) -> None:
    with pytest.raises(ValueError):
        ChunkedDecoder().feed(wire)


async def test_a_master_that_never_answers_subscribe_is_given_up_and_retried() -> None:
    """It takes the connection and the SUBSCRIBE, then says nothing: the client gives
    up after first_event_timeout_s, notes why, and subscribes again."""
    connections = asyncio.Queue[None]()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        connections.put_nowait(None)
        await reader.read()  # until the client closes
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = MesosSchedulerClient(
        f"127.0.0.1:{port}",
        FrameworkSettings(name="mute"),
        first_event_timeout_s=0.2,
        backoff_initial_s=0.01,
        backoff_cap_s=0.01,
    )
    client.start()
    try:
        for _ in range(2):
            await asyncio.wait_for(connections.get(), 10)
        assert client.last_error is not None
        assert "TimeoutError" in client.last_error[0]
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
