"""/tasks/ routes: one-off tasks, task records, kills."""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from hippo.api.body import read_json
from hippo.api.paging import page_params
from hippo.api.responses import JSONBytes, json_response
from hippo.api.status import records_with_waiting_reasons, with_waiting_reason
from hippo.shared.errors import FieldError, NotFound, ValidationFailed
from hippo.shared.model import ID_PATTERN, parse_task
from hippo.shared.queues import seal_callback_secret
from hippo.shared.records import ALL_STATES
from hippo.shared.store import Store

# Printable ASCII without spaces; /openapi.json states the same pattern.
IDEMPOTENCY_KEY_PATTERN = r"[\x21-\x7e]{1,200}"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def _list_params(request: Request) -> dict[str, object]:
    query = request.query_params
    errors = []
    params: dict[str, object] = {}
    state = query.get("state")
    if state is not None and state not in ALL_STATES:
        errors.append(FieldError("state", f"is not a task state, got {state!r}"))
    params["state"] = state
    for name, key in (("id", "task_id"), ("queue_id", "queue_id")):
        value = query.get(name)
        if value is not None and not re.fullmatch(ID_PATTERN, value):
            errors.append(FieldError(name, f"is not a valid id, got {value!r}"))
        params[key] = value
    params["limit"], params["cursor"], page_errors = page_params(query)
    errors += page_errors
    if errors:
        raise ValidationFailed(errors)
    if "limit" not in query and "cursor" not in query:
        # The original Hippo's client asks for every task, and pages through nothing: give
        # it every task up to the bound (the rest, if any, behind Link as usual).
        params["limit"] = request.app.state.settings.tasks_unpaged_max
    return params


async def list_tasks(request: Request) -> Response:
    """Newest first; `X-Next-Cursor` and a `Link: rel="next"` header give the next page.
    Without `limit` and `cursor`, up to HIPPO_TASKS_UNPAGED_MAX records (the original
    Hippo's unpaged list)."""
    params = _list_params(request)
    page = await _store(request).list_tasks(**params)  # type: ignore[arg-type]
    headers = {}
    if page.next_cursor is not None:
        query = {k: v for k, v in request.query_params.items() if k != "cursor"}
        query["cursor"] = str(page.next_cursor)
        headers["X-Next-Cursor"] = str(page.next_cursor)
        headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    records = await records_with_waiting_reasons(request, page.rows)
    return JSONBytes(b"[" + b",".join(records) + b"]", headers=headers)


async def create_task(request: Request) -> Response:
    definition = parse_task(await read_json(request))
    key = request.headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ValidationFailed(
            [
                FieldError(
                    "Idempotency-Key", "must be 1 to 200 printable ASCII characters without spaces"
                )
            ]
        )
    # A one-off task has no stored secret to keep: "********" is refused (422).
    sealed = seal_callback_secret(definition.callback_secret, None, request.app.state.box)
    record, created = await _store(request).create_task(
        definition,
        now=time.time(),
        idempotency_key=key,
        dedupe=request.app.state.settings.dedupe_one_off_tasks,
        sealed_callback_secret=sealed,
    )
    return JSONBytes(await with_waiting_reason(request, record), 201 if created else 200)


async def get_task(request: Request) -> Response:
    mesos_id = request.path_params["mesos_id"]
    found = await _store(request).get_task_parts(mesos_id)
    if found is None:
        raise NotFound(f"no task {mesos_id}")
    return JSONBytes((await records_with_waiting_reasons(request, [found]))[0])


async def task_history(request: Request) -> Response:
    """The run's states in order and its chain of retries (records.run_history)."""
    mesos_id = request.path_params["mesos_id"]
    found = await _store(request).task_history(mesos_id)
    if found is None:
        raise NotFound(f"no task {mesos_id}")
    return json_response(found)


async def delete_task(request: Request) -> Response:
    mesos_id = request.path_params["mesos_id"]
    await _store(request).delete_task(mesos_id)
    return json_response({"mesos_id": mesos_id, "deleted": True})


async def kill_task(request: Request) -> Response:
    """202 while the leader sends the kill to Mesos; 200 when the task never launched."""
    outcome, record = await _store(request).request_kill(
        request.path_params["mesos_id"], now=time.time()
    )
    return JSONBytes(record, 200 if outcome == "killed" else 202)
