"""A stored queue definition as a poller reads it: secrets decrypted, the source's
settings validated by this worker's version of the source, the task template."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hippo.shared.errors import ValidationFailed
from hippo.shared.model import QueueBlock, validate_source_settings
from hippo.shared.queues import queue_document
from hippo.shared.secrets import SecretBox
from hippo.shared.sources.base import Source
from hippo.shared.sources.settings import SourceSettings
from hippo.worker.polling_tasks import TaskTemplate


@dataclass(frozen=True)
class StoredSource:
    """A definition's source settings as this worker reads them."""

    queue_type: str
    source: type[Source] | None  # None: the type is not enabled on this worker
    settings: SourceSettings | None  # None: this worker cannot use them, `why` says why
    why: str = ""


@dataclass(frozen=True)
class PreparedQueue:
    """A queue's definition decoded once per spec (decrypting secrets costs)."""

    queue_type: str
    block: QueueBlock
    template: TaskTemplate
    settings: SourceSettings | None  # None: this worker cannot poll it, `unpollable` says why
    unpollable: str = ""


class DefinitionReader:
    """Reads stored definitions with this worker's source types and secret keys."""

    def __init__(self, source_types: Mapping[str, type[Source]], box: SecretBox) -> None:
        self.source_types = source_types
        self.box = box

    def document(self, queue_id: str, spec: bytes) -> dict[str, Any]:
        """A stored definition with its secrets decrypted."""
        stored = {"spec": spec, "status": b"ENABLED"}
        return queue_document(queue_id, stored, self.source_types, self.box, reveal=True)

    def stored_source(self, queue_id: str, spec: bytes) -> StoredSource:
        return self.read_source(self.document(queue_id, spec)["queue"])

    def read_source(self, block: dict[str, Any]) -> StoredSource:
        queue_type = block["type"]
        source = self.source_types.get(queue_type)
        if source is None:
            why = f"queue type {queue_type!r} is not enabled on this worker"
            return StoredSource(queue_type, None, None, why)
        # Saved by an API that may run another version of the source: a name it no
        # longer declares is a left-over, not a typo, and a new one gets its default.
        declared = source.settings_model.model_fields
        stored = {k: v for k, v in (block.get(queue_type) or {}).items() if k in declared}
        try:
            return StoredSource(queue_type, source, validate_source_settings(source, stored))
        except ValidationFailed as e:
            why = f"settings not valid on this worker: {e}"
            return StoredSource(queue_type, source, None, why)

    def prepare(self, queue_id: str, spec: bytes) -> PreparedQueue:
        doc = self.document(queue_id, spec)
        block = doc["queue"]
        read = self.read_source(block)
        return PreparedQueue(
            queue_type=read.queue_type,
            block=QueueBlock.model_validate(
                {k: v for k, v in block.items() if k in QueueBlock.model_fields}
            ),
            template=TaskTemplate(queue_id, doc),
            settings=read.settings,
            unpollable=read.why,
        )
