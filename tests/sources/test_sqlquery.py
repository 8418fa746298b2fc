"""SQL queues on the local PostgreSQL and MariaDB: rows after the watermark, once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from hippo.shared.sources.base import Fetched, PollRequest, SourceError
from hippo.shared.sources.sqlquery import SqlQuerySettings, SqlQuerySource
from tests.conftest import wait_until
from tests.sources.conftest import (
    MYSQL_URL,
    POSTGRES_URL,
    PollerThread,
    create_queue,
    queue_fields,
    task_data,
)


@pytest.fixture(params=["postgresql", "mysql"])
def database(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str, str]]:
    """(connection, conn_string, table): a table of our own, dropped afterwards."""
    conn = request.getfixturevalue("postgres" if request.param == "postgresql" else "mysql")
    table = f"hippo_src_{uuid.uuid4().hex[:10]}"
    stamp = "TIMESTAMP" if request.param == "postgresql" else "DATETIME"
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} (id INTEGER, name VARCHAR(40), price DECIMAL(8,2), made {stamp})"
        )
    url = POSTGRES_URL if request.param == "postgresql" else MYSQL_URL
    yield conn, url, table
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")


def _insert(conn: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)", rows)


def _request(
    url: str, table: str, watermark: Any, limit: int = 100, filter_val: str = ""
) -> PollRequest[SqlQuerySettings]:
    settings = SqlQuerySettings(
        conn_string=url, query=f"SELECT * FROM {table};", filter_field="id", filter_val=filter_val
    )
    return PollRequest("q", settings, limit, watermark, 0.0, 0.0)


def _fetch(source: SqlQuerySource, request: PollRequest[SqlQuerySettings]) -> Fetched:
    return asyncio.run(source.fetch(request))


def test_rows_come_in_filter_order_as_json_with_dates_and_decimals_as_strings(
    database: tuple[Any, str, str],
) -> None:
    conn, url, table = database
    _insert(conn, table, [(2, "b", "2.50", "2024-01-02 03:04:05"), (1, "a", None, None)])
    fetched = _fetch(SqlQuerySource(), _request(url, table, None))
    assert [json.loads(i.data) for i in fetched.items] == [
        [1, "a", None, None],
        [2, "b", "2.50", "2024-01-02 03:04:05"],
    ]
    assert fetched.watermark["value"] == 2


def test_rows_without_a_filter_value_are_skipped_and_the_watermark_moves_on(
    database: tuple[Any, str, str],
) -> None:
    conn, url, table = database
    _insert(conn, table, [(None, "no id", None, None), (1, "a", None, None)])
    source = SqlQuerySource()
    first = _fetch(source, _request(url, table, None))
    assert [json.loads(i.data)[1] for i in first.items] == ["a"]
    assert first.watermark["value"] == 1
    _insert(conn, table, [(2, "b", None, None)])
    second = _fetch(source, _request(url, table, first.watermark))
    assert [json.loads(i.data)[1] for i in second.items] == ["b"]


def test_filter_val_and_watermark_are_bound_and_rows_sharing_a_value_are_not_split(
    database: tuple[Any, str, str],
) -> None:
    conn, url, table = database
    _insert(conn, table, [(i // 2, f"n{i}", "1", None) for i in range(10)])  # ids 0,0,1,1,...
    source = SqlQuerySource()
    taken: list[str] = []
    watermark = None
    for _ in range(10):
        fetched = _fetch(source, _request(url, table, watermark, limit=3, filter_val="0"))
        taken += [json.loads(i.data)[1] for i in fetched.items]
        watermark = fetched.watermark or watermark
    # id > 0, each row once (rows sharing an id come in any order)
    assert sorted(taken) == [f"n{i}" for i in range(2, 10)] and len(taken) == 8
    hostile = _request(url, table, None, filter_val="0 OR 1=1; DROP TABLE x")
    # Bound as a value, never spliced into the SQL: PostgreSQL refuses the text as an
    # integer; MySQL casts it to its leading number, 0, so rows with id > 0 come (8, where
    # `OR 1=1` would have given all 10).
    if url == POSTGRES_URL:
        with pytest.raises(SourceError, match="invalid input syntax for type integer"):
            _fetch(source, hostile)
    else:
        assert len(_fetch(source, hostile).items) == 8
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        assert cur.fetchone()[0] == 10


def test_sql_queue_makes_tasks_and_stores_the_watermark_with_them(
    api: TestClient,
    raw_redis: redis.Redis,
    database: tuple[Any, str, str],
    start_poller: Callable[..., PollerThread],
) -> None:
    conn, url, table = database
    _insert(conn, table, [(i, f"n{i}", "1.00", None) for i in range(1, 6)])
    queue_id = create_queue(
        api,
        "sqlquery",
        {
            "conn_string": url,
            "query": f"SELECT id, name FROM {table} WHERE name LIKE 'n%'",
            "filter_field": "id",
        },
    )
    start_poller()
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 5, what="5 tasks")
    _insert(conn, table, [(6, "n6", "1.00", None)])
    wait_until(lambda: len(task_data(raw_redis, queue_id)) == 6, what="the 6th")
    assert [json.loads(d) for d in task_data(raw_redis, queue_id)] == [
        [i, f"n{i}"] for i in range(1, 7)
    ]
    assert json.loads(queue_fields(raw_redis, queue_id)["poll_watermark"])["value"] == 6


def test_bad_query_and_bad_password_are_recorded_masked(
    api: TestClient,
    raw_redis: redis.Redis,
    postgres: Any,
    start_poller: Callable[..., PollerThread],
) -> None:
    bad_query = create_queue(
        api,
        "sqlquery",
        {
            "conn_string": POSTGRES_URL,
            "query": "SELECT * FROM no_such_table_hippo",
            "filter_field": "id",
        },
    )
    bad_host = create_queue(
        api,
        "sqlquery",
        {
            "conn_string": "jdbc:postgresql://someone:s3cret-pw@127.0.0.1:1/test",
            "query": "SELECT 1 AS id",
            "filter_field": "id",
        },
    )
    start_poller()
    for queue_id in (bad_query, bad_host):
        wait_until(
            lambda q=queue_id: "last_error" in queue_fields(raw_redis, q), what=f"{queue_id} error"
        )
    assert "no_such_table_hippo" in queue_fields(raw_redis, bad_query)["last_error"]
    assert "s3cret-pw" not in queue_fields(raw_redis, bad_host)["last_error"]
