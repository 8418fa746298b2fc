"""Finding a request's route cheaply: one route per path answering with and without its
trailing slash, and a router that only tries the routes whose path starts like the
request's.

Old clients use both `/tasks/` and `/tasks`, and a redirect would turn their POSTs into
GETs, so both must answer; one route whose pattern makes the slash optional does it with
half the routes. The router's index picks the same route Starlette's scan of the whole
table would (the first one matching in full), and leaves everything else (405 for a
known path, 404) to that scan.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


def slash_optional(route: Route) -> Route:
    """`route`, also matching its path without the trailing slash (`/tasks/{mesos_id}`
    for `/tasks/{mesos_id}/`); a path without one, or `/`, is left as it is."""
    if route.path != "/" and route.path.endswith("/"):
        pattern = route.path_regex.pattern
        assert pattern.endswith("/$"), pattern  # starlette.routing.compile_path's form
        route.path_regex = re.compile(pattern[:-2] + "/?$")
    return route


def answered_paths(route: Route) -> tuple[str, ...]:
    """The path templates a route answers: its own, and the one without the trailing
    slash when `slash_optional` made it so."""
    if route.path_regex.pattern.endswith("/?$"):
        return (route.path, route.path.rstrip("/"))
    return (route.path,)


def _head(path: str) -> str | None:
    """The first segment of a route template, None when it is a parameter."""
    first = path.split("/", 2)[1] if path.startswith("/") else ""
    return None if "{" in first else first


class IndexedRouter(Router):
    """A Router that tries, for a request, only the routes whose first path segment is
    the request's (and any starting with a parameter), in table order."""

    def __init__(self, routes: Sequence[BaseRoute], **options: Any) -> None:
        super().__init__(list(routes), **options)
        self._index: dict[str, list[Route]] = {}
        self._anywhere: list[Route] = []
        self._indexed = -1

    def _candidates(self, path: str) -> list[Route]:
        if self._indexed != len(self.routes):  # routes added since (tests add some)
            self._build_index()
        head = path.split("/", 2)[1] if path.startswith("/") else ""
        return self._index.get(head, self._anywhere)

    def _build_index(self) -> None:
        heads = {_head(r.path) for r in self.routes if isinstance(r, Route)}
        self._index = {
            head: [r for r in self.routes if isinstance(r, Route) and _head(r.path) in (head, None)]
            for head in heads
            if head is not None
        }
        self._anywhere = [r for r in self.routes if isinstance(r, Route) and _head(r.path) is None]
        # A route of another kind (a Mount) could match anything: scan the whole table.
        if any(not isinstance(r, Route) for r in self.routes):
            self._index, self._anywhere = {}, []
        self._indexed = len(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            for route in self._candidates(scope["path"]):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)
