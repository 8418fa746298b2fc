"""uvicorn's HTTP protocol, answering scheduler calls itself: the dev master's hot path.

A framework's calls (ACCEPT, and two ACKNOWLEDGEs per task) cost the dev master more
in uvicorn's ASGI machinery (a task, events and dicts per request, a write per answer)
than in their own work. So a POST to /api/v1/scheduler that carries a Mesos-Stream-Id
header, and so cannot start a subscription stream, is answered here as soon as its
body is in, by the same `SchedulerEndpoint.answer` the ASGI route calls, and the
answers to the calls pipelined in one read go out in one write. Every other request
(SUBSCRIBE, /state, /devmaster/..., a call behind a request still being answered)
takes uvicorn's own path through the app, so the answers are the same either way.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .app import SCHEDULER_PATH, Answer, SchedulerEndpoint, plain_headers
from .model import Stream

log = logging.getLogger(__name__)

_PATH = SCHEDULER_PATH.encode()
_INTERNAL_ERROR: Answer = (500, "Internal Server Error", [(b"connection", b"close")])
_ACCEPTED: Answer = (202, "", [])


class SchedulerCallProtocol(HttpToolsProtocol):
    """Set `scheduler` on a subclass (`for_endpoint`): uvicorn makes one per connection."""

    scheduler: SchedulerEndpoint

    @classmethod
    def for_endpoint(cls, scheduler: SchedulerEndpoint) -> type[SchedulerCallProtocol]:
        return type("SchedulerCallProtocol", (cls,), {"scheduler": scheduler})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._call_body: list[bytes] | None = None  # the body of a call answered here
        self._call_keep_alive = True
        self._answers: list[bytes] = []  # answers not yet written
        # 202 Accepted encoded, and the default headers it was encoded with
        self._accepted: tuple[list[tuple[bytes, bytes]] | None, bytes] = (None, b"")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._answers:
            self._write_answers()
            if self.flow.write_paused:  # a client that does not read its answers
                self.flow.pause_reading()
            idle = self._call_body is None and (self.cycle is None or self.cycle.response_complete)
            if idle and not self.transport.is_closing() and self.timeout_keep_alive_task is None:
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._call_body is None and (self.cycle is None or self.cycle.response_complete):
            self.flow.resume_reading()  # (else the request in progress resumes it when done)

    def send_400_response(self, msg: str) -> None:
        self._write_answers()  # the calls before the malformed request were answered
        super().send_400_response(msg)

    def on_message_begin(self) -> None:
        # uvicorn's also builds the request's ASGI scope: only a request that takes the
        # app's path needs one, and on_headers_complete builds it then.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        if (
            self.url == _PATH
            and self.parser.get_method() == b"POST"
            and not self.expect_100_continue
            and not self.parser.should_upgrade()
            and (self.cycle is None or self.cycle.response_complete)
            and any(name == b"mesos-stream-id" for name, _ in self.headers)
        ):
            self._call_body = []
            self._call_keep_alive = (
                self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
            )
            return
        url, expect_100_continue, headers = self.url, self.expect_100_continue, self.headers
        super().on_message_begin()  # the scope, with what the parser gave kept
        self.url, self.expect_100_continue, self.headers = url, expect_100_continue, headers
        self.scope["headers"] = headers
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._call_body is None:
            super().on_body(body)
        else:
            self._call_body.append(body)

    def on_message_complete(self) -> None:
        if self._call_body is None:
            super().on_message_complete()
            return
        body, self._call_body = b"".join(self._call_body), None
        if self.transport.is_closing():
            return
        self.server_state.total_requests += 1
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in self.headers}
        keep_alive = self._call_keep_alive
        try:
            answer = self.scheduler.answer("POST", headers, body)
        except Exception:
            log.exception("scheduler call failed")
            answer, keep_alive = _INTERNAL_ERROR, False
        assert not isinstance(answer, Stream), "a call with a stream id never subscribes"
        if keep_alive and answer == _ACCEPTED:  # most answers: kept encoded
            defaults = self.server_state.default_headers
            if self._accepted[0] is not defaults:  # (uvicorn renews them every second)
                self._accepted = (defaults, self._encode(answer, keep_alive))
            self._answers.append(self._accepted[1])
            return
        self._answers.append(self._encode(answer, keep_alive))
        if not keep_alive:
            self._write_answers()
            self.transport.close()

    def _encode(self, answer: Answer, keep_alive: bool) -> bytes:
        """The answer's bytes, as uvicorn writes a response: its default headers
        (date, server unless turned off) first."""
        status, text, extra = answer
        body = text.encode()
        headers = [*self.server_state.default_headers, *plain_headers(body, extra)]
        if not keep_alive and (b"connection", b"close") not in headers:
            headers.append((b"connection", b"close"))
        head = b"".join(b"%s: %s\r\n" % header for header in headers)
        return b"%s%s\r\n%s" % (STATUS_LINE[status], head, body)

    def _write_answers(self) -> None:
        if self._answers:
            self.transport.write(b"".join(self._answers))
            self._answers.clear()
