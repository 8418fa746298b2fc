"""Reading a request's JSON body: content type, size limit, syntax."""

from __future__ import annotations

from typing import Any

import pydantic_core
from starlette.requests import Request

from hippo.shared.errors import HippoError

MAX_BODY_BYTES = 1024 * 1024


class BadBody(HippoError):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


async def read_json(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        shown = content_type or "none"
        raise BadBody(415, f"Content-Type must be application/json, got {shown}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadBody(413, f"body is over the limit of {MAX_BODY_BYTES} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadBody(413, f"body is over the limit of {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise BadBody(400, "body is empty: send a JSON object")
    try:
        return pydantic_core.from_json(body)
    except ValueError as e:
        raise BadBody(400, f"body is not valid JSON: {e}") from None
