"""AWS S3: each new key of a bucket (or of `bucket/prefix`) becomes HIPPO_DATA.

Keys are taken in (last-modified, key) order after the watermark, which is the last
taken key's time plus every key taken at that time, so keys sharing one timestamp are
neither lost nor repeated. Keys ending in `/` (folder markers) are skipped. The
idempotency key is `key@last-modified`: an overwritten object is new work.
Each poll lists the whole bucket or prefix (S3 lists in key order, not by time).
"""

from __future__ import annotations

import re
from concurrent.futures import Executor
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from hippo.shared.sources.aws import AwsClients, AwsSettings, aws_error
from hippo.shared.sources.base import BlockingSource, Fetched, Item, PollRequest
from hippo.shared.sources.settings import Text


def _names_a_bucket(value: str) -> str:
    if not value.split("/", 1)[0]:
        raise ValueError("must name a bucket, optionally followed by /prefix")
    return value


def _unix_time_or_empty(value: str) -> str:
    if value != "" and not _UNIX_TIME.fullmatch(value):
        raise ValueError("must be a unix time in seconds (digits, optionally a fraction) or empty")
    return value


# The original Hippo took earliest_unix_tstamp as text: '' (no limit) or a number.
_UNIX_TIME = re.compile(r"[0-9]+(\.[0-9]+)?")


def earliest_s(settings: S3BucketSettings) -> float:
    """earliest_unix_tstamp as seconds: 0 when empty."""
    return float(settings.earliest_unix_tstamp or 0)


def new_keys(
    objects: list[tuple[float, str]], watermark: Any, earliest: float, limit: int
) -> tuple[list[tuple[float, str]], dict[str, Any] | None]:
    """The (mtime, key) pairs to take, oldest first, and the watermark after them."""
    after, seen = earliest, set()
    if isinstance(watermark, dict):
        after, seen = float(watermark["mtime"]), set(watermark["keys"])
    fresh = sorted(
        (m, k)
        for m, k in objects
        if not k.endswith("/") and m >= earliest and (m > after or (m == after and k not in seen))
    )
    taken = fresh[:limit]
    if not taken:
        return [], None
    last = taken[-1][0]
    keys = [k for m, k in taken if m == last] + (sorted(seen) if last == after else [])
    return taken, {"mtime": last, "keys": sorted(set(keys))}


class S3BucketSettings(AwsSettings):
    bucket_name: Annotated[
        Text,
        Field(
            title="Bucket, or bucket/prefix",
            description="Each new object key under it is one item.",
        ),
        AfterValidator(_names_a_bucket),
    ]
    # Text, as in the original Hippo: '' (the default) or a unix time; a JSON number is
    # taken as its text. Read it with earliest_s().
    earliest_unix_tstamp: Annotated[
        Text,
        Field(title="Ignore keys modified before this unix time", description="Empty: every key."),
        AfterValidator(_unix_time_or_empty),
    ] = ""


class S3BucketSource(BlockingSource):
    namespace = "s3bucket"
    label = "AWS S3"
    settings_model = S3BucketSettings

    def __init__(self, executor: Executor | None = None) -> None:
        super().__init__(executor)
        self._clients = AwsClients()

    def fetch_blocking(self, request: PollRequest[S3BucketSettings]) -> Fetched:
        settings = request.settings
        bucket, _, prefix = settings.bucket_name.partition("/")
        client = self._clients.get("s3", settings)
        objects: list[tuple[float, str]] = []
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for obj in page.get("Contents", []):
                    objects.append((obj["LastModified"].timestamp(), obj["Key"]))
        except Exception as e:
            raise aws_error(f"s3 bucket {settings.bucket_name!r}", e) from e
        watermark = request.watermark
        if isinstance(watermark, dict) and watermark.get("scope") != _scope(settings):
            watermark = None  # the bucket or earliest time changed: start again
        taken, new_watermark = new_keys(objects, watermark, earliest_s(settings), request.limit)
        if new_watermark is not None:
            new_watermark["scope"] = _scope(settings)
        return Fetched(
            items=[Item(data=key, key=f"{key}@{mtime:.6f}") for mtime, key in taken],
            watermark=new_watermark,
        )

    def close_blocking(self) -> None:
        self._clients.clear()


def _scope(settings: S3BucketSettings) -> str:
    # Written as the integer it was before the parameter became text (`bucket@0`), so a
    # stored watermark's scope still matches.
    earliest = earliest_s(settings)
    shown = str(int(earliest)) if earliest.is_integer() else repr(earliest)
    return f"{settings.bucket_name}@{shown}"
