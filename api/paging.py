"""Paging of list routes: `limit` (page size) and `cursor` (where the page starts), read
from the query string the same way by every route that pages."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from hippo.shared.errors import FieldError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def page_params(query: QueryParams) -> tuple[int, int | None, list[FieldError]]:
    """(limit, cursor, errors): `limit` 1..MAX_LIMIT (DEFAULT_LIMIT when absent), `cursor`
    an integer >= 0 or None; each bad value is an error naming its parameter."""
    values: dict[str, int | None] = {}
    errors = []
    for name, default, low, high in (
        ("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        ("cursor", None, 0, None),
    ):
        raw = query.get(name)
        if raw is None:
            values[name] = default
        elif not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
            bounds = f"{low}..{high}" if high else f">= {low}"
            errors.append(FieldError(name, f"must be an integer {bounds}, got {raw!r}"))
        else:
            values[name] = int(raw)
    return values.get("limit") or DEFAULT_LIMIT, values.get("cursor"), errors
