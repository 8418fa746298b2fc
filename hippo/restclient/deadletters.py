"""`hippo deadletters …`: a queue's dead letters (items whose task spent its retries, or
that no process could receive), listed, shown, run again and discarded over the API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from hippo.restclient import output
from hippo.restclient.http import HippoClient, LocalInputError

Register = Callable[..., argparse.ArgumentParser]

DEAD_LETTER_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("ID", lambda d: output.one_line(d.get("id"), 200)),
    ("CAUSE", lambda d: output.one_line(d.get("cause"))),
    ("RUNS", lambda d: str(len(d.get("runs") or []))),
    ("DEAD SINCE (UTC)", lambda d: output.format_tstamp(d.get("dead_tstamp"))),
    ("LAST STATE", lambda d: output.one_line(d.get("mesos_state"))),
    ("DATA", lambda d: output.one_line(d.get("data"), 30)),
    ("REASON", lambda d: output.one_line(d.get("status_message") or d.get("status_reason"))),
]
DEAD_LETTER_ORDER = (
    "id",
    "queue_id",
    "cause",
    "mesos_state",
    "status_reason",
    "status_message",
    "dead_tstamp",
    "data",
    "data_base64",
)


def _target(args: argparse.Namespace) -> str | None:
    """The one dead letter named, or None for --all; exactly one of the two."""
    if bool(args.id) == bool(args.all):
        raise LocalInputError(f"deadletters {args.deadletters_command}: give an ID or --all")
    return str(args.id) if args.id else None


def dead_letters_list(client: HippoClient, args: argparse.Namespace) -> str:
    found: list[dict[str, Any]] = []
    cursor = args.cursor
    while True:
        page = client.list_dead_letters(args.queue_id, limit=args.limit, cursor=cursor)
        found.extend(page.records)
        cursor = page.next_cursor
        if not (args.all and cursor):
            break
    if args.json:
        return output.as_json(found)
    if cursor and not args.all:
        print(f"hippo: more dead letters: add --cursor {cursor} or --all", file=sys.stderr)
    return output.records_table(DEAD_LETTER_COLUMNS, found)


def dead_letters_show(client: HippoClient, args: argparse.Namespace) -> str:
    found = client.get_dead_letter(args.queue_id, args.id)
    return output.as_json(found) if args.json else output.record_listing(found, DEAD_LETTER_ORDER)


def dead_letters_rerun(client: HippoClient, args: argparse.Namespace) -> str:
    one = _target(args)
    answer = client.rerun_dead_letters(args.queue_id, one)
    if args.json:
        return output.as_json(answer)
    if one:
        return f"running {one} again as {answer.get('mesos_id')}"
    lines = [f"running {len(answer['rerun'])} dead letters again"]
    lines += [f"not run: {r['id']}: {r['error']}" for r in answer["refused"]]
    return "\n".join(lines)


def dead_letters_discard(client: HippoClient, args: argparse.Namespace) -> str:
    one = _target(args)
    answer = client.discard_dead_letters(args.queue_id, one)
    if args.json:
        return output.as_json(answer)
    return f"discarded {one}" if one else f"discarded {answer.get('discarded')} dead letters"


def register(group: argparse._SubParsersAction, leaf: Register) -> None:  # type: ignore[type-arg]
    """The `deadletters` actions, on a group made by commands._group; `leaf` is
    commands._leaf."""
    p = leaf(group, "list", dead_letters_list, "a queue's dead letters, newest first")
    p.add_argument("queue_id")
    p.add_argument("--limit", type=int, help="per page (API default 100, at most 1000)")
    p.add_argument("--cursor", help="start at this cursor (from a previous page)")
    p.add_argument("--all", action="store_true", help="follow the cursor to the last page")
    p = leaf(group, "show", dead_letters_show, "one dead letter: data, runs, last reason")
    p.add_argument("queue_id")
    p.add_argument("id")
    for name, command, help_text in (
        ("rerun", dead_letters_rerun, "run a dead letter (or --all) again as a new task"),
        ("discard", dead_letters_discard, "drop a dead letter (or --all) for good"),
    ):
        p = leaf(group, name, command, help_text)
        p.add_argument("queue_id")
        p.add_argument("id", nargs="?", help="the dead letter's id")
        p.add_argument("--all", action="store_true", help="every dead letter of the queue")
