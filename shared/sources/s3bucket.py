"""AWS S3: each new key of a bucket (or of `bucket/prefix`) becomes HIPPO_DATA.

Keys are taken in (last-modified, key) order after the watermark, which is the last
taken key's time plus every key taken at that time, so keys sharing one timestamp are
neither lost nor repeated. Keys ending in `/` (folder markers) are skipped. The
idempotency key is `key@last-modified`: an overwritten object is new work.
Each poll lists the whole bucket or prefix (S3 lists in key order, not by time).
"""

from __future__ import annotations

from typing import Any

from hippo.shared.sources.aws import AWS_PARAMS, AwsClients, aws_error
from hippo.shared.sources.base import Fetched, Item, Param, PollRequest, Source


def _check_bucket(value: str) -> None:
    if not value.split("/", 1)[0]:
        raise ValueError("must name a bucket, optionally followed by /prefix")


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


class S3BucketSource(Source):
    namespace = "s3bucket"
    label = "AWS S3"
    params = (
        *AWS_PARAMS,
        Param("bucket_name", label="Bucket, or bucket/prefix", check=_check_bucket),
        Param(
            "earliest_unix_tstamp",
            type="int",
            default=0,
            label="Ignore keys modified before this unix time",
        ),
    )

    def __init__(self) -> None:
        self._clients = AwsClients()

    def fetch(self, request: PollRequest) -> Fetched:
        settings = request.settings
        bucket, _, prefix = settings["bucket_name"].partition("/")
        client = self._clients.get("s3", settings)
        objects: list[tuple[float, str]] = []
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for obj in page.get("Contents", []):
                    objects.append((obj["LastModified"].timestamp(), obj["Key"]))
        except Exception as e:
            raise aws_error(f"s3 bucket {settings['bucket_name']!r}", e) from e
        watermark = request.watermark
        if isinstance(watermark, dict) and watermark.get("scope") != _scope(settings):
            watermark = None  # the bucket or earliest time changed: start again
        taken, new_watermark = new_keys(
            objects, watermark, settings["earliest_unix_tstamp"], request.limit
        )
        if new_watermark is not None:
            new_watermark["scope"] = _scope(settings)
        return Fetched(
            items=[Item(data=key, key=f"{key}@{mtime:.6f}") for mtime, key in taken],
            watermark=new_watermark,
        )

    def close(self) -> None:
        self._clients.clear()


def _scope(settings: Any) -> str:
    return f"{settings['bucket_name']}@{settings['earliest_unix_tstamp']}"
