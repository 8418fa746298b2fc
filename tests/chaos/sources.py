"""One source of each type for the fault runs, fed item by item: `Feed.put(n)` adds the
n-th item to the source and returns its HIPPO_DATA (None for cron, whose items are the
fire times it makes by itself). The backends are the source tests' own
(tests/sources/conftest.py): our Redis, moto's server, PostgreSQL, MariaDB."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis

from tests.sources.conftest import MYSQL_URL, POSTGRES_URL, aws_settings, boto_client

SOURCE_KINDS = ("redis", "sqs", "s3bucket", "sqlquery-postgresql", "sqlquery-mysql", "cron")


@dataclass
class Feed:
    queue_type: str
    settings: dict[str, Any]
    put: Callable[[int], str | None]
    close: Callable[[], None] = lambda: None
    block: dict[str, Any] = field(default_factory=dict)  # extra `queue` block fields
    kind: str = ""  # one of SOURCE_KINDS (the feed fixture sets it)


def redis_feed(url: str) -> Feed:
    """A list in database 1 of the tests' own Redis (not a rig's: it outlives none)."""
    parts = urlsplit(url)
    settings = {
        "host": parts.hostname,
        "port": parts.port,
        "db": 1,
        "name": f"chaos-{uuid.uuid4().hex[:8]}",
    }
    client = redis.Redis(host=parts.hostname or "127.0.0.1", port=parts.port or 6379, db=1)

    def put(n: int) -> str:
        client.lpush(settings["name"], f"r-{n}")
        return f"r-{n}"

    def close() -> None:
        client.delete(settings["name"])
        client.close()

    return Feed("redis", settings, put, close)


def sqs_feed(endpoint: str) -> Feed:
    sqs = boto_client("sqs", endpoint)
    name = f"chaos-{uuid.uuid4().hex[:8]}"
    # Short, so that what a killed poll took comes back soon.
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "2"})["QueueUrl"]

    def put(n: int) -> str:
        sqs.send_message(QueueUrl=url, MessageBody=f"m-{n}")
        return f"m-{n}"

    def close() -> None:
        sqs.delete_queue(QueueUrl=url)
        sqs.close()

    return Feed("sqs", {**aws_settings(endpoint), "queuename": name}, put, close)


def s3_feed(endpoint: str) -> Feed:
    s3 = boto_client("s3", endpoint)
    bucket = f"chaos-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)

    def put(n: int) -> str:
        s3.put_object(Bucket=bucket, Key=f"k-{n}", Body=b"x")
        return f"k-{n}"

    return Feed("s3bucket", {**aws_settings(endpoint), "bucket_name": bucket}, put, s3.close)


def sql_feed(conn: Any, dialect: str) -> Feed:
    table = f"hippo_chaos_{uuid.uuid4().hex[:10]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INTEGER)")

    def put(n: int) -> str:
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (%s)", (n,))
        return json.dumps([n])  # a row is one item: its values as a JSON list

    def close() -> None:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")

    url = POSTGRES_URL if dialect == "postgresql" else MYSQL_URL
    settings = {"conn_string": url, "query": f"SELECT id FROM {table}", "filter_field": "id"}
    return Feed("sqlquery", settings, put, close)


def cron_feed() -> Feed:
    # Every second (croniter's 6th field); a backlog long enough for any pause here.
    return Feed("cron", {"cronstring": "* * * * * *", "maxbacklog": 600}, lambda n: None)
