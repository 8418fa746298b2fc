"""POSTs written back to back on one kept-alive HTTP/1.1 connection (pipelining).

The leader acknowledges about three status updates per task it launches. Through httpx
one call costs ~1.3 ms of the event loop's CPU here and concurrent calls queue in its
pool, so acknowledgements alone would hold the leader to a few hundred updates a
second. Mesos (libprocess), like uvicorn behind the dev master, answers pipelined
requests in order: a batch is written at once and its answers are read back in order,
for a small fraction of that cost per call.

Only the scheduler client (client.py) uses this: for acknowledgements, and for the other
calls through batched_calls.py, with the same headers (credentials) and TLS context;
it turns `PipelineBroken` and the statuses answered into its MesosError tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import MesosConnectionError
from .http1 import (
    Head,
    Origin,
    connect,
    encode_posts,
    origin_of,
    parse_head,
    read_body,
    read_head,
)

# Answer heads kept parsed, by their bytes: a master answers the calls
# of a batch with one same head (it changes with its Date header, once a second), and
# parsing it was most of reading an answer. All dropped at once past this.
HEADS_KEPT = 64

# The batch's deadline is pushed back after an answer read at least this long after the
# last push: answers read back to back from what one read brought (most of a batch) do
# not each move it, which cost as much as reading them. So a batch fails when no answer
# came for answer_timeout_s, give or take this.
DEADLINE_STEP_S = 0.001


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class PipelineBroken(MesosConnectionError):
    """The connection failed before every request was answered.

    `answers` are those read before it failed, in order; `reused` says whether the
    connection had served an earlier batch (a master may close an idle connection just
    as a batch is written, so that batch can be sent again on a new one); `sent` is
    False when the connection could not be opened, so nothing of the batch was written.
    """

    def __init__(
        self, message: str, answers: Sequence[Answer], reused: bool, sent: bool = True
    ) -> None:
        super().__init__(message)
        self.answers = list(answers)
        self.reused = reused
        self.sent = sent


# An answer's head, parsed, and the whole answer when the head says it has no body.
KeptHeads = dict[bytes, tuple[Head, tuple[Answer, bool] | None]]


async def read_answer(
    reader: asyncio.StreamReader, heads: KeptHeads | None = None
) -> tuple[Answer, bool]:
    """One answer from `reader`, read exactly, and whether the connection stays open
    after it. `heads`: heads parsed before, by their bytes, to reuse and add to. Raises
    as http1.read_head."""
    if heads is None:
        head = await read_head(reader)
    else:
        raw = await reader.readuntil(b"\r\n\r\n")  # as read_head reads it
        kept = heads.get(raw)
        if kept is None:
            kept = _kept(parse_head(raw))
            if len(heads) >= HEADS_KEPT:
                heads.clear()
            heads[raw] = kept
        head, bodiless = kept
        if bodiless is not None:
            return bodiless
    body, keep_alive = await read_body(reader, head)
    return Answer(head.status, body), keep_alive


def _kept(head: Head) -> tuple[Head, tuple[Answer, bool] | None]:
    # read_body reads Content-Length bytes of an answer not chunked: none for 0.
    if not head.chunked and head.headers.get("content-length") == "0":
        return head, (Answer(head.status, b""), head.keep_alive)
    return head, None


class PipelinedConnection:
    """One connection, opened on first use and kept for the next batch while the
    server keeps it; a batch for another URL (a new leading master) opens a new one.

    `idle_expiry_s`: a connection idle that long is closed before a batch, which then
    goes on a new one. For calls that must not be sent twice (ACCEPT): below the
    server's own idle timeout, no batch is written on a connection the server may be
    closing just then, where it could be lost unanswered (uvicorn, behind the dev
    master, closes after 5 s). None: kept as long as the server keeps it."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        *,
        connect_timeout_s: float = 5.0,
        answer_timeout_s: float = 10.0,
        idle_expiry_s: float | None = None,
    ) -> None:
        self._ssl = ssl_context
        self._connect_timeout_s = connect_timeout_s
        self._answer_timeout_s = answer_timeout_s
        self._idle_expiry_s = idle_expiry_s
        self._lock = asyncio.Lock()
        self._origin: Origin | None = None
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._used_at = 0.0  # loop time the last batch ended
        self._heads: KeptHeads = {}  # answers' heads parsed, by their bytes
        self.opened = 0  # connections opened so far

    async def post(
        self, url: str, bodies: Sequence[bytes], headers: Mapping[str, str]
    ) -> list[Answer]:
        """POST each body to `url`, all written at once; the answers in order.

        Raises PipelineBroken (with the answers read so far) when the connection fails,
        and MesosConnectionError for a URL it cannot use.
        """
        if not bodies:
            return []
        parts = urlsplit(url)
        origin = origin_of(parts)
        if origin is None:
            raise MesosConnectionError(f"cannot pipeline calls to {url!r}")
        payload = encode_posts(parts.path or "/", parts.netloc, headers, bodies)
        answers: list[Answer] = []
        async with self._lock:
            reused = self._reusable(origin)
            written = False
            try:
                reader, writer = await self._open(origin, reused)
                # The transport sends what does not fit in the socket at once while the
                # answers are read, so a large batch cannot deadlock against the server.
                writer.write(payload)
                written = True
                await self._read_answers(reader, len(bodies), answers, url, reused)
                self._used_at = asyncio.get_running_loop().time()
            except PipelineBroken:
                raise
            except (OSError, EOFError, ValueError, TimeoutError, asyncio.LimitOverrunError) as e:
                self.close()
                raise PipelineBroken(
                    f"POST to {url} failed after {len(answers)} of {len(bodies)} answers: {e!r}",
                    answers,
                    reused,
                    sent=written,
                ) from e
            except BaseException:
                self.close()  # cancelled mid-batch: the connection's state is unknown
                raise
        return answers

    async def _read_answers(
        self,
        reader: asyncio.StreamReader,
        count: int,
        answers: list[Answer],
        url: str,
        reused: bool,
    ) -> None:
        """Read `count` answers into `answers`; TimeoutError when none came for
        answer_timeout_s. One deadline for the batch, pushed back as answers come (a
        new timeout context per answer cost as much as its read; DEADLINE_STEP_S)."""
        loop = asyncio.get_running_loop()
        heads = self._heads
        timeout_s = self._answer_timeout_s
        pushed = loop.time()
        async with asyncio.timeout(timeout_s) as deadline:
            for n in range(count):
                answer, keep_alive = await read_answer(reader, heads)
                answers.append(answer)
                if not keep_alive:
                    self.close()
                    if n + 1 < count:
                        raise PipelineBroken(
                            f"{url} closed the connection after {n + 1} of {count} answers",
                            answers,
                            reused,
                        )
                    return
                now = loop.time()
                if now - pushed >= DEADLINE_STEP_S:
                    deadline.reschedule(now + timeout_s)
                    pushed = now

    def _reusable(self, origin: Origin) -> bool:
        """Whether the open connection goes to `origin`, is open on both sides (a server
        that closed it idle has sent its end: the reader is at EOF) and not idle too
        long."""
        if self._streams is None or self._origin != origin:
            return False
        reader, writer = self._streams
        if writer.is_closing() or reader.at_eof():
            return False
        idle_s = asyncio.get_running_loop().time() - self._used_at
        return self._idle_expiry_s is None or idle_s < self._idle_expiry_s

    async def _open(
        self, origin: Origin, reuse: bool
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if reuse and self._streams is not None:
            return self._streams
        self.close()
        self._streams = await connect(origin, self._ssl, self._connect_timeout_s)
        self._origin = origin
        self.opened += 1
        return self._streams

    def close(self) -> None:
        """Close the connection now (its transport finishes closing on the loop)."""
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
            self._origin = None

    async def aclose(self) -> None:
        """Close the connection and wait until its transport is closed, so nothing is
        left open when the event loop ends."""
        streams = self._streams
        self.close()
        if streams is not None:
            with contextlib.suppress(OSError, ssl.SSLError):
                await streams[1].wait_closed()
