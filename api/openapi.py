"""/openapi.json, generated from the route table.

Paths and methods come from the app's routes: each is an ApiRoute carrying its
Operation (api/operations.py: answers by status, request body); the schemas come from
the models (api/schemas.py). tests/test_api_openapi.py runs the README's requests and
checks each answer against this document, so what it says is what the API does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from hippo.api.auth import OPEN_PATHS
from hippo.api.schemas import Schema, components, ref
from hippo.shared.sources.base import Source


@dataclass(frozen=True)
class Answer:
    """One documented answer of an operation: its body's schema and media type."""

    description: str
    schema: Schema | None = None
    media_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)  # name -> what it holds


@dataclass(frozen=True)
class Operation:
    """What /openapi.json says about a route: answers by status and the request body.
    Errors (4XX, and 503 while Redis is away) are added to every operation."""

    summary: str
    answers: Mapping[int, Answer]
    body: str | None = None  # the component schema of the JSON request body
    parameters: tuple[Schema, ...] = ()
    uses_store: bool = True  # answers 503 while Redis is unreachable


class ApiRoute(Route):
    """A route of the API together with its Operation: the one list of paths and methods,
    read by the router and by /openapi.json alike."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[[Request], Any],
        *,
        methods: list[str],
        operation: Operation,
    ) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.operation = operation


_ERROR = {
    "description": "Error: `error` says what, `errors` lists each bad field",
    "content": {"application/json": {"schema": ref("Error")}},
}


def _answer(answer: Answer) -> Schema:
    out: Schema = {"description": answer.description}
    if answer.schema is not None:
        out["content"] = {answer.media_type: {"schema": answer.schema}}
    if answer.headers:
        out["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in answer.headers.items()
        }
    return out


def _operation(route: ApiRoute) -> Schema:
    operation = route.operation
    responses = {str(status): _answer(a) for status, a in sorted(operation.answers.items())}
    responses["4XX"] = _ERROR
    if operation.uses_store:
        responses["503"] = {**_ERROR, "description": "Redis is unreachable; nothing was done"}
    out: Schema = {"summary": operation.summary, "responses": responses}
    if operation.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(operation.body)}},
        }
    if operation.parameters:
        out["parameters"] = list(operation.parameters)
    if route.path in OPEN_PATHS:
        out["security"] = []  # auth.TokenAuth lets these through without a token
    return out


def spec_path(path: str, paths: set[str]) -> str:
    """The one path the document lists for a route: `/queues` answers like `/queues/`."""
    return path + "/" if not path.endswith("/") and path + "/" in paths else path


def openapi_document(routes: Sequence[BaseRoute], sources: Mapping[str, type[Source]]) -> Schema:
    all_paths = {route.path for route in routes if isinstance(route, Route)}
    paths: dict[str, Schema] = {}
    for route in routes:
        if not isinstance(route, ApiRoute):
            raise TypeError(f"route {route!r} has no Operation: declare it as an ApiRoute")
        item = paths.setdefault(spec_path(route.path, all_paths), {})
        for method in sorted((route.methods or set()) - {"HEAD"}):
            item[method.lower()] = _operation(route)
    for path, item in paths.items():
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        if names:
            item["parameters"] = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in names
            ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hippo",
            "version": "1",
            "description": "Every route also answers without its trailing slash.",
        },
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(components(tuple(sources.items()))),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
