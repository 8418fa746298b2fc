"""The worker's HTTP side: /metrics and /healthz on the metrics port.

/healthz answers 200 while Redis answers, 503 when it does not, and says whether
this worker leads and when its polling loop last looked for due queues, so a probe
and a person both see a worker that is up but cut off.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from hippo.shared.store import RedisProbe

log = logging.getLogger(__name__)


def health_report(
    worker_registry: CollectorRegistry,
    probe: RedisProbe,
    mesos_error: Callable[[], str | None] = lambda: None,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /healthz."""
    problem = probe.problem()
    reachable = problem is None
    body: dict[str, Any] = {
        "status": "ok" if reachable else "redis unreachable",
        "leader": worker_registry.get_sample_value("hippo_worker_leader") == 1,
        # Polling metrics live in the default registry (worker/polling_metrics.py).
        "last_poll_tstamp": REGISTRY.get_sample_value("hippo_poll_last_claim_timestamp_seconds")
        or None,
        "redis_reachable": reachable,
    }
    if problem:
        body["redis_error"] = problem
    refused = mesos_error()
    if refused:
        body["mesos_error"] = refused
    return (200 if reachable else 503), body


def serve_health(
    port: int,
    worker_registry: CollectorRegistry,
    redis_url: str,
    host: str = "0.0.0.0",
    mesos_error: Callable[[], str | None] = lambda: None,
) -> ThreadingHTTPServer | None:
    """Serve /metrics and /healthz from a daemon thread; port 0 serves nothing."""
    if not port:
        return None
    probe = RedisProbe(redis_url)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body = generate_latest(worker_registry) + generate_latest(REGISTRY)
                self._answer(200, CONTENT_TYPE_LATEST, body)
            elif self.path == "/healthz":
                status, report = health_report(worker_registry, probe, mesos_error)
                self._answer(status, "application/json", json.dumps(report).encode())
            else:
                self._answer(404, "application/json", b'{"error": "no route"}')

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every few seconds would flood the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="worker-http", daemon=True).start()
    log.info("worker: /metrics and /healthz on port %d", port)
    return server
