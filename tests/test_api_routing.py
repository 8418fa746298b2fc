"""The indexed router answers every request as Starlette's scan of the whole route table
would: the same route for each path of the API (with and without its trailing slash),
the same 405 and 404 otherwise, routes added after it was made included."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, Router
from starlette.testclient import TestClient

from hippo.api.app import ROUTES
from hippo.api.routing import IndexedRouter, answered_paths, slash_optional

METHODS = ["GET", "POST", "PUT", "DELETE"]


def _answer(n: int) -> Callable[[Request], Response]:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(f"route {n} {sorted(request.path_params.items())}")

    return endpoint


def _table() -> list[Route]:
    """The API's paths and methods, each route answering with its place in the table."""
    table = []
    for n, route in enumerate(ROUTES):
        assert isinstance(route, Route)
        copy = Route(route.path, _answer(n), methods=sorted(route.methods or []))
        table.append(slash_optional(copy) if len(answered_paths(route)) == 2 else copy)
    return table


def _requests() -> list[tuple[str, str]]:
    paths = set()
    for route in ROUTES:
        assert isinstance(route, Route)
        for path in answered_paths(route):
            paths.add(re.sub(r"\{[^/]+\}", "x.1", path))
    paths |= {"/nowhere", "/tasks/x.1/y/z", "/queues/q/unknown/", "/ui/a/b", "//", "/healthz/"}
    return [(method, path) for path in sorted(paths) for method in METHODS]


@pytest.fixture(scope="module")
def clients() -> tuple[TestClient, TestClient]:
    table = _table()
    return TestClient(IndexedRouter(table)), TestClient(Router(list(table)))


@pytest.mark.parametrize(("method", "path"), _requests())
def test_the_index_answers_as_a_scan_of_the_whole_table(
    clients: tuple[TestClient, TestClient], method: str, path: str
) -> None:
    indexed, scanned = clients
    got = indexed.request(method, path, follow_redirects=False)
    expected = scanned.request(method, path, follow_redirects=False)
    assert (got.status_code, got.text, got.headers.get("allow")) == (
        expected.status_code,
        expected.text,
        expected.headers.get("allow"),
    )


def test_a_route_added_after_the_router_was_made_is_found() -> None:
    router = IndexedRouter(_table())
    client = TestClient(router)
    assert client.get("/extra").status_code == 404
    router.routes.append(Route("/extra", _answer(99)))
    assert client.get("/extra").text == "route 99 []"
