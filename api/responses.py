"""JSON responses and the JSON error bodies every failure gets."""

from __future__ import annotations

from typing import Any

import pydantic_core
from starlette.responses import Response

from hippo.shared.errors import FieldError
from hippo.shared.secrets import mask_url_passwords_in


class JSONBytes(Response):
    """A response whose body is JSON text already (records straight from the store)."""

    media_type = "application/json"


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return JSONBytes(pydantic_core.to_json(content), status_code, headers)


def error_response(
    status_code: int,
    message: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    # Messages quote what failed (a source's error, a bad value), and that can be a
    # connection string: the one URL-password masker runs over every one of them.
    body: dict[str, Any] = {"error": mask_url_passwords_in(message)}
    if errors:
        body["errors"] = [
            {"field": e.field, "message": mask_url_passwords_in(e.message)} for e in errors
        ]
    return json_response(body, status_code, headers)
