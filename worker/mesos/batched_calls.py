"""Single scheduler calls (ACCEPT, DECLINE, KILL, ...) sent together on one pipelined
connection: the calls made while a batch is on its way go out in the next one, written
at once, and each caller gets its own answer.

An offer round ACCEPTs each of its offers with its own call, one per agent (Mesos takes
the offers of one agent per ACCEPT: src/master/validation.cpp, offer::validateSlave).
Through httpx's pool, 100 concurrent ACCEPTs (a round over 100 agents) cost the leader
about 2 ms of CPU each, most of it the pool matching requests to connections; here they
cost one write and one read of each answer, and one round trip for all of them.

Nothing is sent twice: a call left unanswered when the connection fails gets the
failure (Mesos may or may not have taken it), and the connection expires when idle
before the server would close it (PipelinedConnection's `idle_expiry_s`).

One batch is on its way at a time, so a call waits for the answers of the batch before
it (a DECLINE behind a round's ACCEPTs): a master answers a call once it has handled
it, in well under a millisecond per call here, and a master that stops answering fails
the batch after the call timeout, as it failed each call before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import MesosConnectionError, MesosNotSent
from .pipeline import Answer, PipelineBroken, PipelinedConnection

log = logging.getLogger(__name__)

# Calls written in one batch at most: a burst of KILLs goes in several.
BATCH_MAX = 1000


@dataclass(frozen=True)
class _Call:
    url: str
    headers: Mapping[str, str]
    body: bytes
    answer: asyncio.Future[Answer]


class BatchedCalls:
    """Calls posted one by one, sent in batches on `connection` (which it closes)."""

    def __init__(self, connection: PipelinedConnection) -> None:
        self._connection = connection
        self._waiting: list[_Call] = []
        self._sender: asyncio.Task[None] | None = None
        self._closed = False

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST `body` to `url` in the next batch; its answer. Raises
        MesosConnectionError when the connection failed before it was answered, or
        once closed (aclose)."""
        if self._closed:
            raise MesosConnectionError(f"{url}: the calls' connection is closed")
        call = _Call(url, dict(headers), body, asyncio.get_running_loop().create_future())
        self._waiting.append(call)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_waiting())
        return await call.answer

    async def _send_waiting(self) -> None:
        """Batch after batch until no call waits: the oldest call's and the other
        waiting calls to the same URL with the same headers (its stream and credentials),
        in the order they were made, BATCH_MAX at most. A caller cancelled before its
        batch is not sent."""
        try:
            while self._waiting:
                first = self._waiting[0]
                batch: list[_Call] = []
                rest: list[_Call] = []
                for call in self._waiting:
                    same = call.url == first.url and call.headers == first.headers
                    (batch if same and len(batch) < BATCH_MAX else rest).append(call)
                self._waiting = rest
                batch = [c for c in batch if not c.answer.done()]
                if batch:
                    await self._send(batch)
        except BaseException:  # cancelled (aclose): no batch follows
            _fail(self._waiting, "the calls' connection was closed")
            self._waiting = []
            raise

    async def _send(self, batch: list[_Call]) -> None:
        """One batch; its callers get their answers or the failure. Only cancellation
        is raised: the calls after it are sent whatever became of this one."""
        first = batch[0]
        try:
            answers = await self._connection.post(first.url, [c.body for c in batch], first.headers)
        except PipelineBroken as e:
            for call, answer in zip(batch, e.answers, strict=False):
                _answer(call, answer)
            _fail(batch[len(e.answers) :], str(e), MesosConnectionError if e.sent else MesosNotSent)
        except MesosConnectionError as e:
            _fail(batch, str(e))
        except asyncio.CancelledError:
            _fail(batch, f"{first.url}: the calls' connection was closed before the answer")
            raise
        except Exception as e:  # a bug (a header that cannot be encoded): not sent
            log.exception(
                "mesos: a batch of %d calls to %s could not be sent", len(batch), first.url
            )
            _fail(batch, f"{first.url}: not sent: {e!r}")
        else:
            for call, answer in zip(batch, answers, strict=True):
                _answer(call, answer)

    async def aclose(self) -> None:
        """Stop sending (waiting calls fail, later ones are refused) and close the
        connection."""
        self._closed = True
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        _fail(self._waiting, "the calls' connection was closed")
        self._waiting = []
        await self._connection.aclose()


def _answer(call: _Call, answer: Answer) -> None:
    if not call.answer.done():
        call.answer.set_result(answer)


def _fail(
    calls: list[_Call], why: str, error: type[MesosConnectionError] = MesosConnectionError
) -> None:
    for call in calls:
        if not call.answer.done():
            call.answer.set_exception(error(why))
