"""The data model: queue and task definitions as SPEC.md gives them, and their validation.

Definitions are what users write. Records add what Hippo keeps about them at run
time (ids, states, timestamps); the store keeps the two apart, so a status change
never rewrites a definition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from hippo.shared import original
from hippo.shared.deadletter_targets import SECRET_PATHS as DEADLETTER_TARGET_SECRETS
from hippo.shared.deadletter_targets import DeadLetterTarget
from hippo.shared.errors import FieldError, ValidationFailed
from hippo.shared.records import MAX_EXEC_STRING_BYTES, TASK_RECORD_FIELDS
from hippo.shared.sources.base import Source
from hippo.shared.sources.settings import SourceSettings

# Ids end up in Mesos task ids and in URL paths: keep them to safe characters.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"

# The longest retry delay accepted: 30 days.
MAX_DELAY_S = 30 * 24 * 3600

# Fields of a queue's `queue` block that Hippo maintains while polling.
QUEUE_RUNTIME_FIELDS = (
    "last_run_tstamp",
    "last_error",
    "last_error_tstamp",
    "items_taken",
    "tasks_created",
    # Counted from the task indexes when the API answers, never stored on the queue.
    "active_tasks",
    "waiting_tasks",
)


class Network(StrEnum):
    BRIDGE = "BRIDGE"
    HOST = "HOST"
    USER = "USER"
    NONE = "NONE"


class VolumeMode(StrEnum):
    RO = "RO"
    RW = "RW"


class Operator(StrEnum):
    UNIQUE = "UNIQUE"
    CLUSTER = "CLUSTER"
    GROUP_BY = "GROUP_BY"
    LIKE = "LIKE"
    UNLIKE = "UNLIKE"
    MAX_PER = "MAX_PER"
    IS = "IS"
    EQUAL = "EQUAL"  # SPEC.md's name for CLUSTER
    UNEQUAL = "UNEQUAL"  # the original Hippo's opposite of EQUAL


class QueueStatus(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Docker(_Strict):
    image: str = Field(min_length=1)
    network: Network = Network.BRIDGE
    # Name of the user network (Mesos CNI network) when network is USER.
    networkName: str | None = None
    forcePullImage: bool = False

    @model_validator(mode="after")
    def _user_network_is_named(self) -> Docker:
        if self.network is Network.USER and not self.networkName:
            raise ValueError("network USER needs networkName")
        if self.network is not Network.USER and self.networkName:
            raise ValueError("networkName is only for network USER")
        return self


def _host_path_given(value: str) -> str:
    if not value:
        # Mesos (1.5+) refuses a volume without exactly one of host_path, image or
        # source (src/common/validation.cpp); Hippo sends bind mounts only.
        raise ValueError(
            "Mesos requires hostPath: a volume without one gets TASK_ERROR"
            " (Hippo mounts host paths only)"
        )
    return value


def _host_path_required_in_schema(schema: dict[str, Any]) -> None:
    # The field has a default only so that its absence gets the message above.
    schema["required"] = ["containerPath", "hostPath", "mode"]
    schema["properties"]["hostPath"] = {"title": "Hostpath", "type": "string", "minLength": 1}


class Volume(_Strict):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, json_schema_extra=_host_path_required_in_schema
    )

    containerPath: str = Field(min_length=1)
    # Checked even when missing, so the error names the field and why.
    hostPath: Annotated[str, AfterValidator(_host_path_given)] = Field(
        default="", validate_default=True
    )
    mode: VolumeMode


class Container(_Strict):
    type: str = Field(default="DOCKER", pattern="^DOCKER$")
    docker: Docker
    volumes: list[Volume] = Field(default_factory=list, json_schema_extra={"default": []})


class Constraint(BaseModel):
    """A Marathon constraint, `[field, OPERATOR, value?]` on the wire."""

    field: str = Field(min_length=1)
    operator: Operator
    value: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: Any) -> Any:
        if isinstance(data, list | tuple):
            if not 2 <= len(data) <= 3 or not all(isinstance(x, str | int) for x in data):
                raise ValueError("must be [field, OPERATOR] or [field, OPERATOR, value]")
            items = [str(x) for x in data]
            value = items[2] if len(items) == 3 else None
            return {"field": items[0], "operator": items[1], "value": value}
        return data

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Constraint:
        op, value = self.operator, self.value
        if op is Operator.UNIQUE and value is not None:
            raise ValueError("UNIQUE takes no value")
        if (
            op
            in (
                Operator.CLUSTER,
                Operator.EQUAL,
                Operator.UNEQUAL,
                Operator.LIKE,
                Operator.UNLIKE,
                Operator.IS,
                Operator.MAX_PER,
            )
            and value is None
        ):
            raise ValueError(f"{op} needs a value")
        if op in (Operator.MAX_PER, Operator.GROUP_BY) and value is not None:
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"{op} value must be a positive integer, got {value!r}")
        if op in (Operator.LIKE, Operator.UNLIKE):
            try:
                re.compile(value or "")
            except re.error as e:
                raise ValueError(f"{op} value is not a valid regular expression: {e}") from None
        return self

    @model_serializer
    def _as_list(self) -> list[str]:
        return [self.field, self.operator.value] + ([self.value] if self.value is not None else [])


def _env_values_as_strings(value: Any) -> Any:
    """Marathon env values are strings; numbers and booleans are accepted and turned into them."""
    if not isinstance(value, dict):
        return value
    converted = {}
    for name, item in value.items():
        if isinstance(item, bool):
            item = "true" if item else "false"
        elif isinstance(item, int | float):
            item = str(item)
        converted[name] = item
    return converted


def _exec_text(value: str) -> str:
    """What a process can receive as an argument or an environment string (execve): no
    NUL (the string would be cut there), and encodable as UTF-8 (no lone surrogate)."""
    if "\x00" in value:
        raise ValueError(f"must not contain a NUL character (at index {value.index(chr(0))})")
    if len(value.encode()) >= MAX_EXEC_STRING_BYTES:
        raise ValueError(
            f"is {len(value.encode())} bytes; a process receives at most "
            f"{MAX_EXEC_STRING_BYTES - 1} in one string"
        )
    try:
        value.encode()
    except UnicodeEncodeError as e:
        raise ValueError(f"must be valid UTF-8 text (a lone surrogate at index {e.start})") from e
    return value


def _env_name(name: str) -> str:
    if "=" in name:
        raise ValueError("an environment variable name cannot contain '='")
    return _exec_text(name)


def _env_strings_fit(env: dict[str, str]) -> dict[str, str]:
    for name, value in env.items():
        size = len(name.encode()) + 1 + len(value.encode())  # NAME=value
        if size >= MAX_EXEC_STRING_BYTES:
            raise ValueError(
                f"{name}=... is {size} bytes; a process receives at most "
                f"{MAX_EXEC_STRING_BYTES - 1} in one environment string"
            )
    return env


def _callback_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


ExecText = Annotated[str, AfterValidator(_exec_text)]
Env = Annotated[
    dict[Annotated[str, Field(min_length=1), AfterValidator(_env_name)], ExecText],
    BeforeValidator(_env_values_as_strings),
    AfterValidator(_env_strings_fit),
]


class JobDefinition(_Strict):
    """What queues and one-off tasks share: the container to run and how."""

    container: Container
    mem: float = Field(gt=0)
    cpus: float = Field(gt=0)
    cmd: ExecText = Field(min_length=1)
    # default_factory, not `= {}`: pydantic deep-copies a mutable default for each
    # instance (a third of the leader's decoding of a stored definition); the schema
    # still shows the default.
    env: Env = Field(default_factory=dict, json_schema_extra={"default": {}})
    constraints: list[Constraint] = Field(default_factory=list, json_schema_extra={"default": []})
    task_retries: int = Field(default=0, ge=0)
    system_retries: int = Field(default=2, ge=0)
    # A retry waits retry_delay_seconds * retry_backoff_factor ** (n - 1) before its n-th
    # retry may launch, at most retry_max_delay_seconds (0: at once, as SPEC.md's Hippo).
    retry_delay_seconds: float = Field(default=0, ge=0, le=MAX_DELAY_S)
    retry_backoff_factor: float = Field(default=2, ge=1, le=100)
    retry_max_delay_seconds: float = Field(default=3600, gt=0, le=MAX_DELAY_S)
    # A run is killed once it has run this long (TASK_KILLED, a failure for task_retries);
    # None: no limit.
    max_runtime_seconds: float | None = Field(default=None, gt=0)
    # A run no offer was taken for within this long ends as TASK_FAILED, not retried;
    # None: it waits as long as it takes.
    max_pending_seconds: float | None = Field(default=None, gt=0)
    # Each run's end is POSTed here as JSON (worker/callbacks.py); None: no callback.
    callback_url: Annotated[str, AfterValidator(_callback_url)] | None = Field(
        default=None, max_length=2048
    )
    # Signs each callback (X-Hippo-Signature, HMAC-SHA256); stored encrypted, shown masked.
    callback_secret: str | None = Field(default=None, min_length=1, max_length=1024)

    @field_validator("callback_secret")
    @classmethod
    def _secret_has_a_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and "callback_url" in info.data and info.data["callback_url"] is None:
            raise ValueError("needs a callback_url to sign callbacks for")
        return value


class TaskDefinition(JobDefinition):
    id: str | None = Field(default=None, pattern=ID_PATTERN)
    max_concurrent: int = Field(default=10, ge=1)


class QueueBlock(_Strict):
    """The `queue` block, without its source settings (validated by the source)."""

    type: str
    name: str = ""
    max_concurrent: int = Field(default=10000, ge=1)
    batch_size: int = Field(default=1, ge=1)
    batch_separator: str = "|"
    frequency_seconds: float = Field(default=60, gt=0)
    status: QueueStatus = QueueStatus.ENABLED
    # Dead letters are also pushed to this Redis list or SQS queue (shared/deadletter_targets.py).
    deadletter_target: DeadLetterTarget | None = None


class QueueDefinition(JobDefinition):
    id: str | None = Field(default=None, pattern=ID_PATTERN)
    queue: QueueBlock


# Never echoed in a validation error.
CALLBACK_SECRET_PATHS = frozenset({"callback_secret"}) | DEADLETTER_TARGET_SECRETS


def _field_errors(
    error: ValidationError, prefix: str = "", secret_paths: frozenset[str] = frozenset()
) -> list[FieldError]:
    found = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        message = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        if (
            item["type"] != "missing"
            and isinstance(value, str | int | float | bool)
            and path not in secret_paths
        ):
            message += f", got {value!r}"
        found.append(FieldError(path or "body", message))
    return found


def _expect_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object")])
    return data


# Sent back by clients that read a record, and ignored: ours and the original Hippo's
# record fields (`id` is the definition's own).
_IGNORED_TASK_FIELDS = frozenset(TASK_RECORD_FIELDS[1:]) | set(original.TASK_RECORD_FIELDS)
_IGNORED_QUEUE_BLOCK_FIELDS = frozenset(QUEUE_RUNTIME_FIELDS) | set(
    original.QUEUE_BLOCK_RECORD_FIELDS
)


def _without(data: dict[str, Any], ignored: frozenset[str] | tuple[str, ...]) -> dict[str, Any]:
    """`data` without the `ignored` fields, and without an empty `id`: the original Hippo
    (and its page, whose id field may be left blank) sent `"id": ""` for "generate one"."""
    return {k: v for k, v in data.items() if k not in ignored and not (k == "id" and v == "")}


def parse_task(data: Any) -> TaskDefinition:
    """A validated one-off task definition; raises ValidationFailed listing every bad field."""
    data = _without(_expect_object(data), _IGNORED_TASK_FIELDS)
    try:
        return TaskDefinition.model_validate(data)
    except ValidationError as e:
        raise ValidationFailed(_field_errors(e, secret_paths=CALLBACK_SECRET_PATHS)) from None


def parse_queue(
    data: Any, sources: Mapping[str, type[Source]]
) -> tuple[QueueDefinition, dict[str, Any]]:
    """A validated queue definition and its source settings, every bad field reported at once.

    `sources` maps enabled type names to Source classes; the settings block named after
    `queue.type` is validated by that source's settings model.
    """
    data = _without(_expect_object(data), original.QUEUE_RECORD_FIELDS)
    block = data.get("queue")
    settings_block: Any = None
    errors: list[FieldError] = []
    source = None
    if isinstance(block, dict):
        block = {k: v for k, v in block.items() if k not in _IGNORED_QUEUE_BLOCK_FIELDS}
        type_name = block.get("type")
        source = sources.get(type_name) if isinstance(type_name, str) else None
        if source is None and "type" in block:
            errors.append(
                FieldError(
                    "queue.type",
                    f"unknown queue type {type_name!r}; enabled: " + ", ".join(sources),
                )
            )
        if source is not None:
            settings_block = block.pop(source.namespace, None)
        # Blocks named after other types are tolerated only for an unknown type (already
        # reported); otherwise they are typos and extra="forbid" reports them.
        if source is None:
            for name in sources:
                block.pop(name, None)
        data["queue"] = block
    definition = None
    try:
        definition = QueueDefinition.model_validate(data)
    except ValidationError as e:
        errors.extend(_field_errors(e, secret_paths=CALLBACK_SECRET_PATHS))
    settings: dict[str, Any] = {}
    if source is not None:
        try:
            settings = validate_source_settings(source, settings_block).model_dump()
        except ValidationFailed as e:
            errors.extend(e.errors)
    if errors:
        raise ValidationFailed(errors)
    assert definition is not None
    return definition, settings


# A settings block's type errors name the parameter's type in the user's words.
_TYPE_MESSAGES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "float_type": "must be a number",
}


def validate_source_settings(source: type[Source], block: Any) -> SourceSettings:
    """The settings block of a queue of `source`, validated by the source's settings model
    (defaults filled in); errors name `queue.<type>.<param>` and never echo a secret."""
    prefix = f"queue.{source.namespace}"
    if block is None:
        block = {}
    if not isinstance(block, dict):
        raise ValidationFailed([FieldError(prefix, "must be an object")])
    try:
        return source.settings_model.model_validate(block)
    except ValidationError as e:
        raise ValidationFailed(_settings_errors(e, prefix, source.settings_model)) from None


def _settings_errors(
    error: ValidationError, prefix: str, model: type[SourceSettings]
) -> list[FieldError]:
    secrets = model.secret_fields()
    # Unknown names first, in the block's order, then the parameters in declaration order
    # (pydantic lists unknown names last).
    items = sorted(
        error.errors(include_url=False), key=lambda item: item["type"] != "extra_forbidden"
    )
    found = []
    for item in items:
        name = str(item["loc"][0])
        path = f"{prefix}.{name}"
        if item["type"] == "missing":
            found.append(FieldError(path, "Field required"))
            continue
        if item["type"] == "extra_forbidden":
            found.append(FieldError(path, "is not a parameter of this queue type"))
            continue
        message = _TYPE_MESSAGES.get(item["type"]) or item["msg"].removeprefix("Value error, ")
        if name not in secrets and "got" not in message:
            shown = item["input"]
            if item["type"] == "value_error":
                shown = _as_checked(model.model_fields[name].annotation, shown)
            message += f", got {shown!r}"
        found.append(FieldError(path, message))
    return found


def _as_checked(annotation: Any, value: Any) -> Any:
    """The value a parameter's check saw: a number sent for text was text by then
    (sources.settings.Text)."""
    if annotation is str and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value
