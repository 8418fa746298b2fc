"""Scheduler calls answered by the dev master's own HTTP protocol (call_protocol.py):
the same answers as through the ASGI route, pipelined calls answered in one write,
every other request left to the app."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from hippo.devmaster.app import SCHEDULER_PATH, Answer
from hippo.devmaster.call_protocol import SchedulerCallProtocol
from hippo.devmaster.server import DevMaster

from .conftest import Connect


class _Endpoint:
    """Answers every call 202, or raises for a body of `boom`."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def answer(self, method: str, headers: dict[str, str], body: bytes) -> Answer:
        self.bodies.append(body)
        if body == b"boom":
            raise RuntimeError("boom")
        return 202, "", []


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 5050), "peername": ("127.0.0.1", 40000)}.get(name)

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


def _post(body: bytes, path: str = SCHEDULER_PATH, stream_id: str = "s", *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in (f"Mesos-Stream-Id: {stream_id}", *headers))
    return (
        f"POST {path} HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\n{head}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@pytest.fixture
def wired() -> Any:
    """(protocol, transport, endpoint, app calls) on a fresh loop, no server."""
    app_calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        app_calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    loop = asyncio.new_event_loop()
    endpoint = _Endpoint()
    config = uvicorn.Config(app, lifespan="off", http="httptools")
    protocol_class = SchedulerCallProtocol.for_endpoint(endpoint)  # type: ignore[arg-type]
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    transport = _Transport()
    protocol.connection_made(transport)
    yield protocol, transport, endpoint, app_calls
    loop.close()


def test_pipelined_calls_are_answered_at_once_in_one_write(wired: Any) -> None:
    protocol, transport, endpoint, app_calls = wired
    protocol.data_received(_post(b"a") + _post(b"b") + _post(b"c"))
    assert endpoint.bodies == [b"a", b"b", b"c"]
    assert len(transport.writes) == 1
    assert transport.writes[0].count(b"HTTP/1.1 202 Accepted\r\n") == 3
    assert b"content-length: 0\r\n" in transport.writes[0]
    assert app_calls == []


def test_a_client_not_reading_its_answers_is_not_read_until_it_does(wired: Any) -> None:
    protocol, transport, _, _ = wired
    protocol.pause_writing()  # the transport's buffer is full
    protocol.data_received(_post(b"a"))
    assert not transport.reading
    protocol.resume_writing()
    assert transport.reading


def test_a_body_in_several_reads_is_answered_once_complete(wired: Any) -> None:
    protocol, transport, endpoint, _ = wired
    request = _post(b"0123456789")
    protocol.data_received(request[:-4])
    assert transport.writes == [] and endpoint.bodies == []
    protocol.data_received(request[-4:])
    assert endpoint.bodies == [b"0123456789"] and len(transport.writes) == 1


def test_a_failing_call_is_a_500_and_closes_the_connection(wired: Any) -> None:
    protocol, transport, endpoint, _ = wired
    protocol.data_received(_post(b"boom") + _post(b"after"))
    assert endpoint.bodies == [b"boom"]
    assert transport.writes[0].startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"connection: close\r\n" in transport.writes[0]
    assert transport.closed


def test_connection_close_is_honoured(wired: Any) -> None:
    protocol, transport, _, _ = wired
    protocol.data_received(_post(b"a", SCHEDULER_PATH, "s", "Connection: close"))
    assert b"connection: close\r\n" in transport.writes[0]
    assert transport.closed


def test_a_malformed_request_is_refused_after_the_calls_before_it_are_answered(
    wired: Any,
) -> None:
    protocol, transport, _, _ = wired
    protocol.data_received(_post(b"a") + b"NOT HTTP\r\n\r\n")
    assert transport.writes[0].startswith(b"HTTP/1.1 202 Accepted\r\n")
    assert transport.writes[1].startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_a_call_without_a_stream_id_and_other_paths_go_to_the_app(wired: Any) -> None:
    protocol, transport, endpoint, app_calls = wired
    subscribe = b"POST /api/v1/scheduler HTTP/1.1\r\nHost: m\r\nContent-Length: 2\r\n\r\n{}"
    protocol.data_received(subscribe)
    protocol.data_received(_post(b"x", "/state"))
    protocol.loop.run_until_complete(asyncio.sleep(0.05))
    assert endpoint.bodies == []
    assert app_calls == [SCHEDULER_PATH, "/state"]


def test_a_request_for_the_app_after_calls_gets_its_own_scope(wired: Any) -> None:
    protocol, transport, endpoint, app_calls = wired
    protocol.data_received(_post(b"a") + _post(b"x", "/state?full=1", "s", "X-Extra: 1"))
    protocol.loop.run_until_complete(asyncio.sleep(0.05))
    scope = protocol.scope
    assert (scope["method"], scope["path"], scope["query_string"]) == ("POST", "/state", b"full=1")
    assert (b"x-extra", b"1") in scope["headers"] and (b"host", b"m") in scope["headers"]
    assert endpoint.bodies == [b"a"] and app_calls == ["/state"]


def test_accepted_answers_carry_the_current_default_headers(wired: Any) -> None:
    protocol, transport, _, _ = wired
    protocol.server_state.default_headers = [(b"date", b"first")]
    protocol.data_received(_post(b"a") + _post(b"b"))
    protocol.server_state.default_headers = [(b"date", b"second")]  # renewed every second
    protocol.data_received(_post(b"c"))
    assert transport.writes[0].count(b"date: first\r\n") == 2
    assert b"date: second\r\n" in transport.writes[1]


async def _exchange(address: str, requests: list[bytes]) -> list[tuple[bytes, bytes]]:
    """(status line and headers without Date, body) of each answer, all pipelined."""
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"".join(requests))
    answers = []
    for _ in requests:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]
        length = next(int(x.split(b":")[1]) for x in lines if x.startswith(b"content-length"))
        answers.append((b"\r\n".join(lines), await reader.readexactly(length)))
    writer.close()
    return answers


@pytest.mark.anyio
async def test_a_call_gets_the_answer_the_asgi_route_gives(
    devmaster: DevMaster, connect: Connect
) -> None:
    """The same calls on the early path and, with a query string, through the app."""
    client, _ = await connect(devmaster.address)
    framework = {"value": client.framework_id}
    ack = {
        "agent_id": {"value": "a"},
        "task_id": {"value": "t"},
        "uuid": "AAAAAAAAQAAAAAAAAAAAAA==",
    }
    calls = [
        {"type": "ACKNOWLEDGE", "framework_id": framework, "acknowledge": ack},
        {"type": "ACKNOWLEDGE", "framework_id": framework, "acknowledge": {**ack, "uuid": "AA=="}},
        {"type": "REVIVE", "framework_id": {"value": "unknown"}},
        {"type": "KILL", "framework_id": framework},
        "not a call",
    ]
    for stream_id in (client.stream_id, "stale"):
        requests = [
            _post(json.dumps(c).encode(), path, stream_id or "")
            for c in calls
            for path in (SCHEDULER_PATH, SCHEDULER_PATH + "?via=app")
        ]
        answers = await _exchange(devmaster.address, requests)
        early, through_app = answers[::2], answers[1::2]
        assert early == through_app
        assert early[0][0].startswith(
            b"HTTP/1.1 202" if stream_id == client.stream_id else b"HTTP/1.1 400"
        )
        assert all(a[0].startswith(b"HTTP/1.1 400") for a in early[1:])


def test_uvicorns_per_request_reset_is_what_the_override_resets() -> None:
    """SchedulerCallProtocol.on_message_begin stands in for uvicorn's (which also builds
    the ASGI scope, done later and only for the app's requests): should an uvicorn
    upgrade reset more per-request state there, calls would carry it over from the
    request before. This names what uvicorn's resets, so that upgrade fails here."""
    import ast
    import inspect
    import textwrap

    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    tree = ast.parse(textwrap.dedent(inspect.getsource(HttpToolsProtocol.on_message_begin)))
    assigned = {
        target.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    }
    assert assigned == {"url", "expect_100_continue", "headers", "scope"}
