"""The JSON schemas of /openapi.json, from the one definition of each thing described.

Task and queue definitions come from the pydantic models, the task record's run-time
fields from TASK_RECORD_TEMPLATE (each typed here; a field added there without its type
here fails loudly), and each queue type's settings block from its source's settings
model (hippo.shared.sources.settings_schema).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from hippo.shared import original
from hippo.shared.deadletters import CAUSES, DEAD_LETTER_FIELDS, RUN_FIELDS
from hippo.shared.model import ID_PATTERN, QUEUE_RUNTIME_FIELDS, QueueDefinition, TaskDefinition
from hippo.shared.original import INPUT_TYPES, SECRET_INPUT
from hippo.shared.records import ALL_STATES, CHAIN_FIELDS, TASK_RECORD_TEMPLATE
from hippo.shared.sources import settings_schema
from hippo.shared.sources.base import Source
from hippo.shared.sources.settings import PARAMETER_TYPES

Schema = dict[str, Any]

_REF = "#/components/schemas/{model}"
TEXT: Schema = {"type": "string"}


def ref(name: str) -> Schema:
    return {"$ref": _REF.format(model=name)}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def closed_object(properties: dict[str, Schema]) -> Schema:
    """An object with exactly these properties, every one always present."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


# Task records: TASK_RECORD_TEMPLATE names the fields; here is each one's JSON type.
_RECORD_FIELD_SCHEMAS: dict[str, Schema] = {
    "id": {"type": "string", "pattern": ID_PATTERN},
    "mesos_id": {"type": "string", "description": "`<id>.<uuid>`"},
    "queue_id": nullable({"type": "string"}),
    "mesos_state": ref("TaskState"),
    "task_retries_left": {"type": "integer"},
    "system_retries_left": {"type": "integer"},
    "agent_id": nullable({"type": "string"}),
    "agent_hostname": nullable({"type": "string"}),
    "created_tstamp": {"type": "number", "description": "unix seconds"},
    "updated_tstamp": {"type": "number", "description": "unix seconds"},
    "started_tstamp": nullable({"type": "number"}),
    "finished_tstamp": nullable({"type": "number"}),
    "status_tstamp": {
        "type": "number",
        "description": "unix seconds of the last change of mesos_state (the original's field)",
    },
    "status_message": nullable({"type": "string"}),
    "status_reason": nullable({"type": "string"}),
    "previous_mesos_id": nullable({"type": "string"}),
    "kill_requested": {"type": "boolean"},
    "attempt": {"type": "integer", "description": "1 for a first run, n + 1 for its n-th retry"},
    "next_mesos_id": nullable({"type": "string", "description": "the run that retried this one"}),
    "retry_due_tstamp": nullable(
        {"type": "number", "description": "a delayed retry: when it may launch, unix seconds"}
    ),
    "pending_reason": nullable(
        {
            "type": "string",
            "description": "while WAITING_ON_OFFERS: why it has not launched yet "
            "(README: Why is my task waiting?); null before the leader looked at it and "
            "once it launched",
        }
    ),
    "timed_out": nullable(
        {
            "enum": ["max_runtime_seconds", "max_pending_seconds"],
            "description": "the limit that ended this run",
        }
    ),
}

# A field the original Hippo's records carried: a client sending a record back has it
# ignored (hippo.shared.original).
_ORIGINAL_FIELD: Schema = {
    "readOnly": True,
    "description": "A field of the original Hippo's records: ignored when sent.",
}

# A queue's poll state, kept by Hippo in its `queue` block (model.QUEUE_RUNTIME_FIELDS).
_QUEUE_RUNTIME_SCHEMAS: dict[str, Schema] = {
    "last_run_tstamp": {"type": "number"},
    "last_error": nullable({"type": "string"}),
    "last_error_tstamp": nullable({"type": "number"}),
    "items_taken": {"type": "integer"},
    "tasks_created": {"type": "integer"},
    "active_tasks": {"type": "integer", "description": "tasks launched and not ended"},
    "waiting_tasks": {"type": "integer", "description": "tasks not launched yet"},
}


# Dead letters (shared/deadletters.py): each field's JSON type.
_RUN_SCHEMAS: dict[str, Schema] = {
    "mesos_id": {"type": "string"},
    "mesos_state": ref("TaskState"),
    "status_reason": nullable({"type": "string"}),
    "status_message": nullable({"type": "string"}),
    "agent_hostname": nullable({"type": "string"}),
    "created_tstamp": {"type": "number", "description": "unix seconds"},
    "started_tstamp": nullable({"type": "number"}),
    "finished_tstamp": nullable({"type": "number"}),
}
_DEAD_LETTER_SCHEMAS: dict[str, Schema] = {
    "id": {
        "type": "string",
        "description": "The last run's mesos_id; `<queue id>.<uuid>` for an item never run",
    },
    "queue_id": {"type": "string"},
    "task_id": {"type": "string"},
    "cause": {
        "enum": list(CAUSES),
        "description": "retries_exhausted: its task ended without finishing and without a "
        "retry left; undeliverable: no process could receive the item (never run)",
    },
    "mesos_state": nullable(ref("TaskState")),
    "status_reason": nullable({"type": "string"}),
    "status_message": nullable({"type": "string"}),
    "data": nullable({"type": "string", "description": "HIPPO_DATA"}),
    "data_base64": nullable({"type": "string", "description": "HIPPO_DATA_BASE64"}),
    "runs": {"type": "array", "items": {"$ref": "#/components/schemas/DeadLetterRun"}},
    "dead_tstamp": {"type": "number", "description": "unix seconds"},
}


def _declared(names: Sequence[str], schemas: dict[str, Schema], what: str) -> dict[str, Schema]:
    """`schemas` in the order of `names`; a name added without its schema fails loudly here
    (and in the tests) instead of reaching the document untyped."""
    missing = [name for name in names if name not in schemas]
    stale = [name for name in schemas if name not in names]
    if missing or stale:
        raise RuntimeError(f"openapi: {what}: no schema for {missing}, schema of no field {stale}")
    return {name: copy.deepcopy(schemas[name]) for name in names}


def _record_fields() -> dict[str, Schema]:
    return _declared(list(TASK_RECORD_TEMPLATE), _RECORD_FIELD_SCHEMAS, "TASK_RECORD_TEMPLATE")


def _runtime_fields() -> dict[str, Schema]:
    return _declared(QUEUE_RUNTIME_FIELDS, _QUEUE_RUNTIME_SCHEMAS, "QUEUE_RUNTIME_FIELDS")


def _constraint_as_list(operator: Schema) -> Schema:
    # Constraint converts from and to this list in validators, which pydantic cannot
    # read a schema from: it would describe its inner {field, operator, value} object.
    return {
        "type": "array",
        "description": "A Marathon constraint: [field, OPERATOR] or [field, OPERATOR, value]",
        "prefixItems": [{"type": "string", "minLength": 1}, operator, {"type": "string"}],
        "minItems": 2,
        "maxItems": 3,
    }


def _empty_id_allowed(schema: Schema) -> Schema:
    """A definition's id as the API takes it: `""` is no id (model._without), as the
    original Hippo's page sends it for "generate one"."""
    schema = copy.deepcopy(schema)
    schema["anyOf"].append({"const": "", "description": "no id: one is generated"})
    return schema


def _model_components() -> tuple[dict[str, Schema], dict[str, str]]:
    """The models' schemas, and the component name of each (model, mode)."""
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (TaskDefinition, "validation"),
        (TaskDefinition, "serialization"),
        (QueueDefinition, "validation"),
    ]
    refs, schemas = models_json_schema(pairs, ref_template=_REF)
    names = {}
    for model, mode in pairs:
        target: str = refs[(model, mode)]["$ref"]
        names[f"{model.__name__}:{mode}"] = target.rsplit("/", 1)[1]
    return schemas["$defs"], names


@cache
def components(sources: tuple[tuple[str, type[Source]], ...]) -> dict[str, Schema]:
    """Every component schema of /openapi.json, for these enabled sources (name, class).
    Cached: callers copy before changing anything."""
    components, names = _model_components()
    definition = components.pop(names["TaskDefinition:validation"])
    record_base = components.pop(names["TaskDefinition:serialization"])
    queue_definition = components.pop(names["QueueDefinition:validation"])
    operator = ref("Operator")
    for name in [n for n in components if n.startswith("Constraint")]:
        wire = _constraint_as_list(operator)
        # A request may also spell a constraint as an object; an answer never does.
        components[name] = (
            {"anyOf": [wire, components[name]]} if "properties" in components[name] else wire
        )

    components["TaskState"] = {
        "type": "string",
        "enum": sorted(ALL_STATES),
        "description": "WAITING_ON_OFFERS until launched, then the Mesos task state.",
    }
    record_fields = _record_fields()
    # A client may send a record back as a definition: its run-time fields are ignored.
    for name in record_fields:
        if name != "id":
            definition["properties"][name] = {
                "readOnly": True,
                "description": "A task record's field: ignored when sent.",
            }
    for name in original.TASK_RECORD_FIELDS:
        definition["properties"].setdefault(name, _ORIGINAL_FIELD)
    definition["properties"]["id"] = _empty_id_allowed(definition["properties"]["id"])
    components["TaskDefinition"] = definition
    record_properties = {**record_base["properties"], **record_fields}
    components["TaskRecord"] = {
        "type": "object",
        "description": "A task run as Hippo records it: its definition and its run-time fields.",
        "properties": record_properties,
        "required": [*record_base.get("required", []), *record_fields],
        "additionalProperties": False,
    }

    # Every queue type shares these fields; a type adds its settings block (QueueBlock-<type>).
    block = components["QueueBlock"]
    block.pop("additionalProperties", None)
    block["description"] = (
        "The fields of a `queue` block every type shares, and the poll state Hippo keeps "
        "(read-only: ignored when sent)."
    )
    for name, schema in _runtime_fields().items():
        block["properties"][name] = {**schema, "readOnly": True}
    for name in original.QUEUE_BLOCK_RECORD_FIELDS:
        block["properties"].setdefault(name, _ORIGINAL_FIELD)
    for name in original.QUEUE_RECORD_FIELDS:
        queue_definition["properties"].setdefault(name, _ORIGINAL_FIELD)
    mapping = {}
    for namespace, source in sources:
        settings_name = f"QueueSettings-{namespace}"
        settings = settings_schema(source)
        components[settings_name] = settings
        block_name = f"QueueBlock-{namespace}"
        components[block_name] = {
            "description": f"The `queue` block of a {source.label} queue.",
            "allOf": [ref("QueueBlock")],
            "properties": {"type": {"const": namespace}, namespace: ref(settings_name)},
            "required": ["type", namespace] if settings.get("required") else ["type"],
            # unevaluatedProperties sees QueueBlock's fields through allOf, unlike
            # additionalProperties: anything else in the block is an error, as in the API.
            "unevaluatedProperties": False,
        }
        mapping[namespace] = _REF.format(model=block_name)
    queue_definition["properties"]["queue"] = {
        "oneOf": [{"$ref": target} for target in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }
    queue_definition["properties"]["id"] = _empty_id_allowed(queue_definition["properties"]["id"])
    components["QueueDefinition"] = queue_definition
    components["Queue"] = {
        "description": "A queue as the API answers it: its definition with secrets masked, "
        "its status and its poll state.",
        "allOf": [
            ref("QueueDefinition"),
            {
                "properties": {
                    "id": {"type": "string"},
                    "queue": {"required": ["type", "status", *QUEUE_RUNTIME_FIELDS]},
                },
                "required": ["id"],
            },
        ],
    }

    components["TaskHistory"] = {
        **closed_object(
            {
                "mesos_id": {"type": "string"},
                "history": array(
                    closed_object(
                        {
                            "state": ref("TaskState"),
                            "tstamp": {"type": "number", "description": "unix seconds"},
                            "message": nullable({"type": "string"}),
                            "reason": nullable({"type": "string"}),
                            "agent_id": nullable({"type": "string"}),
                        }
                    )
                ),
                "runs": array(
                    closed_object(
                        {name: copy.deepcopy(record_fields[name]) for name in CHAIN_FIELDS}
                    )
                ),
            }
        ),
        "description": "A run's states in order (each with its time, message, reason and "
        "agent) and its chain of runs: every retry before and after it, oldest first.",
    }
    components["QueueParameter"] = closed_object(
        {
            "name": {"type": "string"},
            "type": {"enum": sorted(set(PARAMETER_TYPES.values()))},
            "default": {},
            "required": {"type": "boolean"},
            "secret": {"type": "boolean"},
            "label": {"type": "string"},
            "help": {"type": "string"},
        }
    )
    components["QueueInput"] = {
        "type": "object",
        "description": "A parameter as the original Hippo's /queuetypes/ described it; "
        "`default` is absent when the parameter is required.",
        "properties": {
            "input": {"enum": sorted({*INPUT_TYPES.values(), SECRET_INPUT})},
            "label": {"type": "string"},
            "default": {},
        },
        "required": ["input", "label"],
        "additionalProperties": False,
    }
    components["QueueType"] = {
        "type": "object",
        "description": "`type` and `parameters`, and the same as the original Hippo said "
        "them: `namespace` and `inputs`.",
        "properties": {
            "type": {"type": "string"},
            "label": {"type": "string"},
            "parameters": array(ref("QueueParameter")),
            "namespace": {"type": "string"},
            "inputs": {"type": "object", "additionalProperties": ref("QueueInput")},
        },
        "required": ["type", "label", "parameters", "namespace", "inputs"],
    }
    number, count, text = nullable({"type": "number"}), {"type": "integer"}, {"type": "string"}
    components["Status"] = closed_object(
        {
            "leader": nullable(
                closed_object({"worker_id": text, "epoch": count, "since": {"type": "number"}})
            ),
            "framework_id": nullable(text),
            "subscribed_since": number,
            "master": nullable({**text, "description": "the master's scheduler URL"}),
            "offers_seen": nullable({**count, "description": "in this leadership term"}),
            "agents_seen": nullable({**count, "description": "distinct agents that offered"}),
            "offers_held": nullable(count),
            "last_offer_tstamp": number,
            "last_mesos_error": nullable(text),
            "last_mesos_error_tstamp": number,
            "report_tstamp": {**number, "description": "when the leader last reported"},
            "waiting": count,
            "staging": count,
            "running": count,
            "waiting_reason": nullable(
                {
                    **text,
                    "description": "why every waiting task waits now (no leader, "
                    "the master unreachable); null when none",
                }
            ),
        }
    )
    components["DeadLetterRun"] = closed_object(
        _declared(RUN_FIELDS, _RUN_SCHEMAS, "deadletters.RUN_FIELDS")
    )
    components["DeadLetter"] = {
        **closed_object(
            _declared(DEAD_LETTER_FIELDS, _DEAD_LETTER_SCHEMAS, "deadletters.DEAD_LETTER_FIELDS")
        ),
        "description": "A queue's item that will not run again by itself, with its data, "
        "its runs (oldest first) and the last reason.",
    }
    components["LogChunk"] = closed_object(
        {
            "mesos_id": text,
            "name": {"enum": ["stdout", "stderr"]},
            "offset": count,
            "next_offset": {**count, "description": "where the next read starts"},
            "size": nullable({**count, "description": "the file's size in bytes, when known"}),
            "data": {**text, "description": "the bytes as UTF-8 text (invalid bytes replaced)"},
        }
    )
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "errors": array(
                closed_object({"field": {"type": "string"}, "message": {"type": "string"}})
            ),
        },
        "required": ["error"],
        "additionalProperties": False,
    }
    return components
