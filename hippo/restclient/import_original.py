"""`hippo import-original`: an original Hippo's queues, read from its Redis, created here
through the API, disabled until an operator enables them.

Each queue keeps its id. One whose id exists here is skipped (never overwritten); one the
API refuses is reported with its field errors, and the others are still imported. With
`--dry-run` nothing is written: each queue is checked here (the API's own model) and the
outcome it would have is printed. Secrets are sent to the API, which encrypts them with
HIPPO_SECRET_KEYS; nothing printed holds one (docs/migrating.md).
"""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hippo.restclient.http import ApiError, ClientError, HippoClient, LocalInputError, Unreachable
from hippo.restclient.original_store import (
    OriginalQueue,
    original_aes_key,
    read_original_queues,
)
from hippo.shared import original
from hippo.shared.errors import ValidationFailed
from hippo.shared.secrets import mask_url_password
from hippo.shared.sources.base import Source

KEY_VARIABLE = "AES_CIPHER_KEY"  # the original's own setting, so its env can be reused


def as_definition(stored: Mapping[str, Any], queue_id: str) -> dict[str, Any]:
    """The body to create for one of the original's stored queues: its id (from the record,
    else its key), disabled, its type in lower case (the original matched types in any
    case), without the fields only the original's poller wrote. An s3bucket queue starts
    after the last key the original took (its `last_s3key_processed_tstamp`, in whole
    seconds as S3 times are), so no key is run twice."""
    body = copy.deepcopy(dict(stored))
    body["id"] = body.get("id") or queue_id
    for name in original.QUEUE_RECORD_FIELDS:
        body.pop(name, None)
    block = body.get("queue")
    if not isinstance(block, dict):
        return body  # the API names what is missing
    if isinstance(block.get("type"), str):
        block["type"] = block["type"].lower()
    last_taken = block.get("last_s3key_processed_tstamp")
    settings = block.get("s3bucket")
    if block.get("type") == "s3bucket" and isinstance(settings, dict):
        if isinstance(last_taken, int | float) and not isinstance(last_taken, bool):
            settings["earliest_unix_tstamp"] = str(int(last_taken) + 1)
    for name in original.QUEUE_BLOCK_RECORD_FIELDS:
        block.pop(name, None)
    block["status"] = "DISABLED"
    return body


def _label(body: Mapping[str, Any]) -> str:
    block = body.get("queue") if isinstance(body.get("queue"), dict) else {}
    assert isinstance(block, dict)
    return f"({block.get('type', '?')} {str(block.get('name', ''))!r})"


def _aes_key(args: argparse.Namespace) -> bytes | None:
    if args.key_file:
        try:
            secret = Path(args.key_file).read_text().strip("\r\n")
        except OSError as e:
            raise LocalInputError(f"cannot read {args.key_file}: {e.strerror or e}") from e
        return original_aes_key(secret)
    from_env = os.environ.get(KEY_VARIABLE)
    return original_aes_key(from_env) if from_env else None


def _read(args: argparse.Namespace) -> list[OriginalQueue]:
    import redis

    try:
        client = redis.Redis.from_url(args.original_redis, socket_timeout=30)
    except ValueError as e:
        raise LocalInputError(f"--original-redis: {e}") from None
    try:
        return read_original_queues(client, _aes_key(args))
    except redis.RedisError as e:
        shown = mask_url_password(args.original_redis)
        raise Unreachable(f"cannot read the original's Redis at {shown}: {e}") from e
    finally:
        client.close()


def _enabled_sources(client: HippoClient) -> dict[str, type[Source]]:
    """The installed sources this API has enabled: what a dry run validates against."""
    from hippo.shared.sources import load_sources

    enabled = {kind["type"] for kind in client.list_queue_types()}
    return {name: source for name, source in load_sources().items() if name in enabled}


def _one(
    client: HippoClient, body: dict[str, Any], dry_run: bool, sources: dict[str, type[Source]]
) -> tuple[str, list[str]]:
    """(outcome, detail lines) of one queue: created, would create, exists, refused."""
    from hippo.shared.model import parse_queue

    queue_id = str(body["id"])
    if dry_run:
        try:
            client.get_queue(queue_id)
            return "exists", ["a queue with this id exists here: it would be skipped"]
        except ApiError as e:
            if e.status_code != 404:
                raise
        try:
            parse_queue(body, sources)
        except ValidationFailed as e:
            return "refused", [f"{error.field}: {error.message}" for error in e.errors]
        return "would create", []
    try:
        client.create_queue(body)
    except ApiError as e:
        if e.status_code == 409:
            return "exists", ["a queue with this id exists here: skipped"]
        if e.status_code in (400, 422):
            details = [f"{field}: {message}" for field, message in e.field_errors]
            return "refused", details or [e.message]
        raise
    return "created", []


def import_original(client: HippoClient, args: argparse.Namespace) -> tuple[str, bool]:
    """The report to print, and whether every queue was imported or skipped."""
    found = _read(args)
    sources = _enabled_sources(client) if args.dry_run else {}
    lines = []
    counts: dict[str, int] = {}
    for queue in found:
        if queue.definition is None:
            outcome, label, details = "unreadable", "", [queue.problem]
            queue_id = queue.queue_id
        else:
            body = as_definition(queue.definition, queue.queue_id)
            queue_id, label = str(body["id"]), _label(body)
            outcome, details = _one(client, body, args.dry_run, sources)
        counts[outcome] = counts.get(outcome, 0) + 1
        lines.append(f"{outcome:<12}  {queue_id}  {label}".rstrip())
        lines += [f"    {line}" for line in details]
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items()) or "none"
    lines.append(f"{len(found)} queues in the original: {summary}")
    if args.dry_run:
        lines.append("dry run: nothing was written; queues are created DISABLED")
    elif counts.get("created"):
        lines.append("created queues are DISABLED: enable each with hippo queues toggle ID")
    return "\n".join(lines), not (counts.get("refused") or counts.get("unreadable"))


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help_text = "create an original Hippo's queues here, disabled (from its Redis)"
    parser = subparsers.add_parser(
        "import-original",
        help=help_text,
        description=help_text + f". The original's AES key: env {KEY_VARIABLE} or --key-file.",
    )
    parser.add_argument(
        "--original-redis",
        required=True,
        metavar="URL",
        help="the original's Redis, e.g. redis://:password@old-host:6379/0",
    )
    parser.add_argument(
        "--key-file",
        help=f"file holding the original's AES_CIPHER_KEY (default: env {KEY_VARIABLE})",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be done, write nothing"
    )
    parser.add_argument("--url", help="this Hippo's API address (env HIPPO_URL)")
    parser.add_argument("--token", help="bearer token of this Hippo (env HIPPO_TOKEN)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from hippo.restclient.commands import _client, _report

    try:
        with _client(args) as client:
            text, complete = import_original(client, args)
    except ClientError as error:
        _report(error)
        return error.exit_code
    print(text, flush=True)
    return 0 if complete else 1
