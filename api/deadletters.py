"""/queues/{queue_id}/deadletters/ routes: a queue's dead letters (shared/deadletters.py),
listed, run again (one or all) and discarded (one or all)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from hippo.api.paging import page_params
from hippo.api.responses import JSONBytes, json_response
from hippo.shared.deadletters import public_dead_letter
from hippo.shared.errors import Conflict, NotFound, ValidationFailed
from hippo.shared.store import Store


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


async def _queue_id(request: Request) -> str:
    queue_id: str = request.path_params["queue_id"]
    if not await _store(request).queue_exists(queue_id):
        raise NotFound(f"no queue {queue_id}")
    return queue_id


def _page_params(request: Request) -> tuple[int, int | None]:
    limit, cursor, errors = page_params(request.query_params)
    if errors:
        raise ValidationFailed(errors)
    return limit, cursor


async def list_dead_letters(request: Request) -> Response:
    """Newest first; `X-Next-Cursor` and a `Link: rel="next"` header give the next page."""
    queue_id = await _queue_id(request)
    limit, cursor = _page_params(request)
    page = await _store(request).list_dead_letters(queue_id, cursor=cursor, limit=limit)
    headers = {}
    if page.next_cursor is not None:
        query = {k: v for k, v in request.query_params.items() if k != "cursor"}
        query["cursor"] = str(page.next_cursor)
        headers["X-Next-Cursor"] = str(page.next_cursor)
        headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    return json_response([public_dead_letter(record) for record in page.records], headers=headers)


async def get_dead_letter(request: Request) -> Response:
    queue_id = await _queue_id(request)
    dead_letter_id = request.path_params["deadletter_id"]
    record = await _store(request).get_dead_letter(queue_id, dead_letter_id)
    if record is None:
        raise NotFound(f"queue {queue_id} has no dead letter {dead_letter_id}")
    return json_response(public_dead_letter(record))


async def rerun_dead_letter(request: Request) -> Response:
    """201 and the new task record; 409 when its definition still cannot run."""
    store = _store(request)
    queue_id = await _queue_id(request)
    dead_letter_id = request.path_params["deadletter_id"]
    outcome = await store.rerun_dead_letters(queue_id, [dead_letter_id], now=time.time())
    if outcome.refused:
        raise Conflict(outcome.refused[0][1])
    if not outcome.rerun:
        raise NotFound(f"queue {queue_id} has no dead letter {dead_letter_id}")
    record = await store.get_task(outcome.rerun[0][1])
    if record is None:  # deleted in the instant since it was created
        raise NotFound(f"no task {outcome.rerun[0][1]}")
    return JSONBytes(record, 201)


async def rerun_dead_letters(request: Request) -> Response:
    """Every dead letter of the queue run again; those that still cannot run stay."""
    queue_id = await _queue_id(request)
    outcome = await _store(request).rerun_dead_letters(queue_id, None, now=time.time())
    return json_response(
        {
            "queue_id": queue_id,
            "rerun": [{"id": i, "mesos_id": m} for i, m in outcome.rerun],
            "refused": [{"id": i, "error": error} for i, error in outcome.refused],
        }
    )


async def discard_dead_letter(request: Request) -> Response:
    queue_id = await _queue_id(request)
    dead_letter_id = request.path_params["deadletter_id"]
    if not await _store(request).discard_dead_letters(queue_id, [dead_letter_id]):
        raise NotFound(f"queue {queue_id} has no dead letter {dead_letter_id}")
    return json_response({"id": dead_letter_id, "discarded": True})


async def discard_dead_letters(request: Request) -> Response:
    queue_id = await _queue_id(request)
    count = await _store(request).discard_dead_letters(queue_id, None)
    return json_response({"queue_id": queue_id, "discarded": count})
