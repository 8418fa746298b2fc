"""/openapi.json, generated from the pydantic models and the sources' declarations."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from hippo.shared.model import QueueDefinition, TaskDefinition
from hippo.shared.records import TASK_RECORD_FIELDS

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "Error: `error` says what, `errors` lists each bad field")


def _operation(
    summary: str,
    *,
    body: str | None = None,
    answer: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": answer or _json({}), "4XX": _ERROR, "503": _ERROR},
    }
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if params:
        op["parameters"] = params
    return op


def _query(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": kind},
    }


@cache
def _components() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(TaskDefinition, "validation"), (QueueDefinition, "validation")], ref_template=_REF
    )
    components: dict[str, Any] = schemas["$defs"]
    components["TaskRecord"] = {
        "allOf": [
            _ref("TaskDefinition"),
            {
                "type": "object",
                "description": "A task run as Hippo records it.",
                "properties": {name: {} for name in TASK_RECORD_FIELDS},
            },
        ]
    }
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }
    return components


def openapi_document(sources: dict[str, Any]) -> dict[str, Any]:
    queue = _ref("QueueDefinition")
    queue_types = ", ".join(sources)
    record = _ref("TaskRecord")
    status = _json(
        {"type": "object", "properties": {"id": {"type": "string"}, "status": {"type": "string"}}}
    )
    # A path item holds its operations and, for a templated path, a list of parameters.
    paths: dict[str, dict[str, Any]] = {
        "/queues/": {
            "get": _operation(
                "List queues (secrets masked)", answer=_json({"type": "array", "items": queue})
            ),
            "post": _operation(
                f"Create a queue (types: {queue_types})",
                body="QueueDefinition",
                answer=_json(queue),
            ),
            "put": _operation("Create a queue", body="QueueDefinition", answer=_json(queue)),
        },
        "/queues/{queue_id}/": {
            "get": _operation("Get a queue (secrets masked)", answer=_json(queue)),
            "post": _operation(
                "Replace a queue's definition", body="QueueDefinition", answer=_json(queue)
            ),
            "put": _operation(
                "Replace a queue's definition", body="QueueDefinition", answer=_json(queue)
            ),
            "delete": _operation("Delete a queue"),
        },
        "/queues/{queue_id}/toggle/": {"get": _operation("Flip ENABLED/DISABLED", answer=status)},
        "/queues/{queue_id}/enable/": {"get": _operation("Enable a queue", answer=status)},
        "/queues/{queue_id}/disable/": {"get": _operation("Disable a queue", answer=status)},
        "/queuetypes/": {"get": _operation("Enabled queue types and their parameters")},
        "/tasks/": {
            "get": _operation(
                "Recent tasks, newest first",
                answer=_json({"type": "array", "items": record}),
                params=[
                    _query("state", "Only tasks in this state"),
                    _query("id", "Only runs of this task id"),
                    _query("queue_id", "Only tasks this queue made"),
                    _query("limit", "Page size, 1..1000 (default 100)", "integer"),
                    _query("cursor", "X-Next-Cursor of the previous page", "integer"),
                ],
            ),
            "post": _operation(
                "Create a one-off task (Idempotency-Key header honoured)",
                body="TaskDefinition",
                answer=_json(record),
            ),
        },
        "/tasks/{mesos_id}/": {
            "get": _operation("Get a task record", answer=_json(record)),
            "delete": _operation("Delete a task record (not while it runs)"),
        },
        "/tasks/{mesos_id}/kill/": {
            "post": _operation("Kill a task", answer=_json(record)),
            "get": _operation("Kill a task", answer=_json(record)),
        },
        "/healthz": {"get": _operation("The process is up")},
        "/readyz": {"get": _operation("Redis is reachable")},
    }
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
            "schemas": _components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
