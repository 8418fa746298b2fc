"""/queues/ and /queuetypes/ routes."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hippo.api.body import read_json
from hippo.api.responses import json_response
from hippo.shared.errors import Conflict, FieldError, NotFound, ValidationFailed
from hippo.shared.model import QueueDefinition, parse_queue, validate_source_settings
from hippo.shared.queues import queue_document, seal_queue
from hippo.shared.secrets import SecretBox
from hippo.shared.sources.base import Source
from hippo.shared.store import Store


def _parts(request: Request) -> tuple[Store, dict[str, type[Source]], SecretBox]:
    state = request.app.state
    return state.store, state.sources, state.box


async def _parse(request: Request) -> tuple[QueueDefinition, dict[str, Any], type[Source]]:
    sources = request.app.state.sources
    definition, settings = parse_queue(await read_json(request), sources)
    return definition, settings, sources[definition.queue.type]


async def _check_source(request: Request, queue_id: str, spec: bytes, source: type[Source]) -> None:
    """The source's own check of the settings about to be stored, read back as a poller
    will read them (secrets decrypted); on a thread, as it may wait on the network."""
    _, sources, box = _parts(request)
    doc = queue_document(queue_id, {"spec": spec, "status": b"ENABLED"}, sources, box, reveal=True)
    settings = validate_source_settings(source, doc["queue"][source.namespace])
    await asyncio.to_thread(source.check, settings)


async def _with_counts(store: Store, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents with each queue's active_tasks and waiting_tasks."""
    counts = await store.task_counts([doc["id"] for doc in documents])
    for doc in documents:
        doc["queue"]["active_tasks"], doc["queue"]["waiting_tasks"] = counts[doc["id"]]
    return documents


async def _document(request: Request, queue_id: str) -> dict[str, Any]:
    store, sources, box = _parts(request)
    stored = await store.get_queue(queue_id)
    if stored is None:
        raise NotFound(f"no queue {queue_id}")
    return (await _with_counts(store, [queue_document(queue_id, stored, sources, box)]))[0]


async def list_queues(request: Request) -> Response:
    store, sources, box = _parts(request)
    documents = [
        queue_document(queue_id, stored, sources, box)
        for queue_id, stored in await store.list_queues()
    ]
    return json_response(await _with_counts(store, documents))


async def create_queue(request: Request) -> Response:
    """201 with the new queue. A body naming an existing queue's id replaces that queue
    (200), as the original Hippo did: deploy scripts re-apply their definitions to
    /queues/. `If-None-Match: *` asks for creation only: 409 when the id exists."""
    store, _, box = _parts(request)
    definition, settings, source = await _parse(request)
    queue_id = definition.id or str(uuid.uuid4())
    create_only = request.headers.get("if-none-match", "").strip() == "*"
    if definition.id is not None and not create_only:
        current = await store.get_queue(queue_id)
        if current is not None:
            await _replace(request, queue_id, definition, settings, source, current)
            return json_response(await _document(request, queue_id))
    spec, status = seal_queue(definition, settings, source, box)
    await _check_source(request, queue_id, spec, source)
    if not await store.create_queue(queue_id, spec, status, now=time.time()):
        if create_only:
            raise Conflict(f"queue {queue_id} exists: update it at /queues/{queue_id}/")
        # Created by another request since we looked: replace it, as above.
        current = await store.get_queue(queue_id)
        await _replace(request, queue_id, definition, settings, source, current)
        return json_response(await _document(request, queue_id))
    return json_response(await _document(request, queue_id), 201)


async def get_queue(request: Request) -> Response:
    return json_response(await _document(request, request.path_params["queue_id"]))


async def replace_queue(request: Request) -> Response:
    store = _parts(request)[0]
    queue_id = request.path_params["queue_id"]
    definition, settings, source = await _parse(request)
    if definition.id is not None and definition.id != queue_id:
        raise ValidationFailed(
            [FieldError("id", f"must match the URL's queue id {queue_id!r}, got {definition.id!r}")]
        )
    await _replace(request, queue_id, definition, settings, source, await store.get_queue(queue_id))
    return json_response(await _document(request, queue_id))


async def _replace(
    request: Request,
    queue_id: str,
    definition: QueueDefinition,
    settings: dict[str, Any],
    source: type[Source],
    current: dict[str, bytes] | None,
) -> None:
    """Replace a queue's definition; `current` is what was stored when the request began
    (None: the store answers 404)."""
    store, _, box = _parts(request)
    keep_status = "status" not in definition.queue.model_fields_set
    if current is not None:
        # Checked as the stored secrets make it: a password sent masked is the stored one.
        await _check_source(
            request, queue_id, seal_queue(definition, settings, source, box, current)[0], source
        )

    def build(stored: dict[str, bytes]) -> tuple[bytes, str]:
        spec, status = seal_queue(definition, settings, source, box, stored)
        # A definition without a status keeps the current one: re-sending a queue's
        # definition (a deploy script) must not re-enable a queue an operator disabled.
        return spec, stored["status"].decode() if keep_status else status

    await store.replace_queue(queue_id, build)


async def delete_queue(request: Request) -> Response:
    queue_id = request.path_params["queue_id"]
    await _parts(request)[0].delete_queue(queue_id)
    return json_response({"id": queue_id, "deleted": True})


def _status_route(status: str) -> Any:
    async def endpoint(request: Request) -> Response:
        queue_id = request.path_params["queue_id"]
        new_status = await _parts(request)[0].set_queue_status(queue_id, status)
        # `enabled`/`disabled`: the original Hippo's answer, beside ours.
        said = "enabled" if new_status == "ENABLED" else "disabled"
        return json_response({"id": queue_id, "status": new_status, said: queue_id})

    return endpoint


toggle_queue = _status_route("TOGGLE")
enable_queue = _status_route("ENABLED")
disable_queue = _status_route("DISABLED")


async def list_queue_types(request: Request) -> Response:
    return json_response([source.describe() for source in request.app.state.sources.values()])
