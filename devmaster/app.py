"""The dev master's HTTP face: `/api/v1/scheduler` like a Mesos master, plus
`/state`, sandbox logs and a small test API under `/devmaster/`.

The scheduler endpoint is a raw ASGI app so that it controls exactly which
status codes and headers go out, and notices at once when a subscriber leaves.
Its decisions are one synchronous `answer`, which call_protocol.py also calls to
answer a framework's calls without the ASGI machinery.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .call_validation import VALIDATION_PREFIX, call_error
from .json_call import NotACall, NotJSON, parse_body, to_call
from .master import CallRefused, Master
from .media_types import accept_refusal, content_type_refusal
from .model import Stream

log = logging.getLogger(__name__)

SCHEDULER_PATH = "/api/v1/scheduler"
# (status, text, extra headers): a plain-text answer to a scheduler call.
Answer = tuple[int, str, list[tuple[bytes, bytes]]]


class SchedulerEndpoint:
    """`POST /api/v1/scheduler`, answering as `Master::Http::scheduler` in
    src/master/http.cpp does, in its order: 401 (libprocess authenticates first),
    307/503, 405, the Content-Type, the body (json_call.py), the call's validation
    (call_validation.py), the Accept of SUBSCRIBE and RECONCILE_OPERATIONS, then
    the framework's checks and the call itself."""

    def __init__(self, master: Master) -> None:
        self.master = master

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        answer = self.answer(scope["method"], headers, await _read_body(receive))
        if isinstance(answer, Stream):
            await self._stream(answer, receive, send)
        else:
            await _plain(send, *answer)

    def answer(self, method: str, headers: dict[str, str], body: bytes) -> Answer | Stream:
        """The answer to a request (`headers` by lower-case name), or the stream of the
        subscription it made. Only a SUBSCRIBE without a Mesos-Stream-Id header streams."""
        master, config = self.master, self.master.config
        principal, refusal = self._authenticate(headers.get("authorization"))
        if refusal:
            return 401, refusal, [(b"www-authenticate", b'Basic realm="mesos"')]
        if config.redirect_to:
            location = f"//{config.redirect_to}{SCHEDULER_PATH}".encode()
            return 307, "", [(b"location", location)]
        if master.loop.time() < master.unavailable_until:
            return 503, "No leader elected", []
        if method != "POST":
            return 405, f"Expecting 'POST', received '{method}'", [(b"allow", b"POST")]
        refused = content_type_refusal(headers.get("content-type"))
        if refused:
            return *refused, []
        try:
            call = to_call(parse_body(body))
        except NotJSON as e:
            return 400, f"Failed to parse body into JSON: {e}", []
        except NotACall as e:
            return 400, f"Failed to convert JSON into Call protobuf: {e}", []
        error = call_error(call, principal)
        if error:
            return 400, VALIDATION_PREFIX + error, []
        kind = call["type"]
        if master.failing_calls.get(kind, 0) > 0:
            # What a master answers while it recovers its registry (src/master/http.cpp,
            # `Master::Http::scheduler`: ServiceUnavailable), aimed at one call type.
            master.failing_calls[kind] -= 1
            return 503, "Master has not finished recovery", []
        if kind in ("SUBSCRIBE", "RECONCILE_OPERATIONS"):
            refused = accept_refusal(headers.get("accept"))
            if refused:
                return *refused, []
        stream_id = headers.get("mesos-stream-id")
        if kind != "SUBSCRIBE":
            framework = master.frameworks.get(call["framework_id"]["value"])
            claimed = framework.info.get("principal", "") if framework is not None else None
            if principal is not None and claimed is not None and principal != claimed:
                text = (
                    f"Authenticated principal '{principal}' does not match principal"
                    f" '{claimed}' set in `FrameworkInfo`"
                )
                return 400, text, []
            try:
                return master.handle_call(call, stream_id), "", []
            except CallRefused as e:
                return e.status_code, e.message, []
        if stream_id is not None:
            return 400, "Subscribe calls should not include the 'Mesos-Stream-Id' header", []
        info = call["subscribe"]["framework_info"]
        if principal is not None and "principal" not in info:
            info["principal"] = principal  # as Mesos does, with a warning in its log
        return master.subscribe(call)

    def _authenticate(self, authorization: str | None) -> tuple[str | None, str | None]:
        credentials = self.master.config.credentials
        if not credentials:
            return None, None
        if not authorization or not authorization.lower().startswith("basic "):
            return None, "Missing credentials"
        try:
            principal, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, "Malformed credentials"
        if credentials.get(principal) != secret:
            return None, "Authentication failed"
        return principal, None

    async def _stream(self, stream: Stream, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"mesos-stream-id", stream.id.encode()),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        parts = [
            asyncio.create_task(self._write(stream, send)),
            asyncio.create_task(self._heartbeats(stream)),
            asyncio.create_task(_wait_disconnect(receive)),
        ]
        try:
            await asyncio.wait(parts, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for part in parts:
                part.cancel()
            await asyncio.gather(*parts, return_exceptions=True)
            self.master.stream_closed(stream)
            try:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except Exception:  # the client is already gone
                pass

    @staticmethod
    async def _write(stream: Stream, send: Send) -> None:
        while True:
            records, ended = await stream.take()  # all that is ready, in one write
            if records:
                await send({"type": "http.response.body", "body": records, "more_body": True})
            if ended:
                return

    async def _heartbeats(self, stream: Stream) -> None:
        # The first HEARTBEAT comes right after SUBSCRIBED, then one per interval
        # (src/common/heartbeater.hpp: no initial delay for frameworks).
        while True:
            stream.send({"type": "HEARTBEAT"})
            await asyncio.sleep(self.master.config.heartbeat_interval_s)


async def _read_body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return bytes(body)


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def plain_headers(body: bytes, extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers of a plain-text answer with `body`, `extra` last."""
    return [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]


async def _plain(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = text.encode()
    headers = plain_headers(body, extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_app(master: Master, scheduler: SchedulerEndpoint | None = None) -> Starlette:
    async def state(request: Request) -> Response:
        return JSONResponse(master.state())

    async def sandbox(request: Request) -> Response:
        task_id, name = request.path_params["task_id"], request.path_params["name"]
        folder = master.sandboxes.get(task_id)
        if name not in ("stdout", "stderr") or folder is None or not (folder / name).exists():
            return PlainTextResponse(f"No {name} for task {task_id}", status_code=404)
        return FileResponse(folder / name, media_type="text/plain")

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        return json.loads(raw) if raw else {}

    async def remove_agent(request: Request) -> Response:
        try:
            master.remove_agent(request.path_params["agent_id"])
        except KeyError:
            return PlainTextResponse("No such active agent", status_code=404)
        return JSONResponse({"removed": request.path_params["agent_id"]})

    async def add_agent(request: Request) -> Response:
        spec = await body(request)
        agent = master.add_agent(
            spec.get("cpus"), spec.get("mem"), spec.get("disk"), spec.get("attributes")
        )
        return JSONResponse({"id": agent.id, "hostname": agent.hostname})

    async def drop_stream(request: Request) -> Response:
        spec = await body(request)
        try:
            master.drop_stream(request.path_params["framework_id"], bool(spec.get("mute")))
        except KeyError:
            return PlainTextResponse("No such connected framework", status_code=404)
        return JSONResponse({"dropped": request.path_params["framework_id"]})

    async def delay_updates(request: Request) -> Response:
        master.update_delay_s = float((await body(request)).get("seconds", 0.0))
        return JSONResponse({"update_delay_s": master.update_delay_s})

    async def unavailable(request: Request) -> Response:
        seconds = float((await body(request)).get("seconds", 0.0))
        master.unavailable_until = master.loop.time() + seconds
        return JSONResponse({"unavailable_s": seconds})

    async def fail_calls(request: Request) -> Response:
        spec = await body(request)
        master.failing_calls[str(spec["type"])] = int(spec.get("count", 1))
        return JSONResponse({"failing_calls": master.failing_calls})

    async def failover(request: Request) -> Response:
        late = [str(a) for a in (await body(request)).get("late_agents") or []]
        try:
            master.failover(late)
        except KeyError as e:
            return PlainTextResponse(f"No such active agent {e}", status_code=404)
        return JSONResponse({"failover": True, "late_agents": late})

    async def agent_event(request: Request) -> Response:
        agent_id, event = request.path_params["agent_id"], request.path_params["event"]
        try:
            master.agent_link(agent_id, event)
        except KeyError:
            return PlainTextResponse("No such active agent", status_code=404)
        except ValueError as e:
            return PlainTextResponse(str(e), status_code=404)
        return JSONResponse({"agent": agent_id, "event": event})

    routes = [
        Route(SCHEDULER_PATH, scheduler or SchedulerEndpoint(master), methods=None),
        Route("/state", state, methods=["GET"]),
        Route("/sandbox/{task_id}/{name}", sandbox, methods=["GET"]),
        Route("/devmaster/agents", add_agent, methods=["POST"]),
        Route("/devmaster/agents/{agent_id}", remove_agent, methods=["DELETE"]),
        Route("/devmaster/agents/{agent_id}/{event}", agent_event, methods=["POST"]),
        Route("/devmaster/failover", failover, methods=["POST"]),
        Route("/devmaster/frameworks/{framework_id}/drop-stream", drop_stream, methods=["POST"]),
        Route("/devmaster/delay-updates", delay_updates, methods=["POST"]),
        Route("/devmaster/unavailable", unavailable, methods=["POST"]),
        Route("/devmaster/fail-calls", fail_calls, methods=["POST"]),
    ]
    return Starlette(routes=routes)
