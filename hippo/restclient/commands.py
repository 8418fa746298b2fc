"""The client subcommands: parse flags, call the API, print a table, a listing or JSON.

Exit codes: 0 done; 1 the server refused (4xx/5xx, printed with every field error);
2 the server could not be reached, or a flag or input file was bad.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hippo.restclient import deadletters, import_original, output
from hippo.restclient.http import (
    DEFAULT_URL,
    ApiError,
    ClientError,
    HippoClient,
    LocalInputError,
)
from hippo.shared.records import TERMINAL_STATES

PAGE_SIZE = 100  # tasks per page when --limit is not given

Command = Callable[[HippoClient, argparse.Namespace], str | None]
FOLLOW_EVERY_S = 1.0  # `tasks logs --follow` asks for more this often


def _connection_flags(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """--url, --token and --json, on `hippo` itself (`top`), a group and each action, so
    they may come anywhere: `hippo --url X tasks list`, `hippo tasks --url X list`,
    `hippo tasks list --url X`. Below the top their defaults are SUPPRESS, so a value
    given higher up is kept (argparse copies a subcommand's defaults over it)."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--url", default=default, help=f"Hippo API address (env HIPPO_URL, default {DEFAULT_URL})"
    )
    parser.add_argument("--token", default=default, help="bearer token (env HIPPO_TOKEN)")
    parser.add_argument(
        "--json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="print the API's JSON instead of a table",
    )


def add_top_flags(parser: argparse.ArgumentParser) -> None:
    """The client's flags on `hippo` itself (hippo/cli.py)."""
    _connection_flags(parser, top=True)


def _client(args: argparse.Namespace) -> HippoClient:
    url = getattr(args, "url", None) or os.environ.get("HIPPO_URL") or DEFAULT_URL
    token = getattr(args, "token", None) or os.environ.get("HIPPO_TOKEN") or None
    return HippoClient(url, token)


def _report(error: ClientError) -> None:
    print(f"hippo: {error}", file=sys.stderr)
    if isinstance(error, ApiError):
        for field, message in error.field_errors:
            print(f"  {field}: {message}", file=sys.stderr)


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        args.json = getattr(args, "json", False)
        try:
            with _client(args) as client:
                text = command(client, args)
        except ClientError as error:
            _report(error)
            return error.exit_code
        try:
            if text:
                print(text, flush=True)
        except BrokenPipeError:
            # `hippo tasks list | head`: the reader left; say nothing more.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

    return run


def _leaf(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    command: Command,
    help_text: str,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=help_text
    )
    _connection_flags(parser)
    parser.set_defaults(run=_runner(command))
    return parser


def read_json_file(path: str) -> dict[str, Any]:
    """A JSON object from a file, or from standard input for `-`."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as e:
        raise LocalInputError(f"cannot read {path}: {e.strerror or e}") from e
    try:
        body = json.loads(text)
    except ValueError as e:
        raise LocalInputError(f"{path} is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise LocalInputError(f"{path} must hold a JSON object, got {type(body).__name__}")
    return body


def parse_env_pairs(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise LocalInputError(f"--env takes NAME=VALUE, got {pair!r}")
        env[name] = value
    return env


def task_body(args: argparse.Namespace) -> dict[str, Any]:
    """The one-off task to post: the -f file if any, then each flag given on top of it."""
    body = read_json_file(args.file) if args.file else {}
    if args.image is not None:
        container = body.setdefault("container", {})
        container.setdefault("docker", {})["image"] = args.image
    for flag, key in (
        ("cmd", "cmd"),
        ("cpus", "cpus"),
        ("mem", "mem"),
        ("id", "id"),
        ("retries", "task_retries"),
        ("max_concurrent", "max_concurrent"),
        ("retry_delay", "retry_delay_seconds"),
        ("retry_backoff", "retry_backoff_factor"),
        ("retry_max_delay", "retry_max_delay_seconds"),
        ("max_runtime", "max_runtime_seconds"),
        ("max_pending", "max_pending_seconds"),
        ("callback_url", "callback_url"),
        ("callback_secret", "callback_secret"),
    ):
        value = getattr(args, flag)
        if value is not None:
            body[key] = value
    if args.env:
        body["env"] = {**body.get("env", {}), **parse_env_pairs(args.env)}
    if not args.file:
        body.setdefault("cpus", 0.1)
        body.setdefault("mem", 32)
    if "container" not in body or "cmd" not in body:
        raise LocalInputError("tasks run needs --image and --cmd, or -f FILE.json")
    return body


# tasks


def tasks_list(client: HippoClient, args: argparse.Namespace) -> str:
    records: list[dict[str, Any]] = []
    cursor = args.cursor
    while True:
        page = client.list_tasks(
            state=args.state,
            task_id=args.id,
            queue_id=args.queue,
            # Always paged: without limit the API answers its long unpaged list.
            limit=args.limit or PAGE_SIZE,
            cursor=cursor,
        )
        records.extend(page.records)
        cursor = page.next_cursor
        if not (args.all and cursor):
            break
    if args.json:
        return output.as_json(records)
    if cursor and not args.all:
        print(f"hippo: more tasks: add --cursor {cursor} or --all", file=sys.stderr)
    return output.records_table(output.TASK_COLUMNS, records)


def tasks_show(client: HippoClient, args: argparse.Namespace) -> str:
    record = client.get_task(args.mesos_id)
    return (
        output.as_json(record)
        if args.json
        else output.record_listing(record, first=output.TASK_RECORD_ORDER)
    )


def tasks_history(client: HippoClient, args: argparse.Namespace) -> str:
    found = client.task_history(args.mesos_id)
    if args.json:
        return output.as_json(found)
    return output.task_history(found)


def tasks_logs(client: HippoClient, args: argparse.Namespace) -> None:
    """Print a task's stdout (or stderr) as it is; with --follow, keep printing what it
    adds until the task has ended and everything is printed."""
    name = "stderr" if args.stderr else "stdout"
    offset, told_waiting = 0, False
    while True:
        try:
            piece = client.read_log(args.mesos_id, name, offset)
        except ApiError as e:
            # 409: not launched yet; 404: launched, its sandbox file not made yet (or
            # gone: then the task has ended, and the check below ends the loop).
            if not (args.follow and e.status_code in (404, 409)):
                raise
            if e.status_code == 409 and not told_waiting:
                print(f"hippo: {e.message}; waiting for it to launch", file=sys.stderr)
                told_waiting = True
            piece = {"data": "", "next_offset": offset}
        sys.stdout.write(piece["data"])
        sys.stdout.flush()
        offset = int(piece["next_offset"])
        if piece["data"] and (piece.get("size") is None or offset < piece["size"]):
            continue  # more is there already
        if not args.follow:
            return None
        state = client.get_task(args.mesos_id).get("mesos_state")
        if state in TERMINAL_STATES:
            try:
                last = client.read_log(args.mesos_id, name, offset)  # what it printed last
            except ApiError as e:
                if e.status_code != 404:
                    raise
                return None  # ended before its sandbox file was made: nothing to print
            sys.stdout.write(last["data"])
            if not last["data"]:
                return None
            offset = int(last["next_offset"])
            continue
        time.sleep(FOLLOW_EVERY_S)


def status_show(client: HippoClient, args: argparse.Namespace) -> str:
    answer = client.status()
    return output.as_json(answer) if args.json else output.status_listing(answer)


def tasks_run(client: HippoClient, args: argparse.Namespace) -> str:
    record, created = client.create_task(task_body(args), args.idempotency_key)
    if args.json:
        return output.as_json(record)
    verb = "created" if created else "already created with this idempotency key:"
    return f"{verb} {record.get('mesos_id')} ({record.get('mesos_state')})"


def tasks_kill(client: HippoClient, args: argparse.Namespace) -> str:
    record, killed_now = client.kill_task(args.mesos_id)
    if args.json:
        return output.as_json(record)
    if killed_now:
        return f"killed {args.mesos_id} ({record.get('mesos_state')})"
    return f"kill requested for {args.mesos_id}: the leader sends it to Mesos"


def tasks_delete(client: HippoClient, args: argparse.Namespace) -> str:
    answer = client.delete_task(args.mesos_id)
    return output.as_json(answer) if args.json else f"deleted task {args.mesos_id}"


# queues


def queues_list(client: HippoClient, args: argparse.Namespace) -> str:
    queues = client.list_queues()
    return (
        output.as_json(queues) if args.json else output.records_table(output.QUEUE_COLUMNS, queues)
    )


def queues_show(client: HippoClient, args: argparse.Namespace) -> str:
    queue = client.get_queue(args.queue_id)
    return output.as_json(queue) if args.json else output.record_listing(queue)


def queues_create(client: HippoClient, args: argparse.Namespace) -> str:
    queue = client.create_queue(read_json_file(args.file))
    return output.as_json(queue) if args.json else f"created queue {queue.get('id')}"


def queues_update(client: HippoClient, args: argparse.Namespace) -> str:
    body = read_json_file(args.file)
    queue_id = args.queue_id or body.get("id")
    if not isinstance(queue_id, str) or not queue_id:
        raise LocalInputError('queues update needs a QUEUE_ID, or an "id" in the file')
    queue = client.replace_queue(queue_id, body)
    return output.as_json(queue) if args.json else f"updated queue {queue.get('id')}"


def queues_toggle(client: HippoClient, args: argparse.Namespace) -> str:
    answer = client.toggle_queue(args.queue_id)
    if args.json:
        return output.as_json(answer)
    return f"queue {answer.get('id')} is now {answer.get('status')}"


def queues_delete(client: HippoClient, args: argparse.Namespace) -> str:
    answer = client.delete_queue(args.queue_id)
    return output.as_json(answer) if args.json else f"deleted queue {args.queue_id}"


def queue_types(client: HippoClient, args: argparse.Namespace) -> str:
    kinds = client.list_queue_types()
    return output.as_json(kinds) if args.json else output.queue_types(kinds)


def _group(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    help_text: str,
) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=help_text
    )
    _connection_flags(parser)

    def list_actions(args: argparse.Namespace) -> int:
        # `hippo tasks` alone: what it can do, rather than "ACTION is required".
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(run=list_actions)
    return parser.add_subparsers(dest=f"{name}_command", metavar="ACTION", title="actions")


def _register_tasks(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    tasks = _group(
        subparsers, "tasks", "list, show, run, kill and delete tasks, and print their output"
    )
    p = _leaf(tasks, "list", tasks_list, "recent tasks, newest first, as a table")
    p.add_argument("--state", help="only this state, e.g. TASK_RUNNING or WAITING_ON_OFFERS")
    p.add_argument("--id", help="only runs of this task id")
    p.add_argument("--queue", help="only tasks made by this queue id")
    p.add_argument("--limit", type=int, help="tasks per page (default 100, at most 1000)")
    p.add_argument("--cursor", help="start at this cursor (from a previous page)")
    p.add_argument("--all", action="store_true", help="follow the cursor to the last page")

    p = _leaf(tasks, "show", tasks_show, "one task record")
    p.add_argument("mesos_id")

    p = _leaf(tasks, "history", tasks_history, "a task run's states and its chain of retries")
    p.add_argument("mesos_id")

    p = _leaf(tasks, "run", tasks_run, "run a one-off task from flags or a JSON file")
    p.add_argument("-f", "--file", help="task definition JSON (`-` for stdin); flags override it")
    p.add_argument("--image", help="Docker image")
    p.add_argument("--cmd", help="command to run in the container")
    p.add_argument("--cpus", type=float, help="CPUs (default 0.1 without -f)")
    p.add_argument("--mem", type=float, help="memory in MB (default 32 without -f)")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment variable; repeat for more",
    )
    p.add_argument("--id", help="task id (runs are <id>.<uuid>)")
    p.add_argument("--retries", type=int, help="task_retries: reruns after a failure")
    p.add_argument(
        "--max-concurrent", type=int, dest="max_concurrent", help="runs of this task id at once"
    )
    for flag, field, help_text in (
        ("--retry-delay", "retry_delay", "retry_delay_seconds: wait before the first retry"),
        ("--retry-backoff", "retry_backoff", "retry_backoff_factor: each retry waits x this"),
        ("--retry-max-delay", "retry_max_delay", "retry_max_delay_seconds: the longest wait"),
        ("--max-runtime", "max_runtime", "max_runtime_seconds: kill a run after this long"),
        ("--max-pending", "max_pending", "max_pending_seconds: fail a run no offer took by then"),
    ):
        p.add_argument(flag, type=float, dest=field, help=help_text)
    p.add_argument(
        "--callback-url",
        dest="callback_url",
        help="POST each run's end here as JSON (signed with --callback-secret)",
    )
    p.add_argument(
        "--callback-secret",
        dest="callback_secret",
        help="HMAC-SHA256 key of the X-Hippo-Signature header (stored encrypted)",
    )
    p.add_argument(
        "--idempotency-key",
        dest="idempotency_key",
        help="the same key again returns the first task instead of a new one",
    )

    p = _leaf(tasks, "logs", tasks_logs, "print a task's stdout (or stderr) from its sandbox")
    p.add_argument("mesos_id")
    p.add_argument("--stderr", action="store_true", help="print stderr instead of stdout")
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing what the task adds until it ends",
    )

    for name, command, help_text in (
        ("kill", tasks_kill, "kill a task (a waiting one at once, else through the leader)"),
        ("delete", tasks_delete, "delete a finished task's record"),
    ):
        _leaf(tasks, name, command, help_text).add_argument("mesos_id")


def _register_queues(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    queues = _group(subparsers, "queues", "list, show, create, update, toggle and delete queues")
    _leaf(queues, "list", queues_list, "every queue, as a table")
    _leaf(queues, "show", queues_show, "one queue (secrets masked)").add_argument("queue_id")
    p = _leaf(queues, "create", queues_create, "create a queue from a JSON file")
    p.add_argument("-f", "--file", required=True, help="queue definition JSON (`-` for stdin)")
    p = _leaf(queues, "update", queues_update, "replace a queue's definition from a JSON file")
    p.add_argument("queue_id", nargs="?", help='queue id (default: the file\'s "id")')
    p.add_argument("-f", "--file", required=True, help="queue definition JSON (`-` for stdin)")
    for name, command, help_text in (
        ("toggle", queues_toggle, "flip a queue between ENABLED and DISABLED"),
        ("delete", queues_delete, "delete a queue"),
    ):
        _leaf(queues, name, command, help_text).add_argument("queue_id")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    _register_tasks(subparsers)
    _register_queues(subparsers)
    deadletters.register(
        _group(subparsers, "deadletters", "list, show, run again and discard dead letters"), _leaf
    )
    status = subparsers.add_parser(
        "status",
        help="the leader, its Mesos subscription and the task counts",
        description="The leader, its Mesos subscription, what it saw of offers, the task "
        "counts and the last error from Mesos (GET /status/).",
    )
    _connection_flags(status)
    status.set_defaults(run=_runner(status_show))
    import_original.register(subparsers)
    kinds = subparsers.add_parser(
        "queuetypes",
        help="queue source types and their parameters",
        description="The queue source types the API has enabled, each with its label and "
        "parameters: type, default, whether required or secret, and what it is "
        "(GET /queuetypes/).",
    )
    _connection_flags(kinds)
    kinds.set_defaults(run=_runner(queue_types))
