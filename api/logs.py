"""GET /tasks/{mesos_id}/logs/{stdout|stderr}: a piece of a task's output.

Query: `offset` (bytes from the start, default 0) and `length` (bytes, default 65536,
at most 1 MiB). The answer is JSON: the bytes as text (`data`: invalid UTF-8 replaced,
and a character cut at the end of the piece left for the next read), `offset`,
`next_offset` (where the next read starts: `--follow` and the UI poll from it) and
`size` (the file's size when Mesos said it). Where the file is read from: api/sandbox.py.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hippo.api.responses import json_response
from hippo.api.sandbox import SANDBOX_FILES, SandboxReader
from hippo.shared.errors import Conflict, FieldError, NotFound, ValidationFailed
from hippo.shared.records import WAITING
from hippo.shared.store import Store

DEFAULT_LOG_LENGTH = 65536
MAX_LOG_LENGTH = 1024 * 1024


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValidationFailed([FieldError(name, f"must be an integer {low}..{high}, got {raw!r}")])
    return int(raw)


def complete_utf8(data: bytes) -> bytes:
    """`data` without a UTF-8 character cut at its end (at most 3 bytes dropped)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return data  # ASCII: nothing cut
        if byte >= 0xC0:  # a lead byte: is its character whole?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= need else data[:-back]
    return data


async def read_log(request: Request) -> Response:
    mesos_id, name = request.path_params["mesos_id"], request.path_params["name"]
    if name not in SANDBOX_FILES:
        raise NotFound(f"no log {name!r}: stdout or stderr")
    offset = _int_param(request, "offset", 0, 0, 2**62)
    length = _int_param(request, "length", DEFAULT_LOG_LENGTH, 1, MAX_LOG_LENGTH)
    store: Store = request.app.state.store
    status = await store.task_status(mesos_id)
    if status is None:
        raise NotFound(f"no task {mesos_id}")
    if status.get("mesos_state") == WAITING or not status.get("agent_id"):
        raise Conflict(f"task {mesos_id} has not launched: it has no output yet")
    reader: SandboxReader = request.app.state.sandbox
    chunk = await reader.read(mesos_id, name, offset, length)
    data = chunk.data
    if chunk.size is None or offset + len(data) < chunk.size:
        data = complete_utf8(data)  # more follows: keep a cut character for the next read
    return json_response(
        {
            "mesos_id": mesos_id,
            "name": name,
            "offset": offset,
            "next_offset": offset + len(data),
            "size": chunk.size,
            "data": data.decode("utf-8", errors="replace"),
        }
    )
