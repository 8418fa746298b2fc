"""HIPPO_API_TOKENS: bearer tokens, read-only tokens, open health routes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from tests.examples import queue, task

TOKENS = "admin-token,read:viewer-token"


@pytest.fixture
def secured(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(HIPPO_API_TOKENS=TOKENS)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "headers", [{}, _auth("wrong"), {"Authorization": "Basic abc"}, _auth("read:viewer-token")]
)
def test_missing_or_unknown_token_is_401(secured: TestClient, headers: dict[str, str]) -> None:
    response = secured.get("/tasks/", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"error": "missing or unknown bearer token"}


def test_health_routes_need_no_token(secured: TestClient) -> None:
    assert secured.get("/healthz").status_code == 200
    assert secured.get("/readyz").status_code == 200


def test_write_token_reads_and_writes(secured: TestClient) -> None:
    assert secured.post("/tasks/", json=task(), headers=_auth("admin-token")).status_code == 201
    assert secured.get("/tasks/", headers=_auth("admin-token")).status_code == 200


def test_read_token_reads_only(secured: TestClient) -> None:
    admin, viewer = _auth("admin-token"), _auth("viewer-token")
    secured.post("/queues/", json=queue(id="q1"), headers=admin)
    mesos_id = secured.post("/tasks/", json=task(), headers=admin).json()["mesos_id"]

    assert secured.get("/queues/q1/", headers=viewer).status_code == 200
    assert secured.get("/tasks/", headers=viewer).status_code == 200
    for method, path in [
        ("POST", "/tasks/"),
        ("PUT", "/queues/q1/"),
        ("DELETE", "/queues/q1"),
        ("GET", "/queues/q1/toggle/"),
        ("GET", "/queues/q1/disable"),
        ("GET", f"/tasks/{mesos_id}/kill/"),
    ]:
        response = secured.request(method, path, headers=viewer, json=task())
        assert response.status_code == 403, (method, path)
        assert response.json() == {"error": "this token may only read"}
    assert secured.get("/queues/q1/", headers=viewer).json()["queue"]["status"] == "ENABLED"
    assert secured.get(f"/tasks/{mesos_id}/", headers=viewer).json()["kill_requested"] is False


def test_open_api_warns_at_start(make_settings: Callable[..., object]) -> None:
    from hippo.api.app import startup_warnings

    open_warnings = startup_warnings(make_settings())  # type: ignore[arg-type]
    assert any("HIPPO_API_TOKENS is not set" in w for w in open_warnings)
    assert not any(
        "HIPPO_API_TOKENS" in w for w in startup_warnings(make_settings(HIPPO_API_TOKENS="t"))
    )  # type: ignore[arg-type]
