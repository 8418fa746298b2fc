"""The API's Prometheus metrics, correct across uvicorn worker processes.

`hippo api` points PROMETHEUS_MULTIPROC_DIR at a fresh folder before uvicorn starts
its workers, so each process writes its samples there and /metrics sums them
(prometheus-client's multiprocess mode). Without the variable (tests, embedding),
the process's own registry is served.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "hippo_api_requests_total", "API requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "hippo_api_request_duration_seconds",
    "Time to answer an API request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class RequestMetrics:
    """Counts and times every request by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Each label set's series, looked up once: labels() takes a lock and checks its
        # arguments on every call.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed_s = time.perf_counter() - started
            method = scope["method"]
            name = route_label(scope)
            counter = self._counters.get((method, name, status))
            if counter is None:
                counter = REQUESTS.labels(method, name, str(status))
                self._counters[method, name, status] = counter
            counter.inc()
            timer = self._timers.get((method, name))
            if timer is None:
                timer = self._timers[method, name] = LATENCY.labels(method, name)
            timer.observe(elapsed_s)


def route_label(scope: Scope) -> str:
    """The route template (not the path, so ids do not multiply the series); without its
    trailing slash when the request had none, as when each path had a second route."""
    route = scope.get("route")
    name: str = getattr(route, "path", "unmatched")
    if name != "/" and name.endswith("/") and not scope["path"].endswith("/"):
        return name[:-1]
    return name


async def metrics(request: Request) -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
