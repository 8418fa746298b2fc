"""What the client commands print: aligned tables, record listings, error lines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

EMPTY = "-"
MESSAGE_WIDTH = 60


def format_tstamp(value: Any) -> str:
    """Unix seconds as UTC `YYYY-MM-DD HH:MM:SS`; 0 or missing as `-`."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return EMPTY
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value))


def one_line(value: Any, width: int = MESSAGE_WIDTH) -> str:
    """A value squeezed into one table cell: whitespace collapsed, cut with an ellipsis."""
    if value is None or value == "":
        return EMPTY
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart; the last one is not padded."""
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    lines = []
    for cells in [list(headers), *rows]:
        padded = [cell.ljust(width) for cell, width in zip(cells[:-1], widths, strict=False)]
        lines.append("  ".join([*padded, cells[-1]]).rstrip())
    return "\n".join(lines)


TASK_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("MESOS_ID", lambda t: one_line(t.get("mesos_id"), 200)),
    ("STATE", lambda t: one_line(t.get("mesos_state"))),
    ("AGENT", lambda t: one_line(t.get("agent_hostname"))),
    ("CREATED (UTC)", lambda t: format_tstamp(t.get("created_tstamp"))),
    ("MESSAGE", lambda t: one_line(task_message(t))),
]


def task_message(task: dict[str, Any]) -> Any:
    """What a task's row says: why it waits while it waits, else Mesos' last message."""
    if task.get("mesos_state") == "WAITING_ON_OFFERS" and task.get("pending_reason"):
        return task.get("pending_reason")
    return task.get("status_message")


def _queue_block(q: dict[str, Any]) -> dict[str, Any]:
    block = q.get("queue")
    return block if isinstance(block, dict) else {}


def _last_run(q: dict[str, Any]) -> str:
    stamp = _queue_block(q).get("last_run_tstamp")
    return format_tstamp(stamp) if stamp else "never"


QUEUE_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("ID", lambda q: one_line(q.get("id"), 200)),
    ("NAME", lambda q: one_line(_queue_block(q).get("name"), 30)),
    ("TYPE", lambda q: one_line(_queue_block(q).get("type"))),
    ("STATUS", lambda q: one_line(_queue_block(q).get("status"))),
    ("LAST RUN (UTC)", _last_run),
    ("LAST ERROR", lambda q: one_line(_queue_block(q).get("last_error"))),
]


def _default(param: dict[str, Any]) -> str:
    if "default" not in param or param.get("required"):
        return EMPTY
    return one_line(json.dumps(param["default"]), 30)


def queue_types(kinds: Sequence[dict[str, Any]]) -> str:
    """Each queue type: its name and label, then a table of its parameters."""
    blocks = []
    for kind in kinds:
        rows = [
            [
                one_line(p.get("name"), 200),
                one_line(p.get("type")),
                _default(p),
                "yes" if p.get("required") else "no",
                "yes" if p.get("secret") else "no",
                one_line(p.get("label"), 80),
            ]
            for p in kind.get("parameters") or []
        ]
        head = f"{kind.get('type')}: {kind.get('label')}"
        params = table(["PARAMETER", "TYPE", "DEFAULT", "REQUIRED", "SECRET", "LABEL"], rows)
        blocks.append(f"{head}\n{params}" if rows else f"{head}\n(no parameters)")
    return "\n\n".join(blocks)


def records_table(
    columns: list[tuple[str, Callable[[dict[str, Any]], str]]], records: Sequence[dict[str, Any]]
) -> str:
    return table(
        [name for name, _ in columns], [[cell(record) for _, cell in columns] for record in records]
    )


# What a user looks for first in a task record; the definition follows.
TASK_RECORD_ORDER = (
    "mesos_id",
    "id",
    "queue_id",
    "mesos_state",
    "pending_reason",
    "status_message",
    "status_reason",
    "agent_hostname",
    "agent_id",
    "created_tstamp",
    "started_tstamp",
    "updated_tstamp",
    "finished_tstamp",
    "task_retries_left",
    "system_retries_left",
    "previous_mesos_id",
    "kill_requested",
)


def record_listing(record: dict[str, Any], first: Sequence[str] = ()) -> str:
    """One `key  value` line per field (`first` ones leading): timestamps readable, nested
    values as compact JSON."""
    keys = [key for key in first if key in record] + [key for key in record if key not in first]
    width = max((len(key) for key in keys), default=0)
    lines = []
    for key in keys:
        value = record[key]
        if key.endswith("_tstamp") and isinstance(value, int | float):
            shown = f"{format_tstamp(value)} UTC" if value else EMPTY
        elif isinstance(value, dict | list):
            shown = json.dumps(value, separators=(", ", ": "))
        elif value is None or value == "":
            shown = EMPTY
        else:
            shown = str(value)
        lines.append(f"{key.ljust(width)}  {shown}")
    return "\n".join(lines)


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def task_history(found: dict[str, Any]) -> str:
    """`hippo tasks history`: the run's states, then its chain of runs (this one marked)."""
    states = table(
        ["TIME (UTC)", "STATE", "REASON", "MESSAGE"],
        [
            [
                format_tstamp(e.get("tstamp")),
                one_line(e.get("state")),
                one_line(e.get("reason")),
                one_line(e.get("message")),
            ]
            for e in found.get("history", [])
        ],
    )
    chain = table(
        ["", "ATTEMPT", "MESOS_ID", "STATE", "FINISHED (UTC)", "REASON"],
        [
            [
                "*" if r.get("mesos_id") == found.get("mesos_id") else "",
                str(r.get("attempt", EMPTY)),
                one_line(r.get("mesos_id"), 200),
                one_line(r.get("mesos_state")),
                format_tstamp(r.get("finished_tstamp")),
                one_line(r.get("status_reason")),
            ]
            for r in found.get("runs", [])
        ],
    )
    return f"{states}\n\nruns:\n{chain}"


def status_listing(status: dict[str, Any]) -> str:
    """GET /status/ as `key  value` lines, the leader first."""
    leader = status.get("leader")
    flat: dict[str, Any] = {
        "leader": f"{leader.get('worker_id')} (epoch {leader.get('epoch')})"
        if leader
        else "none: no worker leads",
        "leader_since": leader.get("since") if leader else None,
    }
    flat.update({k: v for k, v in status.items() if k != "leader"})
    for key in ("leader_since", "subscribed_since"):  # times, as *_tstamp fields are shown
        if isinstance(flat.get(key), int | float):
            flat[key] = f"{format_tstamp(flat[key])} UTC"
    return record_listing(flat)
