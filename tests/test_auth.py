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


def test_each_answer_to_a_token_says_what_it_may_do(secured: TestClient) -> None:
    """The web UI hides its write actions from a read-only token by this header."""
    assert secured.get("/tasks/", headers=_auth("admin-token")).headers["x-hippo-access"] == "write"
    assert secured.get("/tasks/", headers=_auth("viewer-token")).headers["x-hippo-access"] == "read"
    refused = secured.post("/tasks/", json=task(), headers=_auth("viewer-token"))
    assert refused.status_code == 403
    assert refused.headers["x-hippo-access"] == "read"
    assert "x-hippo-access" not in secured.get("/tasks/").headers


@pytest.mark.parametrize(
    ("path", "media_type"),
    [("/ui/", "text/html"), ("/ui/main.js", "text/javascript"), ("/ui/ui.css", "text/css")],
)
def test_the_ui_files_need_no_token(secured: TestClient, path: str, media_type: str) -> None:
    response = secured.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)


@pytest.mark.parametrize("path", ["/ui/nothing.js", "/ui/..%2Fapp.py", "/ui/%2E%2E/auth.py"])
def test_the_ui_serves_its_own_files_only(secured: TestClient, path: str) -> None:
    assert secured.get(path).status_code == 404
