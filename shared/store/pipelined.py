"""One Redis connection shared by every concurrent caller of a process: the commands
sent in one turn of the event loop go out in one write, pipelined behind the others in
flight, and Redis's replies, which come in the order of the commands, are handed back
in that order.

For the API's hot reads. redis-py takes a pooled connection per command (a lock on the
pool each way) and wraps the command in a retry, a Task for the write's timeout and a
timeout context for the read: several times the CPU of the round trip itself, most of
what GET of one task spent. Here a command costs a future and its share of one write.

Only a plain TCP server (redis://) is served this way: TLS, Unix sockets and Sentinel
keep redis-py's connections (`for_client` answers None). The errors are redis-py's
classes, as its parser makes them, so `translate_errors` treats both alike: a lost
connection or a reply later than the client's socket timeout fails every command in
flight with ConnectionError or TimeoutError, and the next command connects again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis._parsers.base import BaseParser  # redis-py's error reply -> exception class
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

# How often, as a fraction of the reply timeout, the oldest command in flight is checked.
_CHECKS_PER_TIMEOUT = 5


def _pack(args: tuple[str | bytes | int | float, ...]) -> bytes:
    """A command as the RESP array of bulk strings Redis reads."""
    packed: bytes = hiredis.pack_command(args)  # type: ignore[arg-type]  # its stub: a 1-tuple
    return packed


class _Replies(asyncio.Protocol):
    """A connection's commands in flight, oldest first, each a future its reply settles."""

    def __init__(self, where: str, reply_timeout_s: float) -> None:
        self.where = where
        self.reply_timeout_s = reply_timeout_s
        self.reader = hiredis.Reader(
            protocolError=InvalidResponse, replyError=BaseParser.parse_error
        )
        self.waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.loop = asyncio.get_running_loop()
        self._watch: asyncio.TimerHandle | None = None
        # Commands sent in one turn of the event loop go out in one write.
        self._unsent: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP stream's

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """Queue `command` for this turn's write; the future holds its reply, or the
        error it is."""
        assert self.transport is not None
        future: asyncio.Future[Any] = self.loop.create_future()
        if self.closed:  # lost between the caller's check and now
            future.set_exception(RedisConnectionError(f"Connection to {self.where} closed"))
            return future
        self.waiting.append((future, self.loop.time()))
        if not self._unsent:
            self.loop.call_soon(self._write)
        self._unsent.append(command)
        if self._watch is None:
            self._watch = self.loop.call_later(self._check_every_s, self._check_oldest)
        return future

    def _write(self) -> None:
        """The turn's commands, in one write (one syscall; Redis reads them as one)."""
        if self.transport is not None and not self.closed:
            self.transport.write(b"".join(self._unsent))
        self._unsent.clear()

    @property
    def _check_every_s(self) -> float:
        return self.reply_timeout_s / _CHECKS_PER_TIMEOUT

    def _check_oldest(self) -> None:
        """The replies come in order: the oldest command late means all of them are."""
        self._watch = None
        if not self.waiting:
            return
        if self.loop.time() - self.waiting[0][1] > self.reply_timeout_s:
            self.abort(RedisTimeoutError(f"Timeout reading from {self.where}"))
            return
        self._watch = self.loop.call_later(self._check_every_s, self._check_oldest)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except InvalidResponse as e:  # not RESP: nothing after it can be trusted
                self.abort(e)
                return
            if reply is False:
                return
            if not self.waiting:
                self.abort(InvalidResponse(f"a reply from {self.where} to no command"))
                return
            future, _ = self.waiting.popleft()
            if future.done():  # its caller was cancelled; the reply is its own all the same
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {exc}" if exc is not None else ": connection closed by server"
        self._fail_all(RedisConnectionError(f"Error while reading from {self.where}{reason}"))

    def abort(self, error: Exception) -> None:
        """Close the connection, failing every command in flight with `error`. A
        connection whose event loop has closed (the process runs a new one) cannot be
        driven any more: it is only marked closed, and its socket goes with it."""
        self._fail_all(error)
        if self.transport is not None and not self.loop.is_closed():
            self.transport.abort()

    def _fail_all(self, error: Exception) -> None:
        self.closed = True
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():  # one exception each: each caller's traceback its own
                future.set_exception(type(error)(*error.args))


class PipelinedConnection:
    """Commands over one connection shared by concurrent callers, connected on first
    use (and again after a loss). Replies are as redis-py's with decode_responses off:
    bytes, ints, lists, None."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout_s: float,
        reply_timeout_s: float,
    ) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.connect_timeout_s = connect_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self._replies: _Replies | None = None
        self._connecting: asyncio.Task[_Replies] | None = None

    @classmethod
    def for_client(cls, client: aioredis.Redis) -> PipelinedConnection | None:
        """A connection to the server `client` speaks to, with its login and timeouts;
        None unless that is a plain TCP connection in RESP2 (TLS, a Unix socket, a
        Sentinel-managed master: the caller keeps using `client`)."""
        pool = client.connection_pool
        options = pool.connection_kwargs
        if pool.connection_class is not aioredis.Connection or options.get("protocol") not in (
            None,
            2,
            "2",
        ):
            return None
        return cls(
            options.get("host", "localhost"),
            int(options.get("port", 6379)),
            db=int(options.get("db", 0)),
            username=options.get("username"),
            password=options.get("password"),
            connect_timeout_s=options.get("socket_connect_timeout") or 5.0,
            reply_timeout_s=options.get("socket_timeout") or 5.0,
        )

    async def execute(self, *args: str | bytes | int | float) -> Any:
        """Send one command and return its reply; redis-py's exceptions on failure."""
        replies = self._replies
        if replies is None or replies.closed or replies.loop is not asyncio.get_running_loop():
            replies = await self._connected()
        return await replies.send(_pack(args))

    async def run_script(
        self, script: AsyncScript, args: Sequence[str | bytes | int | float]
    ) -> Any:
        """A script registered with redis-py (`register_script`), with no KEYS: by its
        SHA, and by its text the first time this server has not seen it."""
        try:
            return await self.execute("EVALSHA", script.sha, 0, *args)
        except NoScriptError:
            text = script.script
            return await self.execute(
                "EVAL", text.tobytes() if isinstance(text, memoryview) else text, 0, *args
            )

    async def _connected(self) -> _Replies:
        """The connection, made by one attempt that every caller meanwhile shares: while
        the server is unreachable each request waits for one connect timeout at most,
        not for the attempts of the requests queued before it."""
        loop = asyncio.get_running_loop()
        attempt = self._connecting
        if attempt is None or attempt.get_loop() is not loop:
            if self._replies is not None and not self._replies.closed:
                self._replies.abort(RedisConnectionError("connection replaced"))
            self._replies = None
            attempt = self._connecting = loop.create_task(self._connect())
            attempt.add_done_callback(self._settle)
        return await asyncio.shield(attempt)

    def _settle(self, attempt: asyncio.Task[_Replies]) -> None:
        """The next command after a failed attempt tries again; a connection made after
        `aclose` is closed."""
        current = self._connecting is attempt
        if current:
            self._connecting = None
        if attempt.cancelled() or attempt.exception() is not None:
            return
        if current:
            self._replies = attempt.result()
        else:
            attempt.result().abort(RedisConnectionError("connection closed by client"))

    async def _connect(self) -> _Replies:
        where = f"{self.host}:{self.port}"
        loop = asyncio.get_running_loop()
        replies: _Replies | None = None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, replies = await loop.create_connection(
                    lambda: _Replies(where, self.reply_timeout_s), self.host, self.port
                )
                login = []
                if self.password is not None:
                    user = () if self.username is None else (self.username,)
                    login.append(replies.send(_pack(("AUTH", *user, self.password))))
                if self.db:
                    login.append(replies.send(_pack(("SELECT", self.db))))
                for found in await asyncio.gather(*login, return_exceptions=True):
                    if isinstance(found, BaseException):
                        raise found
            return replies
        except BaseException as e:
            if replies is not None:
                replies.abort(RedisConnectionError(f"Error connecting to {where}"))
            if isinstance(e, TimeoutError):
                raise RedisTimeoutError(f"Timeout connecting to {where}") from None
            if isinstance(e, OSError):
                raise RedisConnectionError(f"Error connecting to {where}: {e}") from e
            if isinstance(e, Exception) and not isinstance(e, RedisConnectionError):
                # a refused login or SELECT: the server is there, not for us
                raise RedisConnectionError(f"Error logging in to {where}: {e}") from e
            raise

    async def aclose(self) -> None:
        """Close the connection; a command after this connects again."""
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        if self._replies is not None and not self._replies.closed:
            self._replies.abort(RedisConnectionError("connection closed by client"))
        self._replies = None
