"""A TCP proxy in front of a (dev) master that records the calls passing through it.

Bytes are passed on unchanged in both directions; a copy of what a client sends is
parsed as HTTP/1.1 requests (pipelined ones included), so a test can check the headers
each call carried. It runs its own event loop on a background thread, so a worker
process and the test process can both go through it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SeenCall:
    connection: int  # which client connection carried it, numbered from 1
    call_type: str  # SUBSCRIBE, ACKNOWLEDGE, ... ("" when the body is not a call)
    headers: dict[str, str] = field(repr=False)  # names in lower case


class _RequestParser:
    """Splits the bytes a client sends into requests, however they are chunked."""

    def __init__(self) -> None:
        self._buffer = b""
        self._head: dict[str, str] | None = None
        self._length = 0

    def feed(self, data: bytes) -> list[tuple[dict[str, str], bytes]]:
        self._buffer += data
        found = []
        while True:
            if self._head is None:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    return found
                lines = self._buffer[:end].decode("latin-1").split("\r\n")[1:]
                self._buffer = self._buffer[end + 4 :]
                self._head = {
                    k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)
                }
                self._length = int(self._head.get("content-length", "0"))
            if len(self._buffer) < self._length:
                return found
            body, self._buffer = self._buffer[: self._length], self._buffer[self._length :]
            found.append((self._head, body))
            self._head = None


class RecordingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: dict[int, list[asyncio.StreamWriter]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # handlers and their pipes
        self._connecting: set[asyncio.Task[None]] = set()  # handlers connecting upstream
        self._lock = threading.Lock()
        self._calls: list[SeenCall] = []
        self._connections = 0
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def calls(self, call_type: str | None = None) -> list[SeenCall]:
        with self._lock:
            return [c for c in self._calls if call_type is None or c.call_type == call_type]

    def start(self) -> RecordingProxy:
        self._thread.start()
        self._server = self._run(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def drop_call_connections(self) -> None:
        """Close every client connection that never carried a SUBSCRIBE (the stream
        stays), as a master closes kept-alive connections it finds idle."""
        streams = {c.connection for c in self.calls("SUBSCRIBE")}

        async def drop() -> None:
            for number, writers in list(self._writers.items()):
                if number not in streams:
                    for writer in writers:
                        writer.close()

        self._run(drop())

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            # Stop accepting first, but leave the server open: a connection already
            # accepted is still on its way to _serve (in asyncio's accept task, then
            # in a task of ours not yet started), and closing the server under it
            # (Python 3.11) or cancelling either task leaks its socket.
            for sock in self._server.sockets:
                self._loop.remove_reader(sock.fileno())
            me = asyncio.current_task()
            deadline = self._loop.time() + 5
            while self._loop.time() < deadline and any(
                t is not me and t not in self._tasks for t in asyncio.all_tasks()
            ):
                await asyncio.sleep(0)
            # Closing every connection ends each handler, which then waits for its
            # transports to close; only a handler still connecting upstream is cancelled.
            for writers in self._writers.values():
                for writer in writers:
                    writer.close()
            for task in self._connecting:
                task.cancel()  # cancelling a connect leaks nothing
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._server.close()
            await self._server.wait_closed()

        self._run(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._track(task)
        self._connections += 1
        number = self._connections
        writers = self._writers[number] = [writer]
        self._connecting.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except (OSError, asyncio.CancelledError):
            up_reader, up_writer = None, None  # the master is gone, or stop() came
        finally:
            self._connecting.discard(task)
        if up_reader is not None and up_writer is not None and not writer.is_closing():
            writers.append(up_writer)
            await self._pipe(number, reader, writer, up_reader, up_writer)
        elif up_writer is not None:
            writers.append(up_writer)  # stop() came while connecting
        for w in writers:
            w.close()
        # Wait for the transports to close: the loop may end right after this.
        await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
        self._writers.pop(number, None)

    async def _pipe(
        self,
        number: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        parser = _RequestParser()

        async def upstream() -> None:
            while data := await reader.read(65536):
                for headers, body in parser.feed(data):
                    self._record(number, headers, body)
                up_writer.write(data)
                await up_writer.drain()

        async def downstream() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()

        async def guarded(pipe: Any) -> None:
            try:
                await pipe
            except OSError:
                pass  # a reset connection ends the pipe as an EOF does

        # Either side ending ends both, as a connection does: closing both
        # connections makes the other pipe read its EOF.
        pipes = [
            asyncio.ensure_future(guarded(upstream())),
            asyncio.ensure_future(guarded(downstream())),
        ]
        for pipe in pipes:
            self._track(pipe)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        writer.close()
        up_writer.close()
        await asyncio.gather(*pipes, return_exceptions=True)

    def _record(self, number: int, headers: dict[str, str], body: bytes) -> None:
        try:
            call_type = str(json.loads(body).get("type", ""))
        except (ValueError, AttributeError):
            call_type = ""
        with self._lock:
            self._calls.append(SeenCall(number, call_type, headers))
