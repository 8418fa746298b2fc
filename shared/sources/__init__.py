"""Queue sources, found through the `hippo.sources` entry point group."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from hippo.shared.sources.base import Source

ENTRY_POINT_GROUP = "hippo.sources"


def load_sources(enabled: tuple[str, ...] = ()) -> dict[str, type[Source]]:
    """Installed sources by namespace; only `enabled` ones when given (unknown names fail)."""
    found: dict[str, type[Source]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        source = entry.load()
        found[source.namespace] = source
    if not enabled:
        return dict(sorted(found.items()))
    unknown = [name for name in enabled if name not in found]
    if unknown:
        raise ValueError(
            f"unknown queue types {', '.join(unknown)}; installed: {', '.join(sorted(found))}"
        )
    return {name: found[name] for name in enabled}


def settings_schema(source: type[Source]) -> dict[str, Any]:
    """JSON Schema (draft 2020-12, as OpenAPI 3.1 uses) of the `queue.<type>` block of
    `source`: flat, self-contained (no $ref), `additionalProperties: false`; a secret
    parameter carries `"x-secret": "value"` (and `"format": "password"`) or
    `"x-secret": "url-password"`."""
    return source.settings_model.model_json_schema(mode="validation")
