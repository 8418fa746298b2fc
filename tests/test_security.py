"""The security table, route by route from the API's own route table: with
HIPPO_API_TOKENS set, every route but the few open ones refuses a missing token, a
read-only token writes nothing (state-changing GETs kept for SPEC's clients included),
bodies over the limit are 413 on every route that takes one, and the web UI changes
state with POST only."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from hippo.api.app import ROUTES
from hippo.api.openapi import ApiRoute
from hippo.api.routing import answered_paths
from hippo.shared.tunables import MAX_BODY_BYTES
from tests.examples import queue, task

ROOT = Path(__file__).parent.parent
WRITE, READ = "write-token-1", "read-token-2"
# Open on purpose (api/auth.py says why): probes, Prometheus, the UI's static files.
OPEN = {"/healthz", "/readyz", "/metrics", "/", "/ui/", "/ui", "/ui/{asset}"}
# GETs that change state, kept because SPEC.md's clients call them so (README, "API").
STATE_CHANGING_GETS = {
    f"{base}/{action}{slash}"
    for base, action in [
        ("/queues/{queue_id}", "toggle"),
        ("/queues/{queue_id}", "enable"),
        ("/queues/{queue_id}", "disable"),
        ("/tasks/{mesos_id}", "kill"),
    ]
    for slash in ("/", "")
}
PARAMS = {"queue_id": "q1", "mesos_id": "", "deadletter_id": "d1", "name": "stdout", "asset": "x"}


def route_cases() -> Iterator[tuple[str, str, bool]]:
    """(method, path, takes a JSON body) of every route."""
    for route in ROUTES:
        assert isinstance(route, ApiRoute)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            for path in answered_paths(route):  # with and without the trailing slash
                yield method, path, route.operation.body is not None


CASES = sorted(set(route_cases()))
GUARDED = [(m, p) for m, p, _ in CASES if p not in OPEN]
WRITES = [(m, p) for m, p in GUARDED if m != "GET" or p in STATE_CHANGING_GETS]
READS = [(m, p) for m, p in GUARDED if (m, p) not in WRITES]
BODY_ROUTES = [(m, p) for m, p, body in CASES if body]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def secured(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(HIPPO_API_TOKENS=f"{WRITE},read:{READ}")


@pytest.fixture
def made(secured: TestClient) -> dict[str, str]:
    """A queue q1 and a task, so that a write that got through would change them."""
    assert secured.post("/queues/", json=queue(id="q1"), headers=_auth(WRITE)).status_code == 201
    created = secured.post("/tasks/", json=task(), headers=_auth(WRITE))
    assert created.status_code == 201
    return {**PARAMS, "mesos_id": created.json()["mesos_id"]}


def _snapshot(client: redis.Redis) -> dict[bytes, bytes | None]:
    return {key: client.dump(key) for key in sorted(client.keys("hippo:*"))}


def test_the_table_covers_every_route_of_the_api() -> None:
    paths = {p for _, p, _ in CASES}
    assert OPEN - {"/ui"} <= paths
    assert STATE_CHANGING_GETS <= paths
    assert len(WRITES) >= 30 and len(READS) >= 20 and len(BODY_ROUTES) >= 6


def test_every_route_refuses_a_missing_or_unknown_token(
    secured: TestClient, made: dict[str, str]
) -> None:
    let_in = []
    for method, path in GUARDED:
        url = path.format(**made)
        for headers in ({}, _auth("not-a-token"), {"Authorization": f"Basic {WRITE}"}):
            response = secured.request(method, url, headers=headers, json=task())
            if response.json() != {"error": "missing or unknown bearer token"} or (
                response.status_code != 401
            ):
                let_in.append((method, url, headers, response.status_code))
    assert let_in == []


def test_a_read_only_token_writes_nothing_on_any_route(
    secured: TestClient, made: dict[str, str], raw_redis: redis.Redis
) -> None:
    before = _snapshot(raw_redis)
    wrote = []
    for method, path in WRITES:
        url = path.format(**made)
        response = secured.request(method, url, headers=_auth(READ), json=queue(id="q1"))
        if response.status_code != 403 or response.json() != {"error": "this token may only read"}:
            wrote.append((method, url, response.status_code))
    assert wrote == []
    assert _snapshot(raw_redis) == before


def test_a_read_only_token_reads_every_read_route(
    secured: TestClient, made: dict[str, str]
) -> None:
    refused = []
    for method, path in READS:
        response = secured.request(method, path.format(**made), headers=_auth(READ))
        if response.status_code in (401, 403):
            refused.append((method, path, response.status_code))
    assert refused == []


def test_only_the_open_routes_answer_without_a_token(secured: TestClient) -> None:
    for method, path, _ in CASES:
        if path in OPEN:
            response = secured.request(method, path.format(**PARAMS), follow_redirects=False)
            assert response.status_code not in (401, 403), path


def test_a_body_over_the_limit_is_413_on_every_route_that_takes_one(
    secured: TestClient, made: dict[str, str], raw_redis: redis.Redis
) -> None:
    """Routes without a request body (toggle, kill, rerun) never read one."""
    before = _snapshot(raw_redis)
    body = b'{"cmd": "' + b"x" * MAX_BODY_BYTES + b'"}'
    accepted = []
    for method, path in BODY_ROUTES:
        url = path.format(**made)
        headers = {**_auth(WRITE), "Content-Type": "application/json"}
        response = secured.request(method, url, content=body, headers=headers)
        if response.status_code != 413:
            accepted.append((method, url, response.status_code))
    assert accepted == []
    assert _snapshot(raw_redis) == before


def test_the_ui_changes_state_with_post_only() -> None:
    """SPEC's state-changing GETs stay for old clients; the web UI never uses them."""
    calls = []
    for source in sorted((ROOT / "api" / "ui").glob("*.js")):
        calls += re.findall(r"api\.call\(\s*\"([A-Z]+)\",\s*api\.path`([^`]*)`", source.read_text())
    changing = [(m, p) for m, p in calls if re.search(r"/(toggle|enable|disable|kill)/", p)]
    assert changing, "the UI's toggle and kill calls were not found"
    assert {m for m, _ in changing} == {"POST"}, changing


def test_the_state_changing_gets_are_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### State-changing GETs") :][:1500]
    for action in ("toggle", "enable", "disable", "kill"):
        assert f"/{action}/" in section
