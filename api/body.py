"""Reading a request's JSON body: content type, size limit, syntax."""

from __future__ import annotations

from typing import Any

import pydantic_core
from starlette.requests import Request

from hippo.shared.errors import BadBody, BodyTooLarge, UnsupportedMediaType
from hippo.shared.tunables import MAX_BODY_BYTES


async def read_json(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        shown = content_type or "none"
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {shown}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"body is over the limit of {MAX_BODY_BYTES} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge(f"body is over the limit of {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise BadBody("body is empty: send a JSON object")
    try:
        return pydantic_core.from_json(body)
    except ValueError as e:
        raise BadBody(f"body is not valid JSON: {e}") from None
