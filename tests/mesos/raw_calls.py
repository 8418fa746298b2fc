"""Hand-made scheduler calls, for answers Hippo's client never provokes: a test
subscribes with the client (which keeps the stream open and records its events) and
posts raw bodies with the subscription's framework and stream ids."""

from __future__ import annotations

import json
from typing import Any

import httpx

from hippo.worker.mesos import MesosSchedulerClient

SCHEDULER = "/api/v1/scheduler"
JSON_CALL = {"Content-Type": "application/json"}


class RawCalls:
    def __init__(self, http: httpx.AsyncClient, client: MesosSchedulerClient) -> None:
        self.http = http
        self.client = client

    @property
    def framework_id(self) -> str:
        assert self.client.framework_id is not None
        return self.client.framework_id

    def headers(self, **extra: str) -> dict[str, str]:
        return {**JSON_CALL, "Mesos-Stream-Id": self.client.stream_id or "", **extra}

    def call(self, kind: str, body: Any = None, **top: Any) -> dict[str, Any]:
        """A call of `kind` with this framework's id and, unless None, its body."""
        call: dict[str, Any] = {"type": kind, "framework_id": {"value": self.framework_id}}
        if body is not None:
            call[kind.lower()] = body
        call.update(top)
        return call

    async def post(
        self, call: Any, headers: dict[str, str] | None = None, content: bytes | None = None
    ) -> httpx.Response:
        """POST `call` as JSON (or `content` as given) with the current stream id."""
        data = content if content is not None else json.dumps(call).encode()
        return await self.http.post(SCHEDULER, content=data, headers=headers or self.headers())
