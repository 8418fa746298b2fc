"""HTTP/1.1 on the scheduler client's own connections (RFC 9112): requests as bytes, an
answer's head, its body by Content-Length, chunks or the connection's end, and a
streamed body's chunks decoded as they come.

Two users: pipeline.py writes calls back to back and reads each answer exactly (never
past its end: the next answer follows on the same connection), and subscription.py
reads the event stream, a chunked body that lasts as long as the subscription, in large
blocks. httpx's pure-Python parser cost the leader about 0.3 ms per thousand stream
chunks (a fifth of the time of handling the events they carry); this costs a tenth of
that.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult

MAX_HEAD_BYTES = 64 * 1024  # status line and headers of one answer
MAX_CHUNK_LINE_BYTES = 1024  # a chunk's size line, extensions included

Origin = tuple[str, str, int]  # scheme, host, port


def origin_of(parts: SplitResult) -> Origin | None:
    """(scheme, host, port) of an http(s) URL; None for any other."""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


async def connect(
    origin: Origin, ssl_context: ssl.SSLContext | None, timeout_s: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to `origin`; https uses `ssl_context` (default: the system's CAs).
    Raises OSError, ssl.SSLError or TimeoutError."""
    scheme, host, port = origin
    context = None
    if scheme == "https":
        context = ssl_context if ssl_context is not None else ssl.create_default_context()
    async with asyncio.timeout(timeout_s):
        return await asyncio.open_connection(host, port, ssl=context, limit=MAX_HEAD_BYTES)


def encode_posts(
    path: str, host: str, headers: Mapping[str, str], bodies: Sequence[bytes]
) -> bytes:
    """The bytes of one POST per body, ready to be written at once."""
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    return b"".join(
        f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body for body in bodies
    )


@dataclass(frozen=True)
class Head:
    """An answer's status line and headers (names lower-cased)."""

    status: int
    headers: dict[str, str]
    keep_alive: bool  # the connection may serve another request after this answer

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()


async def read_head(reader: asyncio.StreamReader) -> Head:
    """The next answer's head. Raises ValueError when malformed, EOFError
    (IncompleteReadError) when the connection ends within it, and LimitOverrunError
    beyond MAX_HEAD_BYTES."""
    return parse_head(await reader.readuntil(b"\r\n\r\n"))


def parse_head(raw: bytes) -> Head:
    """An answer's head from its bytes, up to and with the blank line that ends it.
    Raises ValueError when malformed."""
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
    status = int(rest.split(" ", 1)[0])
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
    return Head(status, headers, keep_alive)


async def read_body(reader: asyncio.StreamReader, head: Head) -> tuple[bytes, bool]:
    """The whole body of the answer `head` began, read exactly; and whether the
    connection stays open after it. Raises as read_head."""
    if head.chunked:
        return await _read_chunked(reader), head.keep_alive
    if "content-length" in head.headers:
        return await reader.readexactly(int(head.headers["content-length"])), head.keep_alive
    if head.status in (204, 304) or 100 <= head.status < 200:
        return b"", head.keep_alive
    return await reader.read(), False  # delimited by the end of the connection


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            break
        parts.append((await reader.readexactly(size + 2))[:-2])
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields, if any
        pass
    return b"".join(parts)


class ChunkedDecoder:
    """A chunked body decoded incrementally: `feed` any slice of the bytes on the wire,
    get the body bytes they complete. `done` once the last chunk and its trailer fields
    are read; bytes after that are not the body's and are ignored. Pure.

    Raises ValueError on a malformed size line or chunk end.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._left = 0  # body bytes of the current chunk still to come
        self._crlf = False  # the current chunk's data is read, its CRLF is next
        self._trailers = False  # the last chunk was read: trailer lines until an empty one
        self.done = False

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        self._buffer += data
        out = bytearray()
        buffer = self._buffer
        pos = 0
        while True:
            if self._left:
                take = min(self._left, len(buffer) - pos)
                out += buffer[pos : pos + take]
                pos += take
                self._left -= take
                if self._left:
                    break
                self._crlf = True
            if self._crlf:
                if len(buffer) - pos < 2:
                    break
                if buffer[pos : pos + 2] != b"\r\n":
                    raise ValueError("a chunk does not end with CRLF")
                pos += 2
                self._crlf = False
            end = buffer.find(b"\r\n", pos)
            if end < 0:
                if len(buffer) - pos > MAX_CHUNK_LINE_BYTES:
                    raise ValueError("a chunk size line is too long")
                break
            line = bytes(buffer[pos:end])
            pos = end + 2
            if self._trailers:
                if not line:
                    self.done = True
                    break
                continue
            size = int(line.split(b";", 1)[0].strip() or b"x", 16)
            if size < 0:
                raise ValueError(f"a negative chunk size: {line[:40]!r}")
            if size == 0:
                self._trailers = True
            self._left = size
        del buffer[:pos]
        return bytes(out)
