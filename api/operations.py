"""What /openapi.json says about each route: its answers by status, its request body.

app.py's route table pairs each operation with its path, methods and endpoint; api/
openapi.py adds the errors every operation may answer (4XX, and 503 while Redis is away).
"""

from __future__ import annotations

from hippo.api.logs import DEFAULT_LOG_LENGTH, MAX_LOG_LENGTH
from hippo.api.openapi import Answer, Operation
from hippo.api.paging import DEFAULT_LIMIT, MAX_LIMIT
from hippo.api.schemas import Schema, array, closed_object, ref
from hippo.api.tasks import IDEMPOTENCY_KEY_PATTERN
from hippo.shared.model import ID_PATTERN

TRUE = {"const": True}
_QUEUE = ref("Queue")
_RECORD = ref("TaskRecord")
_QUEUE_STATUS = {
    "type": "object",
    "description": "`enabled` or `disabled` (the queue id, as the original Hippo answered) "
    "says the new status too.",
    "properties": {
        "id": {"type": "string"},
        "status": ref("QueueStatus"),
        "enabled": {"type": "string"},
        "disabled": {"type": "string"},
    },
    "required": ["id", "status"],
    "additionalProperties": False,
}


def _query(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


LIST_TASKS = Operation(
    "Recent tasks, newest first",
    {
        200: Answer(
            "A page of task records",
            array(_RECORD),
            headers={
                "X-Next-Cursor": "The cursor of the next page, when there is one",
                "Link": 'The next page\'s URL, as `<...>; rel="next"`',
            },
        )
    },
    parameters=(
        _query("state", "Only tasks in this state", ref("TaskState")),
        _query("id", "Only runs of this task id", {"type": "string", "pattern": ID_PATTERN}),
        _query("queue_id", "Only tasks this queue made", {"type": "string", "pattern": ID_PATTERN}),
        _query(
            "limit",
            f"Page size ({DEFAULT_LIMIT} when only a cursor is given). Without limit and "
            "cursor, the original Hippo's unpaged list: up to HIPPO_TASKS_UNPAGED_MAX "
            "records (10000 by default), the rest behind Link",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        ),
        _query("cursor", "X-Next-Cursor of the previous page", {"type": "integer", "minimum": 0}),
    ),
)
CREATE_TASK = Operation(
    "Create a one-off task",
    {
        201: Answer("Created: the new task record", _RECORD),
        200: Answer(
            "This Idempotency-Key was seen: the task it created; or, with "
            "HIPPO_DEDUPE_ONE_OFF_TASKS, a one-off task with this cmd and image still "
            "waiting or running: that task",
            _RECORD,
        ),
    },
    body="TaskDefinition",
    parameters=(
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "The same key again answers the first task instead of a new one",
            "schema": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY_PATTERN}$"},
        },
    ),
)
GET_TASK = Operation("Get a task record", {200: Answer("The task record", _RECORD)})
TASK_HISTORY = Operation(
    "A task run's state history and its chain of retries",
    {200: Answer("Its history and its chain of runs", ref("TaskHistory"))},
)
DELETE_TASK = Operation(
    "Delete a task record (409 while it runs on an agent)",
    {200: Answer("Deleted", closed_object({"mesos_id": {"type": "string"}, "deleted": TRUE}))},
)
KILL_TASK = Operation(
    "Kill a task",
    {
        200: Answer("Killed: it had not launched (TASK_KILLED)", _RECORD),
        202: Answer("Kill requested: the leader sends it to Mesos", _RECORD),
    },
)

READ_LOG = Operation(
    "A piece of a task's stdout or stderr, read from its Mesos sandbox",
    {200: Answer("The bytes from `offset`, as text", ref("LogChunk"))},
    parameters=(
        _query("offset", "Bytes from the file's start", {"type": "integer", "minimum": 0}),
        _query(
            "length",
            "Bytes to read at most",
            {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_LOG_LENGTH,
                "default": DEFAULT_LOG_LENGTH,
            },
        ),
    ),
)

LIST_QUEUES = Operation("List queues (secrets masked)", {200: Answer("Every queue", array(_QUEUE))})
CREATE_QUEUE = Operation(
    "Create a queue (id generated when missing or empty); an existing id is replaced, as "
    "the original Hippo did, unless If-None-Match: * asks for creation only (409)",
    {
        201: Answer("Created: the queue, secrets masked", _QUEUE),
        200: Answer("A queue with this id existed: replaced, secrets masked", _QUEUE),
    },
    body="QueueDefinition",
    parameters=(
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "`*`: create only; a queue with this id answers 409",
            "schema": {"const": "*"},
        },
    ),
)
GET_QUEUE = Operation("Get a queue (secrets masked)", {200: Answer("The queue", _QUEUE)})
REPLACE_QUEUE = Operation(
    "Replace a queue's definition (poll state kept, and the status when the body has none)",
    {200: Answer("The queue, secrets masked", _QUEUE)},
    body="QueueDefinition",
)
DELETE_QUEUE = Operation(
    "Delete a queue",
    {200: Answer("Deleted", closed_object({"id": {"type": "string"}, "deleted": TRUE}))},
)
TOGGLE_QUEUE = Operation("Flip ENABLED/DISABLED", {200: Answer("The new status", _QUEUE_STATUS)})
ENABLE_QUEUE = Operation("Enable a queue", {200: Answer("The new status", _QUEUE_STATUS)})
DISABLE_QUEUE = Operation("Disable a queue", {200: Answer("The new status", _QUEUE_STATUS)})
_DEAD_LETTER = ref("DeadLetter")
LIST_DEAD_LETTERS = Operation(
    "A queue's dead letters, newest first: items whose task ended without finishing and "
    "without a retry left, and items no process could receive",
    {
        200: Answer(
            "A page of dead letters",
            array(_DEAD_LETTER),
            headers={
                "X-Next-Cursor": "The cursor of the next page, when there is one",
                "Link": 'The next page\'s URL, as `<...>; rel="next"`',
            },
        )
    },
    parameters=(
        _query(
            "limit",
            "Page size",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        ),
        _query("cursor", "X-Next-Cursor of the previous page", {"type": "integer", "minimum": 0}),
    ),
)
GET_DEAD_LETTER = Operation("Get a dead letter", {200: Answer("The dead letter", _DEAD_LETTER)})
RERUN_DEAD_LETTER = Operation(
    "Run a dead letter again: a new task of its queue with its data and the definition it "
    "ran with, fresh retries; it leaves the list (409 when no process can receive it)",
    {201: Answer("The new task record", _RECORD)},
)
RERUN_DEAD_LETTERS = Operation(
    "Run every dead letter of the queue again (those no process can receive stay)",
    {
        200: Answer(
            "What was run again, and what was refused and why",
            closed_object(
                {
                    "queue_id": {"type": "string"},
                    "rerun": array(
                        closed_object({"id": {"type": "string"}, "mesos_id": {"type": "string"}})
                    ),
                    "refused": array(
                        closed_object({"id": {"type": "string"}, "error": {"type": "string"}})
                    ),
                }
            ),
        )
    },
)
DISCARD_DEAD_LETTER = Operation(
    "Discard a dead letter for good",
    {200: Answer("Discarded", closed_object({"id": {"type": "string"}, "discarded": TRUE}))},
)
DISCARD_DEAD_LETTERS = Operation(
    "Discard every dead letter of the queue",
    {
        200: Answer(
            "How many were discarded",
            closed_object({"queue_id": {"type": "string"}, "discarded": {"type": "integer"}}),
        )
    },
)
LIST_QUEUE_TYPES = Operation(
    "Enabled queue types and their parameters",
    {200: Answer("The queue types", array(ref("QueueType")))},
    uses_store=False,
)

GET_STATUS = Operation(
    "The leader, its Mesos subscription, what it saw of offers, the task counts",
    {200: Answer("The status", ref("Status"))},
)

HEALTHZ = Operation(
    "The process is up",
    {200: Answer("Up", closed_object({"status": {"const": "ok"}}))},
    uses_store=False,
)
READYZ = Operation(
    "Redis is reachable", {200: Answer("Ready", closed_object({"status": {"const": "ready"}}))}
)
OPENAPI = Operation(
    "This document", {200: Answer("OpenAPI 3.1", {"type": "object"})}, uses_store=False
)
METRICS = Operation(
    "Prometheus metrics",
    {200: Answer("Prometheus text format", {"type": "string"}, media_type="text/plain")},
    uses_store=False,
)
UI = Operation(
    "The web UI",
    {200: Answer("The page", {"type": "string"}, media_type="text/html")},
    uses_store=False,
)
UI_ASSET = Operation(
    "A file of the web UI (its scripts and style sheet)",
    {
        200: Answer("The file", {"type": "string"}, media_type="text/javascript"),
        404: Answer("No such file"),
    },
    uses_store=False,
)
ROOT = Operation(
    "Redirect to the web UI",
    {307: Answer("To /ui/", headers={"Location": "/ui/"})},
    uses_store=False,
)
