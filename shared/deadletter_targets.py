"""Where a queue's dead letters are also pushed, if anywhere: `queue.deadletter_target`.

`{"type": "redis", "redis": {host, port, db, name, password, ssl}}` LPUSHes each dead
letter's JSON (DEAD_LETTER_FIELDS of shared/deadletters.py) to a Redis list, the end a
Hippo redis queue takes from; `{"type": "sqs", "sqs": {awskey, awssecret, awsregion,
queuename, endpoint_url}}` sends it as an SQS message. The blocks are the redis and sqs
sources' own settings models (the same parameters, checks and secrets), so their
secrets are sealed, masked and rotated like a source's (shared/queues.py). The push is
at least once, from an outbox written with the dead letter (worker/deadletter_push.py);
the dead letter stays in Hippo's list either way.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from hippo.shared.sources.redislist import RedisListSettings
from hippo.shared.sources.settings import SourceSettings
from hippo.shared.sources.sqs import SqsSettings

TARGET_MODELS: dict[str, type[SourceSettings]] = {
    "redis": RedisListSettings,
    "sqs": SqsSettings,
}
FIELD = "deadletter_target"
# Paths of secrets inside the block, never echoed in a validation error.
SECRET_PATHS = frozenset(
    f"queue.{FIELD}.{kind}.{name}"
    for kind, model in TARGET_MODELS.items()
    for name in model.secret_fields()
)


class DeadLetterTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["redis", "sqs"]
    redis: RedisListSettings | None = None
    sqs: SqsSettings | None = None

    @model_validator(mode="after")
    def _the_block_of_its_type(self) -> DeadLetterTarget:
        other = "sqs" if self.type == "redis" else "redis"
        if getattr(self, self.type) is None:
            raise ValueError(f"type {self.type} needs its {self.type!r} block")
        if getattr(self, other) is not None:
            raise ValueError(f"type {self.type} takes no {other!r} block")
        return self

    def settings(self) -> SourceSettings:
        found = getattr(self, self.type)
        assert isinstance(found, SourceSettings)
        return found
