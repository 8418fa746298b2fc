"""Secrets never shown: a source whose errors spell out its password, its connection
string and its AWS secret, and another service's URL with a password, leaves none of
them in `last_error` (Redis and the API), in the log lines (plain and JSON), or in the
metrics of the poller and the API."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

import prometheus_client
import pytest
import redis
from starlette.testclient import TestClient

from hippo.api import app as api_app
from hippo.shared import sources as source_registry
from hippo.shared.logs import JsonFormatter, PlainFormatter
from hippo.shared.sources.base import BlockingSource, Fetched, PollRequest, Source
from hippo.shared.sources.settings import Secret, SecretURL, SourceSettings
from hippo.worker import polling
from tests.conftest import wait_until

from .conftest import PollerThread, create_queue

PASSWORD = "redis-pass-1"
CONN_STRING = "postgresql://app:pg-pass-2@db.example:5432/jobs"
AWS_SECRET = "aws/secret+3"
OTHER_URL = "redis://:cache-pass-4@cache.example:6379/0"  # no user: only a password
SECRETS = ("redis-pass-1", "pg-pass-2", "aws/secret+3", "cache-pass-4")


class LeakySettings(SourceSettings):
    password: Secret = ""
    conn_string: SecretURL
    awssecret: Secret = ""


class LeakySource(BlockingSource):
    """Fails every poll with an error that quotes each of its secrets."""

    namespace = "leaky"
    label = "Leaky test source"
    settings_model = LeakySettings

    def fetch_blocking(self, request: PollRequest[LeakySettings]) -> Fetched:
        s = request.settings
        raise ConnectionError(
            f"cannot reach {s.conn_string} (password {s.password!r}, AWS secret "
            f"{s.awssecret}); cache at {OTHER_URL} refused too"
        )


@pytest.fixture
def leaky_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """LeakySource beside the installed sources, for the API and the poller alike."""
    real = source_registry.load_sources

    def load(enabled: tuple[str, ...] = ()) -> dict[str, type[Source]]:
        return {**real(), "leaky": LeakySource}

    monkeypatch.setattr(api_app, "load_sources", load)
    monkeypatch.setattr(polling, "load_sources", load)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log line of this process, as Hippo's plain and JSON formats write it."""
    out = io.StringIO()
    handlers = []
    for formatter in (PlainFormatter(), JsonFormatter()):
        handler = logging.StreamHandler(out)
        handler.setFormatter(formatter)
        handlers.append(handler)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    yield out
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(level)


def test_a_failing_source_leaves_no_secret_in_errors_logs_or_metrics(
    leaky_installed: None,
    log_lines: io.StringIO,
    make_client: Callable[..., TestClient],
    raw_redis: redis.Redis,
    start_poller: Callable[..., PollerThread],
) -> None:
    api = make_client()
    settings: dict[str, Any] = {
        "password": PASSWORD,
        "conn_string": CONN_STRING,
        "awssecret": AWS_SECRET,
    }
    queue_id = create_queue(api, "leaky", settings)
    start_poller()

    def error_recorded() -> bool:
        return bool(raw_redis.hget(f"hippo:queue:{queue_id}", "last_error"))

    wait_until(error_recorded, what="the poll error to be recorded")
    stored = raw_redis.hget(f"hippo:queue:{queue_id}", "last_error")
    assert stored is not None
    shown = api.get(f"/queues/{queue_id}/").json()["queue"]["last_error"]
    listed = api.get("/queues/").text
    metrics = api.get("/metrics").text + prometheus_client.generate_latest().decode()
    logged = log_lines.getvalue()
    # The error is still useful: it says what failed, where, with the secrets masked.
    assert "cannot reach postgresql://app:********@db.example:5432/jobs" in shown
    assert "redis://:********@cache.example:6379/0" in shown
    assert "cannot reach" in logged
    for where, text in {
        "stored last_error": stored.decode(),
        "GET /queues/:id": shown,
        "GET /queues/": listed,
        "log lines": logged,
        "metrics": metrics,
    }.items():
        leaked = [secret for secret in SECRETS if secret in text]
        assert not leaked, f"{where} shows {leaked}"
